#!/usr/bin/env bash
# README command (2): install the Debian packages, configure and build everything (build/),
# then run the whole test suite. Idempotent; run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh

jobs=${ANCAT_JOBS:-2}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"

cd build
echo "== ctest: $(ctest -N | tail -n 1)"
ctest --output-on-failure -j"$jobs" --timeout 900
