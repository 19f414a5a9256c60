"""Encodes a packed token dump with a packed SPLARE model in PyTorch (CUDA when present) and writes the document
vectors as a splaredb-topk vector file (SPLRVEC1, see tools/topk-bench/src/vectors.rs).

It computes what the library's encoder computes for a BERT backbone with a splaredb-layout TopK SAE:
post-LN BERT blocks (absolute positions, token type 0, erf GELU) in float32, pre = h @ W_enc^T + b_enc on the
pooled tokens, TopK(k) then ReLU per token, u_j = log(1 + max_i w_ij) over the pooled tokens, clamped to
max_weight, then the document's top-k entries. Known differences from the library: the weights arrive as
float16 when packed so (the pack's meta.json says), and exact ties in a TopK selection are broken by
torch.topk instead of the lower latent id.

Usage: python encode.py --a PACK/a --b PACK/b --out FILE [--device cuda|cpu] [--limit N] [--tokens-per-batch T]
                        [--weights-f16]
"""
import argparse
import json
import math
import os
import struct
import time
import zlib

import numpy as np
import torch
from safetensors.torch import load_file


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


class Bert:
    def __init__(self, weights, meta, device):
        f32 = lambda t: t.to(device=device, dtype=torch.float32)  # noqa: E731
        self.w = {k: f32(v) for k, v in weights.items()}
        self.layers = meta["layer"]
        self.heads = meta["heads"]
        self.eps = meta["layer_norm_eps"]
        if meta["hidden_act"] not in ("gelu",):
            raise SystemExit(f"hidden_act {meta['hidden_act']} not supported here")

    def linear(self, x, name):
        return torch.nn.functional.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def forward(self, ids, mask):
        w, (b, n) = self.w, ids.shape
        x = w["embeddings.word"][ids] + w["embeddings.position"][:n].unsqueeze(0) + w["embeddings.token_type"][0]
        x = layer_norm(x, w["embeddings.norm.weight"], w["embeddings.norm.bias"], self.eps)
        hd = x.shape[-1] // self.heads
        bias = torch.zeros((b, 1, 1, n), device=x.device)
        bias.masked_fill_(~mask[:, None, None, :], torch.finfo(torch.float32).min)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            split = lambda t: t.view(b, n, self.heads, hd).transpose(1, 2)  # noqa: E731
            q, k, v = (split(self.linear(x, p + "attention.self." + m)) for m in ("query", "key", "value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + bias
            ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, -1)
            x = layer_norm(self.linear(ctx, p + "attention.output.dense") + x,
                           w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                           self.eps)
            inter = torch.nn.functional.gelu(self.linear(x, p + "intermediate.dense"))
            x = layer_norm(self.linear(inter, p + "output.dense") + x,
                           w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x


def batches(lengths, order, budget):
    """Groups documents (sorted by length) into batches of at most `budget` padded tokens."""
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end + 1 - start) * lengths[order[end]] <= budget:
            end += 1
        yield order[start:end]
        start = end


def write_vectors(path, dims, vectors):
    """SPLRVEC1: magic, u32 dims, u64 count, per vector u32 nnz + nnz u32 ids + nnz f32 weights, CRC32."""
    parts = [b"SPLRVEC1", struct.pack("<IQ", dims, len(vectors))]
    for ids, weights in vectors:
        parts += [struct.pack("<I", len(ids)), ids.astype("<u4").tobytes(), weights.astype("<f4").tobytes()]
    body = b"".join(parts)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(body)
        f.write(struct.pack("<I", zlib.crc32(body)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--limit", type=int, default=0, help="encode only the first N documents")
    p.add_argument("--tokens-per-batch", type=int, default=65536)
    p.add_argument("--weights-f16", action="store_true",
                   help="round the output weights to float16 precision (the file then compresses to about 60%%)")
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_grad_enabled(False)
    dev = torch.device(args.device)
    for d in (args.a, args.b):
        if not os.path.isdir(d):
            raise SystemExit(f"{d}: missing (pack part not present)")
    meta = json.load(open(os.path.join(args.b, "meta.json")))
    weights = load_file(os.path.join(args.a, "weights.safetensors"))
    weights.update(load_file(os.path.join(args.b, "weights.safetensors")))
    toks = np.load(os.path.join(args.b, "tokens.npz"))
    ids, lengths, pool = toks["ids"].astype(np.int64), toks["lengths"].astype(np.int64), toks["pool"].astype(bool)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    n_docs = len(lengths) if args.limit <= 0 else min(args.limit, len(lengths))
    act = meta["activation"]
    if act["kind"] != "topk":
        raise SystemExit(f"SAE activation {act} not supported here")
    k_sae, top_k, max_w, dims = act["k"], meta["top_k"], meta["max_weight"], meta["dims"]

    t0 = time.time()
    model = Bert(weights, meta, dev)
    w_sae = weights["sae.weight"].to(device=dev, dtype=torch.float32)
    b_sae = weights["sae.bias"].to(device=dev, dtype=torch.float32)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_load = time.time() - t0

    order = sorted(range(n_docs), key=lambda i: (lengths[i], i))
    vectors = [None] * n_docs
    t0 = time.time()
    done = 0
    for batch in batches(lengths, order, args.tokens_per_batch):
        n = int(max(lengths[i] for i in batch))
        tid = np.zeros((len(batch), n), dtype=np.int64)
        msk = np.zeros((len(batch), n), dtype=bool)
        pl = np.zeros((len(batch), n), dtype=bool)
        for r, i in enumerate(batch):
            s, e = starts[i], starts[i + 1]
            tid[r, : e - s], msk[r, : e - s], pl[r, : e - s] = ids[s:e], True, pool[s:e]
        h = model.forward(torch.from_numpy(tid).to(dev), torch.from_numpy(msk).to(dev))
        plt = torch.from_numpy(pl).to(dev)
        rows = h[plt]  # [pooled tokens, hidden]
        row_doc = torch.arange(len(batch), device=dev).unsqueeze(1).expand(-1, n)[plt]
        pooled = torch.zeros((len(batch), dims), device=dev)
        for c in range(0, rows.shape[0], 16384):
            pre = torch.nn.functional.linear(rows[c : c + 16384], w_sae, b_sae)
            vals, lat = pre.topk(k_sae, dim=1)
            vals = vals.clamp_min(0.0)
            flat = (row_doc[c : c + 16384].unsqueeze(1) * dims + lat).reshape(-1)
            pooled.view(-1).scatter_reduce_(0, flat, vals.reshape(-1), reduce="amax")
        pooled = pooled.log1p().clamp_max(max_w)
        kk = min(top_k, dims) if top_k > 0 else dims
        vals, lat = pooled.topk(kk, dim=1)
        vals, lat = vals.cpu().numpy(), lat.cpu().numpy()
        for r, i in enumerate(batch):
            keep = vals[r] > 0
            o = np.argsort(lat[r][keep], kind="stable")
            w = vals[r][keep][o]
            if args.weights_f16:
                w = w.astype(np.float16)
            vectors[i] = (lat[r][keep][o].astype(np.uint32), w.astype(np.float32))
        done += len(batch)
        if done // 5000 != (done - len(batch)) // 5000:
            print(f"  {done} / {n_docs} documents, {time.time() - t0:.1f} s", flush=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_encode = time.time() - t0
    write_vectors(args.out, dims, vectors)
    nnz = sum(len(v[0]) for v in vectors)
    report = {"documents": n_docs, "tokens": int(lengths[:n_docs].sum()), "nnz": nnz, "device": str(dev),
              "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
              "load_s": round(t_load, 2), "encode_s": round(t_encode, 2),
              "docs_per_s": round(n_docs / max(t_encode, 1e-9), 1), "pack_dtype": meta["dtype"]}
    print(json.dumps(report), flush=True)
    with open(args.out + ".json", "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
