#!/usr/bin/env python3
"""Peer of the CodeBLEU parity tests and bench/bench_codebleu: the `codebleu` package (0.7.0, with
tree-sitter 0.22.3 and tree-sitter-python 0.21.0), run with PYTHONHASHSEED=0 by the callers (the
package's data-flow score depends on Python's string-hash seed; see include/mtk/metrics/codebleu.hpp).

Reads one JSON object on stdin and writes one JSON value on stdout:
  {"mode": "score",  "pairs": [[ref, hyp], ...]}  -> [{"codebleu":..,"ngram_match_score":.., ...} | {"error": str}]
  {"mode": "corpus", "pairs": [[ref, hyp], ...]}  -> one score dict for calc_codebleu over all pairs
  {"mode": "remove", "codes": [code, ...]}        -> [text | null (tokenize raised)]
  {"mode": "setorder", "lists": [[str, ...], ...]} -> [list(set(x)), ...]
  {"mode": "hash", "strings": [str, ...]}          -> [hash(s), ...]
  {"mode": "dataflow", "codes": [...]}            -> [normalized data flow of each code]
  {"mode": "subtrees", "codes": [...]}            -> [[str(node) of each subtree], ...]
  {"mode": "bench", "pairs": [...], "repeat": k}  -> {"seconds": time of the scoring loop only, "pairs": n}
"""
import json
import sys
import time

from codebleu import calc_codebleu


def score(ref, hyp):
    try:
        return calc_codebleu([ref], [hyp], lang="python")
    except Exception as e:  # noqa: BLE001 - reported to the C++ side
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    req = json.load(sys.stdin)
    mode = req["mode"]
    if mode == "score":
        out = [score(r, h) for r, h in req["pairs"]]
    elif mode == "corpus":
        refs = [r for r, _ in req["pairs"]]
        hyps = [h for _, h in req["pairs"]]
        out = calc_codebleu(refs, hyps, lang="python")
    elif mode == "remove":
        from codebleu.parser import remove_comments_and_docstrings

        out = []
        for c in req["codes"]:
            try:
                out.append(remove_comments_and_docstrings(c, "python"))
            except Exception:  # noqa: BLE001
                out.append(None)
    elif mode == "setorder":
        out = [list(set(x)) for x in req["lists"]]
    elif mode == "hash":
        out = [hash(s) for s in req["strings"]]
    elif mode in ("dataflow", "subtrees"):
        from tree_sitter import Parser

        from codebleu.dataflow_match import get_data_flow, normalize_dataflow
        from codebleu.parser import DFG_python, remove_comments_and_docstrings
        from codebleu.utils import get_tree_sitter_language

        parser = Parser()
        parser.language = get_tree_sitter_language("python")
        out = []
        for c in req["codes"]:
            c = c.strip()
            try:
                c = remove_comments_and_docstrings(c, "python")
            except Exception:  # noqa: BLE001
                pass
            if mode == "dataflow":
                out.append(normalize_dataflow(get_data_flow(c, [parser, DFG_python])))
            else:
                root = parser.parse(bytes(c, "utf8")).root_node
                stack, subs = [root], []
                while stack:
                    n = stack.pop()
                    subs.append(str(n))
                    stack.extend(ch for ch in n.children if len(ch.children) != 0)
                out.append(subs)
    elif mode == "bench":
        pairs = req["pairs"]
        repeat = int(req.get("repeat", 1))
        calc_codebleu([pairs[0][0]], [pairs[0][1]], lang="python")  # warm-up (imports, grammar)
        t0 = time.perf_counter()
        for _ in range(repeat):
            for r, h in pairs:
                calc_codebleu([r], [h], lang="python")
        out = {"seconds": time.perf_counter() - t0, "pairs": len(pairs) * repeat}
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)  # the package warns on references without data flow
    main()
