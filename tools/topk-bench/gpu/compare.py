"""Compares two vector files (SPLRVEC1) vector by vector over the vectors both have (the first N):
the overlap of their latent sets and the weight differences on shared latents. For checking an outside
encoding (encode.py) against the library's encoder (`splaredb-topk tokens --reference N`).

Usage: python compare.py REFERENCE.docs OTHER.docs
"""
import json
import struct
import sys
import zlib

import numpy as np


def load(path):
    data = open(path, "rb").read()
    body, crc = data[:-4], struct.unpack("<I", data[-4:])[0]
    if data[:8] != b"SPLRVEC1" or zlib.crc32(body) != crc:
        raise SystemExit(f"{path}: not a valid vector file")
    dims, count = struct.unpack("<IQ", body[8:20])
    at, out = 20, []
    for _ in range(count):
        (nnz,) = struct.unpack("<I", body[at : at + 4])
        ids = np.frombuffer(body, "<u4", nnz, at + 4)
        weights = np.frombuffer(body, "<f4", nnz, at + 4 + 4 * nnz)
        out.append((ids, weights))
        at += 4 + 8 * nnz
    return dims, out


def main():
    _, ref = load(sys.argv[1])
    _, other = load(sys.argv[2])
    n = min(len(ref), len(other))
    jac, diffs, rel, same = [], [], [], 0
    for (ia, wa), (ib, wb) in zip(ref[:n], other[:n]):
        sa, sb = set(ia.tolist()), set(ib.tolist())
        jac.append(len(sa & sb) / max(1, len(sa | sb)))
        same += sa == sb
        common = np.intersect1d(ia, ib)
        da = wa[np.searchsorted(ia, common)]
        db = wb[np.searchsorted(ib, common)]
        diffs.append(np.abs(da - db).max() if len(common) else 0.0)
        rel.append((np.abs(da - db) / np.maximum(da, 1e-6)).mean() if len(common) else 0.0)
    print(json.dumps({
        "vectors": n, "identical_latent_sets": same, "jaccard_mean": float(np.mean(jac)),
        "jaccard_min": float(np.min(jac)), "max_abs_weight_diff": float(np.max(diffs)),
        "mean_rel_weight_diff": float(np.mean(rel)),
    }))


if __name__ == "__main__":
    main()
