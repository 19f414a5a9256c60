"""The scaling-out measurements of README "Scaling out" (issue 20), on a splaredb database built by splaredb-eval
(Debian en-en, 10% corpus, default model):

1. sync the database into Milvus (milvus-lite 2.5.1: the Milvus server binary) and Qdrant (qdrant-edge);
2. search every test query through MilvusIndex / QdrantIndex and splaredb, compare the top-10s and scores,
   and compute nDCG@10 for each (pytrec_eval);
3. 100 updates and 50 deletes on a copy of the database, incremental sync, equality check; a sync interrupted
   midway and restarted, equality check;
4. the corpus encoded through local Ray with 1 and 2 workers: throughput, and byte-identity with the vectors
   the database stored when it imported the corpus.

    python tools/cluster-bench/bench.py --db DB --dataset data/debian/en-en --work DIR [--skip-ray]

Prints one JSON report (also written to WORK/report.json). Resumes nothing: each run starts from fresh
collections in WORK.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time

import numpy as np

import splaredb
from splaredb.cluster import CollectionIdentity, MilvusIndex, QdrantIndex, fingerprint, sync


def load_qrels(dataset, split, keys):
    qrels = {}
    with open(os.path.join(dataset, "qrels", f"{split}.tsv")) as f:
        for row in csv.reader(f, delimiter="\t"):
            if not row or row[0] == "query-id":
                continue
            q, d, g = row[0].strip(), row[1].strip(), int(row[2])
            if d in keys:
                qrels.setdefault(q, {})[d] = g
    qrels = {q: v for q, v in qrels.items() if any(g > 0 for g in v.values())}
    queries = {}
    with open(os.path.join(dataset, "queries.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            if d["_id"] in qrels:
                queries[d["_id"]] = d["text"]
    return queries, qrels


def ndcg10(run, qrels):
    import pytrec_eval

    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"})
    per = ev.evaluate({q: {k: float(s) for k, s in r.items()} for q, r in run.items()})
    return float(np.mean([per[q]["ndcg_cut_10"] if q in per else 0.0 for q in qrels]))


def compare(name, run, exact, f32, qvecs, step):
    """Top-10 agreement of an engine's run with splaredb's exact (8-bit) and f32-rescored runs."""
    same_q = same_f32 = same_set = 0
    worst = 0.0
    outside = 0
    for q, hits in run.items():
        keys = list(hits)
        if keys == list(exact[q]):
            same_q += 1
        if set(keys) == set(exact[q]):
            same_set += 1
        if keys == list(f32[q]):
            same_f32 += 1
        bound = float(qvecs[q].values.sum()) * step / 2
        for k, s in hits.items():
            if k in exact[q]:
                d = abs(exact[q][k] - s)
                worst = max(worst, d / bound if bound else 0.0)
                if d > bound + 1e-5:
                    outside += 1
    return {
        "engine": name,
        "queries": len(run),
        "top10_equal_to_exact_8bit": same_q,
        "top10_same_set_as_exact_8bit": same_set,
        "top10_equal_to_f32_rescored": same_f32,
        "score_diff_over_quantization_bound_max": round(worst, 4),
        "scores_outside_bound": outside,
    }


def equal(db, index):
    want = {d.key: fingerprint(d.vector, d.text, d.metadata) for d in db.snapshot().documents()}
    got = dict(index.fingerprints())
    return got == want and len(index) == len(want)


def targets(work, ident, milvus_file, qdrant_dir):
    """(name, opener) of the two engines' collections for a sync of a database with identity ``ident``."""
    return [
        ("milvus", lambda: MilvusIndex(milvus_file, "debian", model=None, identity=ident)),
        ("qdrant", lambda: QdrantIndex(os.path.join(work, qdrant_dir), model=None, identity=ident)),
    ]


def timed(fn, *args, **kw):
    t = time.perf_counter()
    r = fn(*args, **kw)
    return r, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--work", required=True)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    args.db, args.dataset = os.path.abspath(args.db), os.path.abspath(args.dataset)
    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    report = {}
    os.chdir(work)  # Milvus Lite wants short file names

    db = splaredb.open(args.db, read_only=True, create=False)
    enc = db.encoder
    step = db.info()["max_weight"] / 255
    keys = set(db.snapshot().keys())
    queries, qrels = load_qrels(args.dataset, args.split, keys)
    report["corpus"] = {"documents": len(db), "queries": len(queries), "model": enc.name, "precision": enc.precision}
    qvecs = dict(zip(queries, enc.encode_queries(list(queries.values()))))
    report["max_query_weight"] = float(max(float(v.values.max()) for v in qvecs.values() if v.nnz))

    exact, t_exact = timed(db.search_batch, queries, k=10)
    # The f32 exact top-10: the 8-bit top-20 rescored at full precision, re-sorted, cut to 10.
    rescored = db.search_batch(queries, k=20, rescore=True)
    f32 = {q: dict(sorted(r.items(), key=lambda kv: (-kv[1], kv[0]))[:10]) for q, r in rescored.items()}
    report["splaredb"] = {"ndcg@10": round(ndcg10(exact, qrels), 4), "ndcg@10_f32_rescored": round(ndcg10(f32, qrels), 4), "search_seconds": round(t_exact, 2)}

    ident = CollectionIdentity.of_database(db)
    engines = {}
    for name, make in targets(work, ident, "bench.db", "qdrant"):
        idx = make()
        r, t_sync = timed(sync, db, idx, batch_size=512)
        idx.close()
        engines[name] = t_sync
        searcher = MilvusIndex("bench.db", "debian", model=enc) if name == "milvus" else QdrantIndex(os.path.join(work, "qdrant"), model=enc)
        run, t_search = timed(searcher.search_batch, queries, k=10)
        searcher.close()
        entry = compare(name, run, exact, f32, qvecs, step)
        entry.update({"ndcg@10": round(ndcg10(run, qrels), 4), "sync_seconds": round(t_sync, 1), "search_seconds": round(t_search, 2), "synced": r.upserted})
        report[name] = entry
        print(json.dumps(entry), flush=True)

    # Incremental sync: 100 updates and 50 deletes on a copy of the database.
    copy = os.path.join(work, "db-copy")
    db.close()
    shutil.copytree(args.db, copy)
    rw = splaredb.open(copy)
    docs = list(rw.snapshot().documents())
    rng = np.random.default_rng(20)
    picked = rng.choice(len(docs), 150, replace=False)
    with rw.transaction() as txn:
        for i in picked[:100]:
            d = docs[i]
            txn.upsert_text(d.key, d.text + " (updated)", metadata={"updated": True})
        for i in picked[100:]:
            txn.delete(docs[i].key)
    inc = {}
    for name, make in targets(work, ident, "bench.db", "qdrant"):
        idx = make()
        r, t = timed(sync, rw, idx, batch_size=512)
        inc[name] = {"upserted": r.upserted, "deleted": r.deleted, "unchanged": r.unchanged, "seconds": round(t, 2), "equal": equal(rw, idx)}
        r2, t2 = timed(sync, rw, idx)
        inc[name]["again_up_to_date"] = r2.up_to_date
        inc[name]["again_seconds"] = round(t2, 3)
        idx.close()
    report["incremental_sync"] = inc
    print(json.dumps(inc), flush=True)

    # Interrupted midway (after 6 batches of 512), then restarted, into fresh collections.
    inter = {}
    for name, make in targets(work, ident, "inter.db", "qdrant-inter"):
        idx = make()
        batches = []

        def stop(p):
            if p.phase == "upsert":
                batches.append(p.done)
                if len(batches) == 6:
                    raise KeyboardInterrupt

        try:
            sync(rw, idx, batch_size=512, progress=stop)
        except KeyboardInterrupt:
            pass
        landed = len(idx)
        r, t = timed(sync, rw, idx, batch_size=512)
        inter[name] = {"landed_before_interrupt": landed, "resumed_upserted": r.upserted, "unchanged": r.unchanged, "equal": equal(rw, idx)}
        idx.close()
    report["interrupted_sync"] = inter
    print(json.dumps(inter), flush=True)
    rw.close()

    if not args.skip_ray:
        import ray
        import splaredb.ray as sray

        db = splaredb.open(args.db, read_only=True, create=False)
        stored = {d.key: d for d in db.snapshot().documents()}
        corpus = [(k, d.text) for k, d in stored.items()]
        os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_report = {}
        for workers in (1, 2):
            out = os.path.join(work, f"ray-{workers}")
            r = sray.encode_corpus(corpus, out, enc.path, num_workers=workers, cpus_per_worker=2 / workers, shard_size=256)
            same = sum(
                1
                for d in sray.read_encoded(out)
                if d.vector.indices.tobytes() == stored[d.key].vector.indices.tobytes()
                and d.vector.values.tobytes() == stored[d.key].vector.values.tobytes()
            )
            ray_report[f"{workers}_workers"] = {"documents": r.documents, "docs_per_second": round(r.docs_per_second, 1), "seconds": round(r.seconds, 1), "byte_identical": same}
            print(json.dumps(ray_report), flush=True)
        ray.shutdown()
        report["ray"] = ray_report
        db.close()

    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.exit(main())
