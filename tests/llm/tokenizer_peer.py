"""Parity peer for the C++ byte-level BPE tokenizer: a Hugging Face `tokenizers` Tokenizer built
from the same GGUF vocabulary and merges (read with llama.cpp's `gguf` package).

  tokenizer_peer.py MODEL.gguf MODE < strings.json
  tokenizer_peer.py pretok PRE < strings.json

stdin:  a JSON list of strings.
stdout: a JSON list, one entry per string: the token ids (no BOS/EOS added), or for `pretok` the
        pieces (as plain text) that the pre-tokenizer for tokenizer.ggml.pre = PRE cuts it into.
MODE:   "special" - control and user-defined tokens are added tokens, recognised in the text
        "plain"   - no added tokens: the text is pre-tokenised and BPE-merged as it is

The pre-tokenizer follows tokenizer.ggml.pre, as in the models' tokenizer.json files:
  smollm (and starcoder, refact, codeshell, command-r): Digits(individual) then ByteLevel
  gpt2 / default: ByteLevel with its built-in regex
  llama3 / llama-bpe, qwen2: Split(regex, isolated) then ByteLevel without regex
"""
import json
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def field_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def field_ints(reader, key):
    f = reader.fields[key]
    return [int(f.parts[i][0]) for i in f.data]


def field_string(reader, key, default):
    f = reader.fields.get(key)
    if f is None:
        return default
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def pre_tokenizer(pre):
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in ("smollm", "starcoder", "refact", "codeshell", "command-r"):
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    if pre in ("llama3", "llama-bpe", "llama-v3"):
        regex = LLAMA3
    elif pre in ("qwen2", "qwen2.5"):
        regex = QWEN2
    else:
        return byte_level
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def unicode_to_bytes():
    """The inverse of GPT-2's byte-to-unicode table, written out from its definition."""
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    others = [b for b in range(256) if b not in printable]
    inv = {chr(b): b for b in printable}
    inv.update({chr(256 + k): b for k, b in enumerate(others)})
    return inv


def pretok(pre, texts):
    inv = unicode_to_bytes()
    p = pre_tokenizer(pre)
    return [[bytes(inv[c] for c in piece).decode("utf-8") for piece, _ in p.pre_tokenize_str(t)] for t in texts]


def build(path, mode):
    r = GGUFReader(path)
    tokens = field_strings(r, "tokenizer.ggml.tokens")
    types = field_ints(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field_strings(r, "tokenizer.ggml.merges")]
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    pre = field_string(r, "tokenizer.ggml.pre", "default")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False,
                               ignore_merges=pre in ("llama3", "llama-bpe", "llama-v3")))
    tok.pre_tokenizer = pre_tokenizer(pre)
    tok.decoder = decoders.ByteLevel()
    if mode == "special":
        special = [AddedToken(t, special=True, normalized=False)
                   for t, ty in zip(tokens, types) if ty == 3]
        user = [AddedToken(t, special=False, normalized=False)
                for t, ty in zip(tokens, types) if ty == 4]
        tok.add_special_tokens(special)
        if user:
            tok.add_tokens(user)
    return tok


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "pretok":
        json.dump(pretok(sys.argv[2], json.load(sys.stdin)), sys.stdout)
        return
    if len(sys.argv) != 3 or sys.argv[2] not in ("special", "plain"):
        sys.exit(__doc__)
    tok = build(sys.argv[1], sys.argv[2])
    texts = json.load(sys.stdin)
    out = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
