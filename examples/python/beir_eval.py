"""BEIR-style evaluation with splaredb: index a BEIR-layout dataset (corpus.jsonl, queries.jsonl,
qrels/<split>.tsv), search every judged query, score the run with pytrec_eval.

    pip install ./bindings/python pytrec-eval-terrier
    python examples/python/beir_eval.py tests/fixtures/beir-mini            # the default model
    python examples/python/beir_eval.py data/debian/en-en --model splare-e5-small --db /tmp/en-en.splaredb

The database is kept (--db) and reused when it already holds the corpus. The numbers equal those of
`splaredb-eval run --system splaredb` on the same dataset (bindings/python/tests/test_parity.py checks it).
"""

import argparse
import csv
import json
import pathlib
import sys
import tempfile
import time

import splaredb


def read_queries(root: pathlib.Path) -> dict:
    queries = {}
    with open(root / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                queries[str(obj["_id"])] = obj["text"]
    return queries


def read_qrels(root: pathlib.Path, split: str) -> dict:
    qrels: dict = {}
    with open(root / "qrels" / f"{split}.tsv", encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows)  # header
        for qid, did, score in rows:
            qrels.setdefault(qid, {})[did] = int(score)
    # As BEIR's evaluation and splaredb-eval: queries with at least one relevant document.
    return {q: rels for q, rels in qrels.items() if any(g > 0 for g in rels.values())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=pathlib.Path)
    ap.add_argument("--model", default=splaredb.DEFAULT_MODEL, help="model name in the cache or directory")
    ap.add_argument("--split", default="test")
    ap.add_argument("--k", type=int, default=100, help="hits per query (nDCG@10 uses the first 10)")
    ap.add_argument("--db", type=pathlib.Path, help="database directory (default: a temporary one)")
    args = ap.parse_args()
    try:
        import pytrec_eval
    except ImportError:
        print("this example needs pytrec_eval: pip install pytrec-eval-terrier", file=sys.stderr)
        return 2

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory()
        args.db = pathlib.Path(tmp.name) / "db"
    with splaredb.open(args.db, model=args.model) as db:
        if len(db) == 0:
            report = db.import_jsonl(args.dataset / "corpus.jsonl", progress=True)
            print(f"indexed {report.documents} documents in {report.seconds:.1f} s", file=sys.stderr)
            db.compact()
        queries = read_queries(args.dataset)
        qrels = read_qrels(args.dataset, args.split)
        start = time.perf_counter()
        run = db.search_batch({q: queries[q] for q in qrels}, k=args.k)
        seconds = time.perf_counter() - start

    measures = {"ndcg_cut.10", "recip_rank", "recall.100"}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    mean = lambda m: sum(s[m] for s in per_query.values()) / len(per_query)  # noqa: E731
    print(f"dataset {args.dataset.name} split {args.split}: {len(qrels)} queries, model {args.model}")
    print(f"nDCG@10 {mean('ndcg_cut_10'):.4f}  MRR {mean('recip_rank'):.4f}  recall@100 {mean('recall_100'):.4f}")
    print(f"{seconds / len(qrels) * 1000:.1f} ms per query (encoding included)")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
