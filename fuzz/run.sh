#!/usr/bin/env bash
# Builds a reader fuzz target with libFuzzer + ASan + UBSan and runs it.
#   fuzz/run.sh [gguf|safetensors] [SECONDS] [extra libFuzzer flags...]   (default: gguf, 60 seconds)
# Not part of the normal build or CI. Outputs go to build-fuzz/ (git-ignored), for safetensors to
# build-fuzz/safetensors/: the binary, the seed corpus it generates (gguf: the first 64 KiB of each
# model under models/ plus small hand-built GGUF images; safetensors: hand-built files plus the first
# 64 KiB of the transformers fixtures), the growing corpus, and crash-* files for anything found.
# Needs clang++ with libFuzzer (Debian: clang-14 and libclang-rt-14-dev).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=gguf
case "${1:-}" in
  gguf|safetensors) TARGET="$1"; shift ;;
esac
OUT="$ROOT/build-fuzz"
[ "$TARGET" = gguf ] || OUT="$ROOT/build-fuzz/$TARGET"
SECONDS_TO_RUN="${1:-60}"
shift || true
log() { echo "[fuzz] $*"; }

CXX="${CXX_FUZZ:-}"
if [ -z "$CXX" ]; then
  for c in clang++ clang++-14 clang++-15 clang++-16; do
    if command -v "$c" >/dev/null; then CXX="$c"; break; fi
  done
fi
[ -n "$CXX" ] || { echo "fuzz/run.sh: clang++ not found (fix: apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
mkdir -p "$OUT/seeds" "$OUT/corpus" "$OUT/artifacts"

if [ "$TARGET" = gguf ]; then
  SRCS=("$ROOT/fuzz/gguf_fuzz.cpp" "$ROOT"/src/llm/gguf.cpp "$ROOT"/src/llm/quant.cpp "$ROOT"/src/llm/model_info.cpp
        "$ROOT/src/core/thread_pool.cpp" "$ROOT/src/core/fs.cpp")
else
  SRCS=("$ROOT/fuzz/safetensors_fuzz.cpp" "$ROOT"/src/llm/safetensors.cpp "$ROOT"/src/llm/quant.cpp
        "$ROOT/src/core/thread_pool.cpp")
fi
BIN="$OUT/${TARGET}_fuzz"
# src/core/fs.cpp includes the header CMake generates; a stand-in for this build:
mkdir -p "$OUT/generated/mtk"
printf '#pragma once\nnamespace mtk::build {\ninline constexpr const char* kVersion = "fuzz";\ninline constexpr const char* kSourceDir = "%s";\n}\n' \
  "$ROOT" > "$OUT/generated/mtk/build_info.hpp"
if [ ! -x "$BIN" ] || [ -n "$(find "${SRCS[@]}" "$ROOT/include/mtk/llm" -newer "$BIN" 2>/dev/null | head -1)" ]; then
  log "building $BIN with $CXX"
  "$CXX" -std=c++17 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$ROOT/include" -I"$OUT/generated" "${SRCS[@]}" -o "$BIN" -lpthread \
    || { echo "fuzz/run.sh: build failed (if -fsanitize=fuzzer is unknown: apt-get install libclang-rt-14-dev)" >&2; exit 1; }
fi

log "writing seeds to $OUT/seeds"
if [ "$TARGET" = safetensors ]; then
for m in "$ROOT"/tests/llm/fixtures/hf/*/model.safetensors; do
  [ -f "$m" ] && head -c 65536 "$m" > "$OUT/seeds/head-$(basename "$(dirname "$m")").safetensors"
done
python3 - "$OUT/seeds" "$OUT/safetensors.dict" <<'PY'
import json, struct, sys, os
out = sys.argv[1]
def st(tensors, meta=None, pad=True):
    h, data = {}, b""
    if meta is not None: h["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    hb = json.dumps(h, separators=(",", ":")).encode()
    if pad: hb += b" " * ((-len(hb)) % 8)
    return struct.pack("<Q", len(hb)) + hb + data
sizes = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
         "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
for dt, n in sizes.items():
    raw = bytes((i * 37 + 11) & 0xFF for i in range(6 * n))
    open(os.path.join(out, f"dtype-{dt}.safetensors"), "wb").write(
        st([("w", dt, [2, 3], raw), ("s", "F32", [], struct.pack("<f", 1.5))], {"format": "pt"}))
open(os.path.join(out, "empty.safetensors"), "wb").write(st([]))
open(os.path.join(out, "zero.safetensors"), "wb").write(st([("z", "F16", [0, 4], b""), ("a", "BF16", [1], b"\x80\x3f")], None, False))
open(os.path.join(out, "multi.safetensors"), "wb").write(st([(f"model.layers.{i}.w", "F16", [4], bytes(8)) for i in range(6)]))
words = ["dtype", "shape", "data_offsets", "__metadata__", "format", "pt"] + list(sizes)
open(sys.argv[2], "w").write("".join(f'"{w}"\n' for w in words) + '"\\\\u0000"\n"18446744073709551615"\n')
PY
else
for m in "$ROOT"/models/*.gguf; do
  [ -f "$m" ] && head -c 65536 "$m" > "$OUT/seeds/head-$(basename "$m")"
done
python3 - "$OUT/seeds" <<'PY'
import struct, sys, os
out = sys.argv[1]
def s(x): x = x.encode() if isinstance(x, str) else x; return struct.pack("<Q", len(x)) + x
def kv(k, t, v): return s(k) + struct.pack("<I", t) + v
def arr(et, elems): return struct.pack("<IQ", et, len(elems)) + b"".join(elems)
def gguf(kvs, tensors, version=3, align=32):
    h = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    off, infos, datas = 0, b"", []
    for name, dims, typ, data in tensors:
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", typ, off)
        datas.append((off, data)); off = (off + len(data) + align - 1) // align * align
    b = h + infos
    b += b"\0" * ((-len(b)) % align)
    base = len(b)
    for o, d in datas:
        b += b"\0" * (base + o - len(b)) + d
    return b
common = [kv("general.architecture", 8, s("llama")), kv("llama.context_length", 4, struct.pack("<I", 2048)),
          kv("llama.rope.freq_base", 6, struct.pack("<f", 1e4)), kv("t.b", 7, b"\1"),
          kv("t.i64", 11, struct.pack("<q", -5)), kv("t.f64", 12, struct.pack("<d", 0.5)),
          kv("tokenizer.ggml.tokens", 9, arr(8, [s("a"), s("bc")])),
          kv("t.nested", 9, arr(9, [arr(0, [b"\1", b"\2"]), arr(8, [s("x")])]))]
blocks = {  # type id: (elements per block, bytes per block)
    0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292)}
for t, (bs, ts) in blocks.items():
    n = max(bs, 32)
    data = bytes((i * 37 + 11) & 0xFF for i in range(n // bs * ts))
    tensors = [("blk.0.w", [n], t, data), ("output_norm.weight", [4], 0, struct.pack("<4f", 1, 2, 3, 4))]
    open(os.path.join(out, f"type-{t}.gguf"), "wb").write(gguf(common, tensors))
open(os.path.join(out, "v2-align64.gguf"), "wb").write(
    gguf(common + [kv("general.alignment", 4, struct.pack("<I", 64))], [("w", [8, 2], 0, bytes(64))], 2, 64))
open(os.path.join(out, "empty.gguf"), "wb").write(gguf([], []))
PY
fi

log "running for ${SECONDS_TO_RUN}s on $(nproc) cores"
cd "$OUT/artifacts"
set +e
DICT=()
[ -f "$OUT/$TARGET.dict" ] && DICT=(-dict="$OUT/$TARGET.dict")
"$BIN" "$OUT/corpus" "$OUT/seeds" "${DICT[@]}" -max_total_time="$SECONDS_TO_RUN" -max_len=70000 -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 "$@" 2>&1 | tee "$OUT/last-run.log" | grep -E "^#|ERROR|SUMMARY|stat::|Done" | tail -25
rc=${PIPESTATUS[0]}
set -e
if ls "$OUT"/artifacts/crash-* "$OUT"/artifacts/leak-* "$OUT"/artifacts/timeout-* "$OUT"/artifacts/oom-* >/dev/null 2>&1; then
  log "findings in $OUT/artifacts (full log: $OUT/last-run.log)"
fi
exit "$rc"
