"""Packs a BERT-family SPLARE model (splaredb SAE layout) and a token dump for encoding on a GPU machine.

The device tool sends at most 64 MiB per call, so the weights travel as float16 in two parts:
  OUT/a/weights.safetensors  the SAE encoder and the first half of the transformer blocks
  OUT/b/weights.safetensors  the other blocks (blocks: LoRA adapter merged first, in float32), the word
                             embeddings of the token ids the corpus uses (re-numbered), the position and
                             token-type embeddings and the embedding LayerNorm
  OUT/b/tokens.npz           the re-numbered ids (uint16), tokens per document, the pooling mask
  OUT/b/meta.json            splare.json's settings and the counts
Usage: python pack.py --model MODEL_DIR --tokens TOKENS_DIR --out OUT [--dtype float16|float32]
(TOKENS_DIR is written by `splaredb-topk tokens`.)
"""
import argparse
import json
import os

import numpy as np
from safetensors.numpy import load_file, save_file


def merge_lora(weights, adapter_dir):
    """Adds scale * B @ A (PEFT layout) to each adapted weight, in float32, as the library's encoder does."""
    config = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    scale = config["lora_alpha"] / config["r"]
    lora = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    merged = 0
    for key in lora:
        if not key.endswith(".lora_A.weight"):
            continue
        base = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight") + ".weight"
        a = lora[key].astype(np.float32)
        b = lora[key.replace("lora_A", "lora_B")].astype(np.float32)
        if base not in weights:
            raise SystemExit(f"adapter key {key}: no weight {base} in the backbone")
        weights[base] = weights[base].astype(np.float32) + scale * (b @ a)
        merged += 1
    return merged


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    args = p.parse_args()
    splare = json.load(open(os.path.join(args.model, "splare.json")))
    if splare["backbone"]["kind"] != "bert" or splare["sae"]["layout"] != "splaredb":
        raise SystemExit("only BERT backbones with a splaredb-layout SAE are packed")
    config = json.load(open(os.path.join(args.model, "config.json")))
    weights = load_file(os.path.join(args.model, "model.safetensors"))
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    merged = 0
    if splare.get("lora"):
        merged = merge_lora(weights, os.path.join(args.model, splare["lora"]))
    sae = load_file(os.path.join(args.model, splare["sae"]["path"]))
    if set(sae) - {"encoder.weight", "encoder.bias"}:
        raise SystemExit(f"unexpected SAE tensors {sorted(sae)}: only encoder.weight/bias are packed")
    if splare["sae"].get("input_norm", {"kind": "none"})["kind"] != "none":
        raise SystemExit("input_norm other than none is not packed")

    ids = np.fromfile(os.path.join(args.tokens, "ids.u32"), dtype="<u4")
    lengths = np.fromfile(os.path.join(args.tokens, "lengths.u32"), dtype="<u4")
    pool = np.fromfile(os.path.join(args.tokens, "pool.u8"), dtype=np.uint8)
    if lengths.sum() != len(ids) or len(pool) != len(ids):
        raise SystemExit("token dump: lengths, ids and pool disagree")
    used, remapped = np.unique(ids, return_inverse=True)
    if len(used) > 65536:
        raise SystemExit(f"{len(used)} distinct tokens do not fit uint16")
    dt = np.dtype(args.dtype)
    layer = splare["backbone"]["layer"]
    blocks = {k: v for k, v in weights.items() if k.startswith("encoder.layer.") and int(k.split(".")[2]) < layer}
    half = layer // 2
    part_a = {k: v.astype(dt) for k, v in blocks.items() if int(k.split(".")[2]) < half}
    part_a["sae.weight"] = sae["encoder.weight"].astype(dt)
    part_a["sae.bias"] = sae["encoder.bias"].astype(np.float32)
    part_b = {k: v.astype(dt) for k, v in blocks.items() if int(k.split(".")[2]) >= half}
    part_b.update({
        "embeddings.word": weights["embeddings.word_embeddings.weight"][used].astype(dt),
        "embeddings.position": weights["embeddings.position_embeddings.weight"].astype(np.float32),
        "embeddings.token_type": weights["embeddings.token_type_embeddings.weight"][:1].astype(np.float32),
        "embeddings.norm.weight": weights["embeddings.LayerNorm.weight"].astype(np.float32),
        "embeddings.norm.bias": weights["embeddings.LayerNorm.bias"].astype(np.float32),
    })
    for part in "ab":
        os.makedirs(os.path.join(args.out, part), exist_ok=True)
    save_file(part_a, os.path.join(args.out, "a", "weights.safetensors"))
    save_file(part_b, os.path.join(args.out, "b", "weights.safetensors"))
    np.savez_compressed(os.path.join(args.out, "b", "tokens.npz"),
                        ids=remapped.astype(np.uint16), lengths=lengths, pool=pool)
    meta = {
        "model": splare["name"], "layer": layer, "heads": config["num_attention_heads"],
        "hidden_act": config.get("hidden_act", "gelu"), "layer_norm_eps": config.get("layer_norm_eps", 1e-12),
        "activation": splare["sae"]["activation"], "top_k": splare["top_k"]["document"],
        "max_weight": splare["max_weight"], "dims": int(sae["encoder.bias"].shape[0]),
        "documents": int(len(lengths)), "tokens": int(len(ids)), "vocab_used": int(len(used)),
        "lora_merged": merged, "dtype": args.dtype,
    }
    json.dump(meta, open(os.path.join(args.out, "b", "meta.json"), "w"), indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
