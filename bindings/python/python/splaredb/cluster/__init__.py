"""splaredb beyond one machine: its encoder and model identity in front of cluster engines.

- :class:`MilvusIndex` and :class:`QdrantIndex` serve a collection with the calls of a splaredb database
  (``upsert_text``, ``delete``, ``get``, ``search_text``, ``search_batch``), encoding in the application with
  the collection's model, refusing another model.
- :func:`sync` copies a splaredb database into such a collection, incrementally and resumably
  (``python -m splaredb.cluster sync DB URI`` from a shell).
- :func:`export_bulk` writes OpenSearch/Elasticsearch ``_bulk`` files for engines without a local server.
- :mod:`splaredb.ray` encodes a corpus on a Ray cluster.

>>> from splaredb.cluster import MilvusIndex                       # doctest: +SKIP
>>> idx = MilvusIndex("./docs.db", "packages")                    # Milvus Lite; "http://host:19530" for a cluster
>>> idx.upsert_text("lz4", "compresses files with LZ4")
>>> idx.search_text("compress files", k=10)
"""

from __future__ import annotations

from typing import Any, Tuple

from ._base import DEFAULT_BATCH, RECORDED, ClusterIndex
from ._identity import CollectionIdentity, fingerprint
from .bulk import FLAVORS, ExportReport, export_bulk, mapping
from .milvus import MilvusIndex
from .qdrant import QdrantIndex
from .sync import SyncProgress, SyncReport, sync
from ..errors import InvalidOptionsError


def parse_uri(uri: str) -> Tuple[str, str]:
    """``(engine, address)`` of a target URI:

    - ``milvus://HOST:PORT`` (``milvus+https://`` for TLS): a Milvus server or cluster;
    - ``milvus-lite:PATH`` or a path ending in ``.db``: a Milvus Lite file;
    - ``qdrant-edge:PATH``: a Qdrant shard directory.
    """
    if uri.startswith("milvus://"):
        return "milvus", "http://" + uri[len("milvus://") :]
    if uri.startswith("milvus+https://"):
        return "milvus", "https://" + uri[len("milvus+https://") :]
    if uri.startswith("milvus+http://"):
        return "milvus", "http://" + uri[len("milvus+http://") :]
    if uri.startswith("milvus-lite:"):
        return "milvus", uri[len("milvus-lite:") :]
    if uri.startswith("qdrant-edge:"):
        return "qdrant", uri[len("qdrant-edge:") :]
    if uri.endswith(".db") and "://" not in uri:
        return "milvus", uri
    raise InvalidOptionsError(
        f"unknown target {uri!r}: use milvus://HOST:PORT, milvus-lite:FILE.db or qdrant-edge:DIR"
    )


def connect(uri: str, collection: str = "splaredb", **options: Any) -> ClusterIndex:
    """Opens the index a target URI names (see :func:`parse_uri`); ``options`` go to the index class
    (``model``, ``create``, ``identity``, ...). ``collection`` names the Milvus collection (a Qdrant shard is
    its directory)."""
    engine, address = parse_uri(uri)
    if engine == "milvus":
        return MilvusIndex(address, collection, **options)
    return QdrantIndex(address, **options)


def open_target(db: Any, uri: str, collection: str = "splaredb", **options: Any) -> ClusterIndex:
    """The index a sync of ``db`` writes to: opened without loading a model, created (when missing) with the
    database's identity, refused when it holds another model's vectors."""
    return connect(uri, collection, model=None, identity=CollectionIdentity.of_database(db), **options)


__all__ = [
    "ClusterIndex",
    "MilvusIndex",
    "QdrantIndex",
    "CollectionIdentity",
    "SyncReport",
    "SyncProgress",
    "ExportReport",
    "sync",
    "export_bulk",
    "mapping",
    "connect",
    "open_target",
    "parse_uri",
    "fingerprint",
    "FLAVORS",
    "RECORDED",
    "DEFAULT_BATCH",
]
