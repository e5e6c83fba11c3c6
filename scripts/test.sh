#!/usr/bin/env bash
# The test command: set-up (if needed), build, run every test with CTest.
#   scripts/test.sh               all tests
#   scripts/test.sh -L unit       only one label (unit, integration, slow); args go to ctest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --test
scripts/build.sh
cd build
ctest --output-on-failure -j "${MTK_TEST_JOBS:-2}" "$@"
