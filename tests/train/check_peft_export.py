"""Documented check (run by hand): an adapter that manim-train exported loads in peft on the
Hugging Face side and generates what our runtime generates with it.

    /tmp/hfvenv/bin/python tests/train/check_peft_export.py runs/sft-smollm2-short/adapter [N_TOKENS]

transformers loads models/SmolLM2-135M-Instruct.Q4_1.gguf (dequantised to float32), peft's
PeftModel.from_pretrained loads the adapter directory (adapter_config.json +
adapter_model.safetensors) on it, and greedy continuations of a few prompts are compared, token
by token, with `build/manim-agent generate --adapter DIR --json` on the same GGUF, and with the
base alone (to show that the adapter changes them). Needs a Python with torch, transformers, gguf
and peft (a throwaway venv).
"""
import json
import os
import subprocess
import sys
import tempfile

import peft
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
AGENT = os.path.join(ROOT, os.environ.get("MTK_BUILD_DIR", "build"), "manim-agent")
PROMPTS = [
    "from manim import *\n\nclass BlueCircle(Scene):\n    def construct(self):\n",
    "from manim import *\n\nclass GraphOfSine(Scene):\n    def construct(self):\n        axes = Axes(",
    "<|im_start|>user\nAnimate a square turning into a circle.<|im_end|>\n<|im_start|>assistant\n",
]


def ours(prompt, n, adapter):
    cmd = [AGENT, "generate", "-m", GGUF, "-p", prompt, "-n", str(n), "-t", "0", "--json", "--ignore-eos"]
    if adapter:
        cmd += ["--adapter", adapter]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["tokens"]


def main():
    adapter = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    with tempfile.TemporaryDirectory() as d:
        os.symlink(GGUF, os.path.join(d, "model.gguf"))
        tok = AutoTokenizer.from_pretrained(d, gguf_file="model.gguf")
        base = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32).eval()
    model = peft.PeftModel.from_pretrained(base, adapter).eval()
    same = 0
    for p in PROMPTS:
        ids = tok(p, return_tensors="pt", add_special_tokens=False).input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=n, do_sample=False, min_new_tokens=n)
        theirs = out[0, ids.shape[1]:].tolist()
        mine = ours(p, n, adapter)
        plain = ours(p, n, "")
        agree = next((i for i, (a, b) in enumerate(zip(theirs, mine)) if a != b), min(len(theirs), len(mine)))
        print(f"prompt {PROMPTS.index(p)}: peft vs ours identical for {agree}/{n} tokens; "
              f"the base alone differs from the adapted output from token "
              f"{next((i for i, (a, b) in enumerate(zip(plain, mine)) if a != b), n)}")
        same += theirs == mine
    print(f"{same}/{len(PROMPTS)} greedy continuations identical (peft {peft.__version__}, "
          f"transformers on the dequantised GGUF)")


if __name__ == "__main__":
    main()
