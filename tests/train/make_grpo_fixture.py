"""Writes tests/train/fixtures/grpo_trl.json: TRL's GRPO loss, its metrics and d loss / d logp on
fixed inputs, for the C++ parity test (tests/train/test_grpo_loss.cpp, tag [grpo]).

Run once with a throwaway venv holding torch, transformers and trl (not the project venv):
    python3 -m venv /tmp/trlvenv && /tmp/trlvenv/bin/pip install torch transformers trl peft
    /tmp/trlvenv/bin/python tests/train/make_grpo_fixture.py
The versions of trl, transformers and torch used are written into the fixture (the committed one:
trl 1.16.0, transformers 5.25.0, torch 2.15.0+cu132 from PyPI, run on the CPU).

What runs is TRL's own code: a real GRPOTrainer (a tiny random Llama built here and a word-level
tokenizer, so nothing is downloaded), whose _compute_loss is called on fixed inputs. The only
thing replaced is the model forward: the instance's _get_per_token_logps_and_entropies returns the
fixed per-token log-probs (a leaf tensor that requires grad) and entropies, so the gradient of the
loss with respect to those log-probs comes out of TRL's autograd graph. Metrics are read from
trainer._metrics["train"]. Cases: each loss_type (grpo, bnpo, dr_grpo, dapo) with beta > 0 at the
first update (no old log-probs: ratio 1) and at a later update (old log-probs given, ratios away
from 1 so that both clip sides are active), with and without use_bias_correction_kl, plus
sequence-level importance sampling, delta, epsilon_high, gradient accumulation and beta 0.

Advantages (TRL _generate_and_score_completions) come from the same trainer: its reward function
returns fixed rewards, and the advantages it stores are recorded for scale_rewards group, batch and
none (groups with equal rewards and an unscorable (None) reward included).
"""
import json
import os
import tempfile

import torch
import transformers
import trl
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "grpo_trl.json")

torch.manual_seed(0)
B, T, P, G = 4, 6, 3, 2  # completions, completion tokens, prompt tokens, generations per prompt

# A word-level tokenizer over a few words: enough for GRPOTrainer to build.
WORDS = ["<pad>", "<eos>", "<unk>"] + [f"w{i}" for i in range(29)]
tok_model = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
tok_model.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok_model, pad_token="<pad>", eos_token="<eos>",
                                    unk_token="<unk>")
tokenizer.padding_side = "left"
MODEL = LlamaForCausalLM(LlamaConfig(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32,
                                     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                     max_position_embeddings=64, pad_token_id=0, eos_token_id=1, bos_token_id=1))
DATASET = Dataset.from_dict({"prompt": ["w3 w4 w5", "w6 w7 w8"] * 4})


def r32(t):
    """Values of a float32 tensor as Python floats (exact in JSON)."""
    return [[float(v) for v in row] for row in t.tolist()] if t.dim() == 2 else [float(v) for v in t.tolist()]


# Fixed inputs (float32, as TRL's trainer computes them). Row 3 has two padding tokens.
mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]], dtype=torch.int64)
logp = (-torch.rand(B, T) * 2.0 - 0.05).float()
ref = (logp + torch.randn(B, T) * 0.3).float()
# Later update: old log-probs away from logp, so that ratios fall below 0.8 and above 1.2.
old = (logp + torch.tensor([[0.5, -0.4, 0.05, 0.3, -0.25, 0.0],
                            [-0.3, 0.4, 0.1, -0.5, 0.2, 0.1],
                            [0.25, -0.35, 0.0, 0.45, -0.1, 0.3],
                            [-0.45, 0.3, -0.02, 0.6, 0.0, -0.2]])).float()
advantages = torch.tensor([0.9, -0.7, -1.1, 0.4], dtype=torch.float32)
entropies = (torch.rand(B, T) * 3.0).float()
completion_ids = torch.randint(3, len(WORDS), (B, T)) * mask
prompt_ids = torch.randint(3, len(WORDS), (B, P))


def make_trainer(tmp, reward_func=None, **kw):
    args = dict(output_dir=tmp, per_device_train_batch_size=B, num_generations=G, max_completion_length=T,
                use_cpu=True, report_to=[], logging_steps=1, save_strategy="no", bf16=False, fp16=False)
    args.update(kw)
    # A model path (not an object): with beta > 0 TRL loads its reference model from the same path.
    trainer = GRPOTrainer(model=MODEL_DIR, reward_funcs=reward_func or (lambda completions, **_: [0.0] * len(completions)),
                          args=GRPOConfig(**args), train_dataset=DATASET, processing_class=tokenizer)
    trainer.model.train()
    return trainer


def loss_case(tmp, name, cfg, with_old, num_items=None, grad_accum=1):
    trainer = make_trainer(tmp, **cfg)
    trainer.current_gradient_accumulation_steps = grad_accum
    lp = logp.clone().requires_grad_(True)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (lp, entropies, None)
    inputs = {"prompt_ids": prompt_ids, "prompt_mask": torch.ones_like(prompt_ids), "completion_ids": completion_ids,
              "completion_mask": mask, "advantages": advantages,
              "num_items_in_batch": torch.tensor(float(num_items if num_items is not None else mask.sum()))}
    if with_old:
        inputs["old_per_token_logps"] = old
    if cfg.get("beta", 0.0) != 0.0:
        inputs["ref_per_token_logps"] = ref
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items() if v}
    return {"name": name, "config": cfg, "old_logp": with_old, "grad_accum_steps": grad_accum,
            "num_items_in_batch": float(inputs["num_items_in_batch"]), "loss": float(loss),
            "metrics": metrics, "grad_logp": r32(lp.grad)}


def advantage_case(tmp, scale, rewards):
    """TRL's advantages for the given rewards (None: unscorable), through _generate_and_score_completions."""
    def reward_func(completions, **_):
        assert len(completions) == len(rewards)
        return list(rewards)

    trainer = make_trainer(tmp, reward_func=reward_func, scale_rewards=scale, per_device_train_batch_size=len(rewards),
                           num_generations=G * 2, max_completion_length=4)
    batch = [{"prompt": p} for p in ["w3 w4 w5"] * (G * 2) + ["w6 w7 w8"] * (G * 2)]
    out = trainer._generate_and_score_completions(batch)
    m = {k: v[-1] for k, v in trainer._metrics["train"].items()
         if k in ("reward", "reward_std", "frac_reward_zero_std") and v}
    return {"scale_rewards": scale, "num_generations": G * 2, "rewards": rewards,
            "advantages": [float(a) for a in out["advantages"].tolist()], "metrics": m}


cases = []
with tempfile.TemporaryDirectory() as tmp:
    MODEL_DIR = os.path.join(tmp, "tiny-llama")
    MODEL.save_pretrained(MODEL_DIR)
    tokenizer.save_pretrained(MODEL_DIR)
    beta = 0.04
    for lt in ["grpo", "bnpo", "dr_grpo", "dapo"]:
        for bias in [True, False]:
            cfg = dict(loss_type=lt, beta=beta, epsilon=0.2, use_bias_correction_kl=bias)
            tag = "bias_kl" if bias else "plain_kl"
            cases.append(loss_case(tmp, f"{lt}/first/{tag}", cfg, with_old=False))
            cases.append(loss_case(tmp, f"{lt}/later/{tag}", cfg, with_old=True))
    cases.append(loss_case(tmp, "grpo/later/sequence", dict(loss_type="grpo", beta=beta, epsilon=0.03,
                                                            importance_sampling_level="sequence"), with_old=True))
    cases.append(loss_case(tmp, "grpo/first/sequence", dict(loss_type="grpo", beta=beta,
                                                            importance_sampling_level="sequence"), with_old=False))
    cases.append(loss_case(tmp, "bnpo/later/delta_eps_high", dict(loss_type="bnpo", beta=beta, epsilon=0.2,
                                                                  epsilon_high=0.28, delta=1.3), with_old=True))
    cases.append(loss_case(tmp, "dr_grpo/later/beta0_accum2", dict(loss_type="dr_grpo", beta=0.0), with_old=True,
                           grad_accum=2))
    cases.append(loss_case(tmp, "dapo/later/global_count", dict(loss_type="dapo", beta=beta), with_old=True,
                           num_items=37))
    adv = []
    rewards = [0.9, 0.1, 0.4, 0.7, 0.5, 0.5, 0.5, 0.5]
    for scale in ["group", "batch", "none"]:
        adv.append(advantage_case(tmp, scale, rewards))
    adv.append(advantage_case(tmp, "group", [0.2, None, 0.8, 0.6, 1.0, 0.25, None, 0.0]))

fixture = {
    "made_by": "tests/train/make_grpo_fixture.py",
    "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
    "inputs": {"logp": r32(logp), "old_logp": r32(old), "ref_logp": r32(ref), "mask": mask.tolist(),
               "advantages": r32(advantages), "entropies": r32(entropies), "max_completion_length": T},
    "loss_cases": cases,
    "advantage_cases": adv,
}


def compact(x):
    """Floats to 9 significant digits (a float32 survives the round trip), to keep the file small."""
    if isinstance(x, float):
        return float("%.9g" % x)
    if isinstance(x, list):
        return [compact(v) for v in x]
    if isinstance(x, dict):
        return {k: compact(v) for k, v in x.items()}
    return x


with open(OUT, "w") as f:
    # One line per top-level entry and per case.
    f.write("{\n")
    items = list(compact(fixture).items())
    for i, (k, v) in enumerate(items):
        end = ",\n" if i + 1 < len(items) else "\n"
        if isinstance(v, list):
            f.write(f" {json.dumps(k)}: [\n" + ",\n".join("  " + json.dumps(c) for c in v) + "\n ]" + end)
        else:
            f.write(f" {json.dumps(k)}: {json.dumps(v)}" + end)
    f.write("}\n")
print(f"wrote {OUT}: {len(cases)} loss cases, {len(adv)} advantage cases, trl {trl.__version__}")
