#!/usr/bin/env bash
# The main job on an embedded default: set-up (if needed), build, then score the bundled sample
# set's demo predictions against its references (sandboxed renders, S_SSIM) and print the table.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
scripts/build.sh
OUT="${1:-runs/demo}"
build/manim-bench score --dataset samples --split test \
  --predictions data/samples/demo_predictions.jsonl --out "$OUT"
