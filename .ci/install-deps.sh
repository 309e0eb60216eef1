#!/usr/bin/env bash
# Installs the Debian bookworm packages Ancat builds and tests with. Idempotent:
# packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build git
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libdnnl-dev ocl-icd-opencl-dev
  libsndfile1-dev libsoxr-dev libfftw3-dev libogg-dev libopus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libsentencepiece-dev sentencepiece
  python3 python3-numpy python3-torch python3-torchaudio python3-sentencepiece python3-pytest python3-matplotlib
  libopenblas0-serial
  sox
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
