"""Parity peer backed by llama.cpp (through llama-cpp-python): what llama.cpp does with a GGUF model.

  llamacpp_peer.py tokenize MODEL.gguf [--plain] [--add-special] < strings.json

Subcommands:
  tokenize   stdin: a JSON list of texts, each a string or {"hex": "..."} (raw bytes, e.g. text
             that is not valid UTF-8). stdout: a JSON list with, per string, the token ids llama.cpp
             gives: Llama(model_path, vocab_only=True).tokenize(text.encode(), add_bos=..., special=...).
             Default: special=True (control and user-defined tokens in the text become their ids) and
             no BOS/EOS; --plain: special=False (user-defined tokens are still matched, as llama.cpp
             does); --add-special: add BOS/EOS as the model's metadata says.
More subcommands (e.g. greedy generation, logits) can be added beside `tokenize`: each is a function
taking the parsed arguments, registered in main() with its own subparser.

llama.cpp's log output goes to stderr only when loading fails.
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile


@contextlib.contextmanager
def quiet_stderr():
    """Silences C-level writes to stderr (llama.cpp logs) unless the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load(model_path, vocab_only):
    import llama_cpp
    with quiet_stderr():
        return llama_cpp.Llama(model_path=model_path, vocab_only=vocab_only, verbose=False)


def cmd_tokenize(args):
    texts = json.load(sys.stdin)
    if not isinstance(texts, list):
        raise SystemExit("stdin must be a JSON list of strings or {\"hex\": ...} objects")
    data = []
    for t in texts:
        if isinstance(t, str):
            data.append(t.encode("utf-8"))
        elif isinstance(t, dict) and isinstance(t.get("hex"), str):
            data.append(bytes.fromhex(t["hex"]))
        else:
            raise SystemExit(f"not a string nor {{\"hex\": ...}}: {t!r}")
    llm = load(args.model, vocab_only=True)
    out = []
    with quiet_stderr():
        for d in data:
            out.append(llm.tokenize(d, add_bos=args.add_special, special=not args.plain))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tokenize", help="token ids of each string in a JSON list read from stdin")
    p.add_argument("model", help="GGUF model file")
    p.add_argument("--plain", action="store_true", help="special=False: control tokens in the text are plain text")
    p.add_argument("--add-special", action="store_true", help="add BOS/EOS as the model's metadata says")
    p.set_defaults(func=cmd_tokenize)

    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
