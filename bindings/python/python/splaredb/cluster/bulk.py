"""Export for engines that take sparse vectors over HTTP and cannot run here: OpenSearch and Elasticsearch.

``export_bulk`` writes the index body (settings and mapping, with splaredb's identity record in the mapping's
``_meta``) and the documents as ``_bulk`` NDJSON files, ready for ``curl``:

    curl -XPUT  host:9200/docs -H 'Content-Type: application/json' --data-binary @mapping.json
    curl -XPOST host:9200/_bulk -H 'Content-Type: application/x-ndjson' --data-binary @bulk-00000.ndjson

Latent ids become strings ("1234"), as those engines key sparse features by name. What each flavour keeps:

- ``opensearch`` (``rank_features``, searched with ``neural_sparse`` ``query_tokens``): exact scoring over
  weights kept to 9 significant bits (Lucene's feature fields), about 0.4% relative error.
- ``opensearch-seismic`` (``sparse_vector`` with the SEISMIC approximate index, OpenSearch 3.3+): weights
  quantized to a byte between 0 and the ingest ceiling (set to the model's maximum weight); approximate search
  once a segment holds ``approximate_threshold`` documents; latent ids must fit a non-negative Java int.
- ``elasticsearch`` (``sparse_vector``, searched with the ``sparse_vector`` query): 9 significant bits; token
  pruning is switched off in the mapping (``prune: false``) so scores stay exact.

Weights of zero, and positive weights below the smallest normal ``f32`` (1.2e-38), are left out: these engines
reject them and they add nothing to a score.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, NamedTuple, Optional, Union

import numpy as np

from .._database import Database
from ..errors import DimensionLimitError, InvalidOptionsError
from ._identity import CollectionIdentity

#: Flavours ``export_bulk`` writes.
FLAVORS = ("opensearch", "opensearch-seismic", "elasticsearch")
#: Largest latent id OpenSearch's ``sparse_vector`` takes (a non-negative Java int).
OPENSEARCH_SPARSE_MAX_ID = 2**31 - 1
_MIN_NORMAL = float(np.finfo(np.float32).tiny)


class ExportReport(NamedTuple):
    """What an export wrote."""

    documents: int
    files: List[str]
    mapping: str
    #: Weights left out (zero or subnormal).
    dropped_weights: int


def mapping(flavor: str, identity: CollectionIdentity, *, documents: Optional[int] = None) -> Dict[str, Any]:
    """The index body (``PUT /index``) for ``flavor``."""
    meta = {"splaredb": json.loads(identity.to_json())}
    text = {"type": "text"}
    props: Dict[str, Any] = {"key": {"type": "keyword"}, "text": text, "metadata": {"type": "object", "enabled": False}}
    body: Dict[str, Any] = {}
    if flavor == "opensearch":
        props["vector"] = {"type": "rank_features"}
    elif flavor == "opensearch-seismic":
        if identity.dims - 1 > OPENSEARCH_SPARSE_MAX_ID:
            raise DimensionLimitError(
                f"opensearch sparse_vector takes latent ids up to {OPENSEARCH_SPARSE_MAX_ID}; the model has "
                f"{identity.dims} latents"
            )
        params: Dict[str, Any] = {
            "cluster_ratio": 0.1,
            "summary_prune_ratio": 0.4,
            "approximate_threshold": 1_000_000,
            "quantization_ceiling_ingest": identity.max_weight,
            "quantization_ceiling_search": identity.max_weight,
        }
        if documents:
            # OpenSearch's default is 0.0005 × the segment's documents; SEISMIC's papers keep far more.
            params["n_postings"] = max(100, documents // 100)
        props["vector"] = {"type": "sparse_vector", "method": {"name": "seismic", "parameters": params}}
        body["settings"] = {"index": {"sparse": True}}
    elif flavor == "elasticsearch":
        props["vector"] = {"type": "sparse_vector", "index_options": {"prune": False}}
    else:
        raise InvalidOptionsError(f"unknown bulk flavour {flavor!r}; one of {', '.join(FLAVORS)}")
    body["mappings"] = {"_meta": meta, "properties": props}
    return body


def export_bulk(
    source: Database,
    out_dir: Union[str, "os.PathLike[str]"],
    *,
    flavor: str = "opensearch",
    index: str = "splaredb",
    docs_per_file: int = 10_000,
) -> ExportReport:
    """Writes ``mapping.json`` and ``bulk-NNNNN.ndjson`` files (``docs_per_file`` documents each) for the
    documents of a database (one committed snapshot of it). Files are written under a temporary name and renamed when complete."""
    if flavor not in FLAVORS:
        raise InvalidOptionsError(f"unknown bulk flavour {flavor!r}; one of {', '.join(FLAVORS)}")
    if docs_per_file < 1:
        raise ValueError("docs_per_file must be at least 1")
    if not isinstance(source, Database):
        raise TypeError(f"export_bulk takes a splaredb Database, not {type(source).__name__}")
    identity = CollectionIdentity.of_database(source)
    snap = source.snapshot()
    body = mapping(flavor, identity, documents=len(snap))
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    mapping_path = os.path.join(out, "mapping.json")
    _write_atomic(mapping_path, json.dumps(body, indent=2) + "\n")
    files: List[str] = []
    lines: List[str] = []
    count = dropped = 0
    action_name = "index"
    for doc in snap.documents():
        key = doc.key if isinstance(doc.key, str) else doc.key.decode("utf-8", "backslashreplace")
        ids, weights = doc.vector.indices, doc.vector.values
        keep = weights >= _MIN_NORMAL
        dropped += int(ids.size - int(keep.sum()))
        vector = {str(int(i)): float("%.9g" % w) for i, w in zip(ids[keep], weights[keep])}
        src: Dict[str, Any] = {"key": key, "vector": vector}
        if doc.text is not None:
            src["text"] = doc.text
        if doc.metadata is not None:
            src["metadata"] = doc.metadata
        lines.append(json.dumps({action_name: {"_index": index, "_id": key}}, ensure_ascii=False))
        lines.append(json.dumps(src, ensure_ascii=False, separators=(",", ":")))
        count += 1
        if count % docs_per_file == 0:
            files.append(_flush_file(out, len(files), lines))
            lines = []
    if lines or not files:
        files.append(_flush_file(out, len(files), lines))
    return ExportReport(count, files, mapping_path, dropped)


def _flush_file(out: str, n: int, lines: List[str]) -> str:
    path = os.path.join(out, f"bulk-{n:05}.ndjson")
    _write_atomic(path, "".join(line + "\n" for line in lines))
    return path


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
