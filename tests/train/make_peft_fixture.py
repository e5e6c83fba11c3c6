"""Writes tests/train/fixtures/peft_sft/: 10 SFT steps of transformers + peft on the tiny random
Llama of tests/llm/fixtures/hf/llama, for the C++ trainer's loss-parity test (test_sft.cpp).

Run once with a throwaway venv holding torch, transformers and peft (not the project venv):
    /tmp/hfvenv/bin/python tests/train/make_peft_fixture.py
(made with torch 2.15.0, transformers 5.23.0, peft 0.21.2, CPU.)

The recipe is the C++ trainer's (src/train/sft.cpp) with shuffling off: LoRA r=8, alpha=16,
dropout 0 on q,k,v,o,gate,up,down; per step 2 sequences, loss = sum of the completion tokens'
cross-entropy / their count (prompt masked); clip_grad_norm_ 1.0; torch.optim.AdamW (lr 5e-3,
weight decay 0.01, betas 0.9/0.999, eps 1e-8); transformers' linear schedule with
ceil(0.1 * 10) = 1 warm-up step.

Files: adapter_init/ (the initial adapter, peft save_pretrained: A random, B zero), data.json
(sequences, prompt lengths, per-step loss, grad norm and learning rate), adapter_final/.
"""
import json
import math
import os

import peft
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "llm", "fixtures", "hf", "llama")
OUT = os.path.join(HERE, "fixtures", "peft_sft")

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
model = transformers.AutoModelForCausalLM.from_pretrained(BASE, torch_dtype=torch.float32, attn_implementation="eager")
cfg = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
model = peft.get_peft_model(model, cfg)
model.save_pretrained(os.path.join(OUT, "adapter_init"))

g = torch.Generator().manual_seed(1)
seqs, prompt_lens = [], []
for i in range(20):
    n = int(torch.randint(18, 40, (1,), generator=g))
    p = int(torch.randint(5, 14, (1,), generator=g))
    seqs.append(torch.randint(3, 128, (n,), generator=g).tolist())
    prompt_lens.append(p)

steps, per_step, lr = 10, 2, 5e-3
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8)
warm = math.ceil(0.1 * steps)
sched = transformers.get_linear_schedule_with_warmup(opt, warm, steps)
model.train()
losses, norms, lrs = [], [], []
for s in range(steps):
    batch = list(range(s * per_step, (s + 1) * per_step))
    count = sum(len(seqs[i]) - prompt_lens[i] for i in batch)
    opt.zero_grad()
    total = 0.0
    for i in batch:
        ids = torch.tensor([seqs[i]])
        logits = model(input_ids=ids).logits[0]
        p = prompt_lens[i]
        nll = torch.nn.functional.cross_entropy(logits[p - 1:-1], ids[0, p:], reduction="sum") / count
        nll.backward()
        total += nll.item()
    norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
    losses.append(total)
    norms.append(float(norm))
model.save_pretrained(os.path.join(OUT, "adapter_final"))
with open(os.path.join(OUT, "data.json"), "w") as f:
    json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
               "sequences": seqs, "prompt_lens": prompt_lens, "steps": steps, "per_step": per_step, "lr": lr,
               "losses": losses, "grad_norms": norms, "lrs": lrs}, f)
print(losses)
