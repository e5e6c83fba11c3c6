"""Parity peer for the tokenizer.json loader: writes a real tokenizer.json with the Hugging Face
`tokenizers` package, built from a GGUF vocabulary (read with llama.cpp's `gguf` package, through
the helpers of tokenizer_peer.py), then tokenizes a list of strings with it.

  tokenizer_json_peer.py MODEL.gguf VARIANT OUTDIR < strings.json

VARIANT picks the pre-tokenizer and what else the files hold (to cover the loader's paths):
  smollm  Digits(individual) + ByteLevel; no post-processor; tokenizer_config.json with
          bos_token / eos_token as strings
  llama3  Split(llama3 regex) + ByteLevel(use_regex=False), ignore_merges; post-processor
          Sequence[ByteLevel, TemplateProcessing "<|im_start|> $A"]; tokenizer_config.json with
          bos_token as an AddedToken object
  qwen2   Split(qwen2 regex) + ByteLevel(use_regex=False); merges rewritten in the older "a b"
          string form; post-processor TemplateProcessing "$A <|endoftext|>"; no tokenizer_config.json
Control (type 3) and user-defined (type 4) tokens become added tokens (special / not special).

stdin:  a JSON list of strings.
OUTDIR: receives tokenizer.json (and tokenizer_config.json).
stdout: {"with": [[ids], ...], "without": [[ids], ...]}: encode(s, add_special_tokens=True/False).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_peer as tp  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from tokenizers import AddedToken, Tokenizer, decoders, models, processors  # noqa: E402

VARIANTS = ("smollm", "llama3", "qwen2")


def build(path, variant):
    r = GGUFReader(path)
    tokens = tp.field_strings(r, "tokenizer.ggml.tokens")
    types = tp.field_ints(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in tp.field_strings(r, "tokenizer.ggml.merges")]
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False,
                               ignore_merges=variant == "llama3"))
    tok.pre_tokenizer = tp.pre_tokenizer(variant)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    user = [AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4]
    if user:
        tok.add_tokens(user)
    if variant == "llama3":
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|im_start|> $A", pair="<|im_start|> $A <|im_start|> $B",
                                          special_tokens=[("<|im_start|>", vocab["<|im_start|>"])]),
        ])
    elif variant == "qwen2":
        tok.post_processor = processors.TemplateProcessing(
            single="$A <|endoftext|>", pair="$A <|endoftext|> $B <|endoftext|>",
            special_tokens=[("<|endoftext|>", vocab["<|endoftext|>"])])
    return tok


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in VARIANTS:
        sys.exit(__doc__)
    path, variant, outdir = sys.argv[1:]
    tok = build(path, variant)
    tj = os.path.join(outdir, "tokenizer.json")
    tok.save(tj)
    if variant == "qwen2":  # the older serialization of merges: "left right" strings
        with open(tj, encoding="utf-8") as f:
            j = json.load(f)
        j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        with open(tj, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
        tok = Tokenizer.from_file(tj)
    if variant == "smollm":
        config = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    elif variant == "llama3":
        config = {"bos_token": {"content": "<|im_start|>", "lstrip": False, "normalized": False, "rstrip": False,
                                "single_word": False, "__type": "AddedToken"},
                  "eos_token": "<|endoftext|>", "add_bos_token": True}
    else:
        config = None
    if config is not None:
        with open(os.path.join(outdir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f)
    texts = json.load(sys.stdin)
    out = {"with": [tok.encode(t, add_special_tokens=True).ids for t in texts],
           "without": [tok.encode(t, add_special_tokens=False).ids for t in texts]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
