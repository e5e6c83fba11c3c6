"""Writes tests/train/fixtures/peft_smollm2/: a random peft LoRA adapter (r=2 on q_proj, k_proj
and v_proj of every layer) for SmolLM2-135M-Instruct as transformers loads our GGUF file
(models/SmolLM2-135M-Instruct.Q4_1.gguf, dequantised to float32), and the logits transformers +
peft compute with it. test_sft.cpp loads the adapter on our runtime's GGUF model and must give the
same logits: this checks the Hugging Face <-> GGUF q/k row order of the adapter (lora.hpp).

Run once with a throwaway venv holding torch, transformers, gguf and peft:
    /tmp/hfvenv/bin/python tests/train/make_peft_gguf_fixture.py
(made with torch 2.15.0, transformers 5.23.0, peft 0.21.2.)

Files: adapter/ (peft save_pretrained), adapted_logits.bin (the last position's logits with the
adapter, float32 little-endian), expected.json (input ids, max |adapted - base| logit change).
"""
import json
import os
import tempfile

import peft
import torch
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "fixtures", "peft_smollm2")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

torch.manual_seed(0)
with tempfile.TemporaryDirectory() as d:
    os.symlink(GGUF, os.path.join(d, "model.gguf"))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32).eval()
ids = torch.randint(100, 49000, (1, 24), generator=torch.Generator().manual_seed(3))
with torch.no_grad():
    base = model(ids).logits[0, -1]
cfg = peft.LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj"])
pm = peft.get_peft_model(model, cfg)
with torch.no_grad():
    for name, p in pm.named_parameters():
        if "lora_B" in name:
            p.copy_(torch.randn_like(p) * 0.3)
pm.eval()
with torch.no_grad():
    adapted = pm(ids).logits[0, -1]
pm.save_pretrained(os.path.join(OUT, "adapter"))
os.remove(os.path.join(OUT, "adapter", "README.md"))
print("max |adapted - base| =", float((adapted - base).abs().max()))
adapted.numpy().astype("<f4").tofile(os.path.join(OUT, "adapted_logits.bin"))
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump({"torch": torch.__version__, "peft": peft.__version__, "ids": ids[0].tolist(),
               "max_abs_change": float((adapted - base).abs().max()), "logits_file": "adapted_logits.bin"}, f)
