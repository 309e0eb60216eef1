#!/usr/bin/env bash
# Installs the peers ancat-bench compares against into client/bench/peers/.deps/ (ignored by
# git). Idempotent: what is already there is kept. Neither the build nor CI needs this.
#
#   onnxruntime   npm package onnxruntime-node (ships the native libonnxruntime.so; CPU only,
#                 so its postinstall download of CUDA binaries is skipped)
#   OpenBLAS      Debian's libopenblas0-openmp, unpacked (not installed): the torch peer runs
#                 with it on LD_LIBRARY_PATH. Debian's python3-torch calls libblas.so.3, which on
#                 a default install is the netlib reference BLAS (~7 GFLOP/s on one core here,
#                 against ~110 with OpenBLAS); measuring torch on it would be unfair to torch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deps=$here/.deps
ORT_VERSION=${ORT_VERSION:-1.30.0}
mkdir -p "$deps"

# --- onnxruntime-node
ort_pkg=$deps/node/node_modules/onnxruntime-node/package.json
if [ -f "$ort_pkg" ] && grep -q "\"version\": \"$ORT_VERSION\"" "$ort_pkg"; then
  echo "peers: onnxruntime-node $ORT_VERSION present"
else
  mkdir -p "$deps/node"
  [ -f "$deps/node/package.json" ] || echo '{"name": "ancat-bench-peers", "private": true}' > "$deps/node/package.json"
  echo "peers: npm install onnxruntime-node@$ORT_VERSION"
  (cd "$deps/node" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --silent \
     "onnxruntime-node@$ORT_VERSION")
fi
node -e "require('$deps/node/node_modules/onnxruntime-node')" \
  || { echo "peers: onnxruntime-node does not load" >&2; exit 1; }

# --- OpenBLAS for the torch peer
blas_dir=$deps/openblas/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ -f "$blas_dir/libblas.so.3" ]; then
  echo "peers: OpenBLAS present"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 777 "$tmp"   # apt downloads as its _apt user
  echo "peers: apt-get download libopenblas0-openmp"
  (cd "$tmp" && apt-get download -q libopenblas0-openmp >/dev/null)
  mkdir -p "$deps/openblas"
  dpkg -x "$tmp"/libopenblas0-openmp_*.deb "$deps/openblas"
fi
echo "peers: ready in $deps"
