"""Compares our float32 logits with Hugging Face transformers loading the same GGUF file (it
dequantises every tensor to float32) and with llama.cpp. Not part of the test suite: transformers
needs torch (a multi-GB download), so run it by hand in a throwaway venv:

  python3 -m venv /tmp/hfvenv && /tmp/hfvenv/bin/pip install torch transformers accelerate gguf numpy
  /tmp/hfvenv/bin/python tests/llm/hf_gguf_logits.py models/SmolLM2-135M-Instruct.Q4_1.gguf '[504, 3575, 282]'

It runs build/llm_logits for ours and, when .venv has llama_cpp, tests/llm/llamacpp_eval.py for
llama.cpp, and prints the max |difference| of each pair and the three argmaxes.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    path, ids = os.path.abspath(sys.argv[1]), json.loads(sys.argv[2])
    with tempfile.TemporaryDirectory() as d:
        os.symlink(path, os.path.join(d, "model.gguf"))
        m = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32).eval()
        with torch.no_grad():
            hf = m(torch.tensor([ids])).logits[0, -1].numpy()
    ours = np.array(json.loads(subprocess.check_output([os.path.join(ROOT, "build", "llm_logits"), path, json.dumps(ids)])),
                    dtype=np.float32)
    print(f"ours vs transformers: max |diff| {np.abs(ours - hf).max():.3g}; argmax {ours.argmax()} / {hf.argmax()}")
    venv_py = os.path.join(ROOT, ".venv", "bin", "python")
    peer = os.path.join(ROOT, "tests", "llm", "llamacpp_eval.py")
    try:
        out = subprocess.check_output([venv_py, peer, "logits", path], input=json.dumps([ids]).encode())
        lc = np.array(json.loads(out)[0], dtype=np.float32)[: ours.size]
        print(f"ours vs llama.cpp: {np.abs(ours - lc).max():.3g}; transformers vs llama.cpp: {np.abs(hf - lc).max():.3g}; "
              f"llama.cpp argmax {lc.argmax()}")
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"llama.cpp not compared: {e}")


if __name__ == "__main__":
    main()
