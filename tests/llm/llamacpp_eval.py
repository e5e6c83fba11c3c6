"""llama.cpp (llama-cpp-python) as the peer for the C++ model: logits, greedy continuations and
speed on the same GGUF file.

  llamacpp_eval.py logits MODEL.gguf  < prompts.json   -> [[float, ...], ...]
      last-position logits (float32 as printed by repr) of each prompt, given as a list of token-id
      lists (no BOS added here: the caller passes exactly the ids to evaluate)
  llamacpp_eval.py logits MODEL.gguf --lora ADAPTER.gguf < prompts.json
      the same with a LoRA adapter applied at scale 1 (llama_adapter_lora_init +
      llama_set_adapters_lora: what `llama-cli --lora ADAPTER.gguf` does)
  llamacpp_eval.py greedy MODEL.gguf N < prompts.json  -> [{"tokens": [id, ...], "margins": [...]}, ...]
      N greedy tokens after each prompt (argmax of the logits, end-of-generation tokens included:
      generation does not stop at them), and at each step the gap between the largest and the
      second-largest logit (how close the choice was)
  llamacpp_eval.py sysinfo                             -> {"system_info": "..."}
      llama_print_system_info(): the SIMD the installed llama.cpp was built for (AVX2, AVX512, ...)
  llamacpp_eval.py bench MODEL.gguf PROMPT_LEN NEW_TOKENS BATCH THREADS -> {"prefill_tok_s", ...}
      BATCH sequences of PROMPT_LEN tokens prefilled in one llama_decode call, then NEW_TOKENS
      greedy decode steps of BATCH tokens (one per sequence), with peak RSS in MiB

The evaluation runs with n_threads = n_threads_batch = THREADS (logits/greedy: one thread, or
$MTK_LLAMACPP_THREADS: one thread keeps their results independent of the machine, since ggml splits
single-token attention over 512 or more KV cells into one chunk per thread and sums the chunks in
float; and in a parallel test run more threads only spin against the other tests) and a context
large enough for the request; one llama_context per call.
"""
import ctypes
import json
import os
import resource
import sys
import time

import numpy as np
import llama_cpp as L


def load(path, n_ctx, n_seq=1, threads=None):
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(path.encode(), mp)
    if not model:
        raise SystemExit(f"llama.cpp could not load {path}")
    cp = L.llama_context_default_params()
    cp.n_ctx = n_ctx
    cp.n_batch = n_ctx
    cp.n_ubatch = min(n_ctx, 512)
    cp.n_seq_max = n_seq
    threads = threads or int(os.environ.get("MTK_LLAMACPP_THREADS", "1"))
    cp.n_threads = threads
    cp.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        raise SystemExit("llama.cpp could not create a context")
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    return model, ctx, n_vocab


def decode(ctx, entries, n_max):
    """entries: (token, pos, seq, want_logits) tuples, evaluated as one batch."""
    batch = L.llama_batch_init(max(n_max, len(entries)), 0, 8)
    try:
        for i, (tok, pos, seq, want) in enumerate(entries):
            batch.token[i] = tok
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = 1 if want else 0
        batch.n_tokens = len(entries)
        rc = L.llama_decode(ctx, batch)
        if rc != 0:
            raise SystemExit(f"llama_decode failed ({rc})")
    finally:
        L.llama_batch_free(batch)


def logits_at(ctx, i, n_vocab):
    ptr = L.llama_get_logits_ith(ctx, i)
    return np.ctypeslib.as_array(ptr, shape=(n_vocab,)).copy()


def clear(ctx):
    L.llama_memory_clear(L.llama_get_memory(ctx), True)


def cmd_logits(path, lora=None):
    prompts = json.load(sys.stdin)
    n_ctx = max(len(p) for p in prompts) + 8
    model, ctx, n_vocab = load(path, n_ctx)
    if lora:
        adapter = L.llama_adapter_lora_init(model, lora.encode())
        if not adapter:
            raise SystemExit(f"llama.cpp could not load the LoRA adapter {lora}")
        adapters = (ctypes.POINTER(ctypes.c_void_p) * 1)(adapter)
        scales = (ctypes.c_float * 1)(1.0)
        rc = L.llama_set_adapters_lora(ctx, adapters, 1, scales)
        if rc != 0:
            raise SystemExit(f"llama_set_adapters_lora failed ({rc})")
    out = []
    for p in prompts:
        clear(ctx)
        decode(ctx, [(t, i, 0, i == len(p) - 1) for i, t in enumerate(p)], len(p))
        out.append([float(x) for x in logits_at(ctx, -1, n_vocab)])
    json.dump(out, sys.stdout)


def cmd_greedy(path, n):
    prompts = json.load(sys.stdin)
    n_ctx = max(len(p) for p in prompts) + n + 8
    _, ctx, n_vocab = load(path, n_ctx)
    out = []
    for p in prompts:
        clear(ctx)
        decode(ctx, [(t, i, 0, i == len(p) - 1) for i, t in enumerate(p)], len(p))
        got, margins = [], []
        pos = len(p)
        for _ in range(n):
            lg = logits_at(ctx, -1, n_vocab)
            tok = int(np.argmax(lg))
            top2 = np.partition(lg, -2)[-2:]
            got.append(tok)
            margins.append(float(top2[1] - top2[0]))
            decode(ctx, [(tok, pos, 0, True)], 1)
            pos += 1
        out.append({"tokens": got, "margins": margins})
    json.dump(out, sys.stdout)


def cmd_bench(path, prompt_len, new_tokens, batch, threads):
    rng = np.random.default_rng(0)
    model, ctx, n_vocab = load(path, batch * (prompt_len + new_tokens) + 16, batch, threads)
    prompts = [[int(x) for x in rng.integers(100, min(n_vocab, 20000), prompt_len)] for _ in range(batch)]

    def run():
        clear(ctx)
        t0 = time.perf_counter()
        entries = []
        for s, p in enumerate(prompts):
            entries += [(t, i, s, i == len(p) - 1) for i, t in enumerate(p)]
        decode(ctx, entries, len(entries))
        t1 = time.perf_counter()
        last = [logits_at(ctx, (s + 1) * prompt_len - 1, n_vocab) for s in range(batch)]
        toks = [int(np.argmax(x)) for x in last]
        for step in range(new_tokens):
            decode(ctx, [(toks[s], prompt_len + step, s, True) for s in range(batch)], batch)
            toks = [int(np.argmax(logits_at(ctx, s, n_vocab))) for s in range(batch)]
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    run()  # warm-up
    pre, dec = min(run() for _ in range(2))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    json.dump({"prefill_s": pre, "decode_s": dec,
               "prefill_tok_s": batch * prompt_len / pre, "decode_tok_s": batch * new_tokens / dec,
               "peak_rss_mib": rss}, sys.stdout)


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "logits" and a[2] == "--lora":
        cmd_logits(a[1], a[3])
    elif len(a) >= 2 and a[0] == "logits":
        cmd_logits(a[1])
    elif len(a) >= 3 and a[0] == "greedy":
        cmd_greedy(a[1], int(a[2]))
    elif a == ["sysinfo"]:
        json.dump({"system_info": L.llama_print_system_info().decode()}, sys.stdout)
    elif len(a) >= 6 and a[0] == "bench":
        cmd_bench(a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]))
    else:
        raise SystemExit(__doc__)


@L.llama_log_callback
def _quiet(level, text, user_data):
    pass


if __name__ == "__main__":
    L.llama_log_set(_quiet, ctypes.c_void_p(0))
    main()
