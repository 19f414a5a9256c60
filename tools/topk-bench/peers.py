#!/usr/bin/env python3
"""Runs the approximate-search peers on splaredb's vector files: Seismic (``pyseismic-lsr``) and kANNolo
(``kannolo``), through their PyPI packages, and writes one JSON line per (system, build, search setting) in the
format of ``splaredb-topk run`` (``splaredb-topk table`` renders both).

Every system reads the same files: documents and queries as ``SPLRVEC1`` vector files, the exact top-k as the
truth file ``splaredb-topk truth`` writes. Each index is built with the threads ``RAYON_NUM_THREADS`` allows
(``run.sh`` sets the same number for every system) and searched one query at a time on one thread; recall@k is
against the exact float top-k. Latency is measured around each Python call, so it includes the binding's
overhead (a few microseconds).

    python peers.py --system seismic --docs D.docs --queries D.queries --truth D.truth --work DIR --out F.jsonl
"""

import argparse
import json
import os
import resource
import struct
import sys
import time
import zlib

import numpy as np


def load_vectors(path):
    """A SPLRVEC1 file as (dims, offsets, ids, weights); the trailing CRC32 is checked."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"SPLRVEC1":
        sys.exit(f"{path}: not a splaredb vector file")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        sys.exit(f"{path}: checksum mismatch")
    dims, count = struct.unpack_from("<IQ", data, 8)
    offsets = np.zeros(count + 1, dtype=np.int64)
    id_parts, weight_parts = [], []
    pos = 20
    for i in range(count):
        (nnz,) = struct.unpack_from("<I", data, pos)
        pos += 4
        id_parts.append(np.frombuffer(data, dtype="<u4", count=nnz, offset=pos))
        pos += 4 * nnz
        weight_parts.append(np.frombuffer(data, dtype="<f4", count=nnz, offset=pos))
        pos += 4 * nnz
        offsets[i + 1] = offsets[i] + nnz
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.uint32)
    weights = np.concatenate(weight_parts) if weight_parts else np.zeros(0, dtype=np.float32)
    return dims, offsets, ids, weights


def load_truth(path):
    with open(path, "rb") as f:
        data = f.read()
    k, n = struct.unpack_from("<II", data, 0)
    ids = np.frombuffer(data, dtype="<u4", count=k * n, offset=8).reshape(n, k)
    return [set(int(d) for d in row if d != 0xFFFFFFFF) for row in ids]


def recall(found, truth):
    per = [1.0 if not t else len(t & set(f)) / len(t) for f, t in zip(found, truth)]
    return sum(per) / max(1, len(per))


def latency(us):
    us = sorted(us)
    pick = lambda q: us[min(len(us) - 1, int(round(q * (len(us) - 1))))]
    return {"mean_us": sum(us) / len(us), "p50_us": pick(0.5), "p99_us": pick(0.99)}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_seismic_bin(path, offsets, ids, weights):
    """Seismic's inner binary format: u32 count, then per vector u32 nnz, nnz u32 components, nnz f32 values."""
    with open(path, "wb") as f:
        f.write(struct.pack("<I", len(offsets) - 1))
        for i in range(len(offsets) - 1):
            a, b = offsets[i], offsets[i + 1]
            f.write(struct.pack("<I", b - a))
            f.write(ids[a:b].astype("<u4").tobytes())
            f.write(weights[a:b].astype("<f4").tobytes())


def grid(text, cast):
    return [cast(x) for x in text.split(",") if x.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", choices=["seismic", "kannolo"], required=True)
    p.add_argument("--docs", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--work", required=True, help="directory for the peers' files")
    p.add_argument("--out", required=True, help="JSON lines are appended here")
    p.add_argument("--k", type=int, default=10)
    # Seismic: one build per n_postings (and κ-NN size), searched over query_cut × heap_factor (× n_knn).
    p.add_argument("--n-postings", default="2000")
    p.add_argument("--knn", default="0", help="κ-NN graph sizes to build (0: none; SeismicWave otherwise)")
    p.add_argument("--batched-indexing", type=int, default=0)
    p.add_argument("--query-cuts", default="5,10,20,40")
    p.add_argument("--heap-factors", default="0.7,0.9,1.0")
    # kANNolo: one build per (m, ef_construction), searched over ef_search.
    p.add_argument("--m", default="16")
    p.add_argument("--ef-construction", default="100")
    p.add_argument("--ef-search", default="40,80,160,320,640")
    a = p.parse_args()

    os.makedirs(a.work, exist_ok=True)
    dims, offsets, ids, weights = load_vectors(a.docs)
    _, q_offsets, q_ids, q_weights = load_vectors(a.queries)
    truth = load_truth(a.truth)
    queries = [
        (q_ids[q_offsets[i] : q_offsets[i + 1]], q_weights[q_offsets[i] : q_offsets[i + 1]])
        for i in range(len(q_offsets) - 1)
    ]
    num_docs, nnz = len(offsets) - 1, len(ids)
    threads = os.environ.get("RAYON_NUM_THREADS", "all cores")

    def emit(setting, found, us, index_bytes, build_seconds):
        line = {
            "system": a.system,
            "docs": a.docs,
            "num_docs": num_docs,
            "nnz": nnz,
            "queries": len(queries),
            "k": a.k,
            "setting": setting,
            "recall": recall(found, truth),
            "latency": latency(us),
            "index_bytes": index_bytes,
            "bytes_per_nnz": index_bytes / max(1, nnz),
            "build_seconds": build_seconds,
            "peak_rss_bytes": peak_rss_bytes(),
        }
        text = json.dumps(line)
        print(text, flush=True)
        with open(a.out, "a") as f:
            f.write(text + "\n")

    def measure(search):
        found, us = [], []
        for qi, qv in queries:
            start = time.perf_counter()
            hits = search(qi, qv)
            us.append((time.perf_counter() - start) * 1e6)
            found.append(hits)
        return found, us

    if a.system == "seismic":
        import seismic

        if dims > 65536:
            index_class = seismic.SeismicIndexRawLV
        else:
            index_class = seismic.SeismicIndexRaw
        data = os.path.join(a.work, "docs.seismic.bin")
        if not os.path.exists(data):
            write_seismic_bin(data + ".partial", offsets, ids, weights)
            os.replace(data + ".partial", data)
        for n_postings in grid(a.n_postings, int):
            for knn in grid(a.knn, int):
                start = time.perf_counter()
                kwargs = {"n_postings": n_postings, "nknn": knn}
                if a.batched_indexing:
                    kwargs["batched_indexing"] = a.batched_indexing
                index = index_class.build(data, **kwargs)
                build_seconds = time.perf_counter() - start
                saved = os.path.join(a.work, f"seismic-{n_postings}-{knn}.index")
                index.save(saved)
                index_bytes = sum(
                    os.path.getsize(os.path.join(a.work, f)) for f in os.listdir(a.work) if f.startswith(os.path.basename(saved))
                )
                for query_cut in grid(a.query_cuts, int):
                    for heap_factor in grid(a.heap_factors, float):
                        for n_knn in sorted({0, knn}):
                            search = lambda qi, qv: [
                                d
                                for _, d in index.search(
                                    qi.astype(np.int32), qv, a.k, query_cut, heap_factor, n_knn, True
                                )
                            ]
                            found, us = measure(search)
                            setting = (
                                f"{index_class.__name__} n_postings {n_postings}, query_cut {query_cut}, "
                                f"heap_factor {heap_factor}, κ-NN {knn}/{n_knn}, build threads {threads}"
                            )
                            emit(setting, found, us, index_bytes, build_seconds)
                del index
    else:
        import kannolo

        if dims > 65536:
            sys.exit("kannolo takes latent ids below 65,536")
        comps, vals = ids.astype(np.int32), weights.astype(np.float32)
        for m in grid(a.m, int):
            for efc in grid(a.ef_construction, int):
                start = time.perf_counter()
                index = kannolo.SparsePlainHNSW.build_from_arrays(comps, vals, offsets, m=m, ef_construction=efc)
                build_seconds = time.perf_counter() - start
                index_bytes = index.space_usage_bytes()
                for ef in grid(a.ef_search, int):
                    search = lambda qi, qv: [
                        int(d) for d in index.search(qi.astype(np.int32), qv, a.k, ef_search=ef)[1]
                    ]
                    found, us = measure(search)
                    setting = f"SparsePlainHNSW m {m}, ef_construction {efc}, ef_search {ef}, build threads {threads}"
                    emit(setting, found, us, index_bytes, build_seconds)
                del index


if __name__ == "__main__":
    main()
