#!/usr/bin/env bash
# Configure and build into build/ (Release, Ninja, ccache when present). Extra args go to cmake.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build build -j "${MTK_BUILD_JOBS:-$(nproc)}"
