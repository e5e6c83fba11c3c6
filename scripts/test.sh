#!/usr/bin/env bash
# The test command: set-up (if needed), build, run every test with CTest.
#   scripts/test.sh                    all tests
#   scripts/test.sh -R '^render:'      arguments go to ctest: here one module's tests
#   scripts/test.sh -E 'ManimBench'    everything but the slow ManimBench oracle run
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --test
scripts/build.sh
cd build
ctest --output-on-failure -j "${MTK_TEST_JOBS:-2}" "$@"
