"""The transformers + peft side of bench_train: LoRA training speed on the CPU for the same model
and the same tokenised examples.

    PYTHON bench/peft_train_peer.py < request.json > result.json

request: {"gguf": PATH, "threads": N, "r": 8, "alpha": 16, "targets": [...],
          "examples": [{"tokens": [...], "prompt_len": P}, ...]}
result:  {"forward_s", "train_s", "tokens", "peak_rss_mib", "torch", "transformers", "peft"}

transformers loads the GGUF dequantised to float32 (dense weights); peft puts LoRA on the target
projections; the loss is the summed cross-entropy of the completion tokens over the batch's
completion-token count, one example per forward pass, as manim-train sft computes it. Needs a
Python with torch, transformers, gguf and peft (a throwaway venv: not a project dependency).
"""
import json
import os
import resource
import sys
import tempfile
import time

import peft
import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    req = json.load(sys.stdin)
    torch.set_num_threads(int(req["threads"]))
    with tempfile.TemporaryDirectory() as d:
        os.symlink(os.path.abspath(req["gguf"]), os.path.join(d, "model.gguf"))
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32)
    cfg = peft.LoraConfig(r=int(req["r"]), lora_alpha=float(req["alpha"]), lora_dropout=0.0, bias="none",
                          task_type="CAUSAL_LM", target_modules=req["targets"])
    pm = peft.get_peft_model(model, cfg)
    pm.train()
    exs = [(torch.tensor(e["tokens"], dtype=torch.long), int(e["prompt_len"])) for e in req["examples"]]
    comp = sum(len(t) - p for t, p in exs)
    tokens = sum(len(t) for t, _ in exs)

    def nll(ids, p):
        logits = pm(ids[:-1].unsqueeze(0)).logits[0, p - 1:]
        return torch.nn.functional.cross_entropy(logits, ids[p:], reduction="sum")

    with torch.no_grad():
        nll(*exs[0])  # warm-up
        t0 = time.perf_counter()
        for ids, p in exs:
            nll(ids, p)
        fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    for ids, p in exs:
        (nll(ids, p) / comp).backward()
    train = time.perf_counter() - t0
    json.dump({"forward_s": fwd, "train_s": train, "tokens": tokens,
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
               "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
              sys.stdout)


if __name__ == "__main__":
    main()
