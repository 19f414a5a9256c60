"""Qdrant as a splaredb index: a shard with one named sparse vector (u32 ids, f32 weights, exact search).

Built on ``qdrant-edge-py``, the real Qdrant engine embedded in the process (a shard directory, as a Qdrant
node keeps one). ``qdrant-client``'s local mode is a Python re-implementation and is not used.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from .._database import Hit
from .._encoder import Encoder
from .._vectors import SparseVector
from ..errors import (
    CollectionFormatError,
    EngineError,
    EngineUnavailableError,
)
from ._base import RECORDED, ClusterIndex, Row
from ._identity import CollectionIdentity

#: Point that holds the identity record (version-0 UUIDs never collide with keys' version-5 UUIDs).
IDENTITY_ID = str(uuid.UUID(int=1))
#: Point that holds the sync record.
SYNC_ID = str(uuid.UUID(int=2))
#: Namespace of the UUIDs derived from keys.
KEY_NAMESPACE = uuid.UUID("5e1a7ed6-0b2c-4c55-9d0e-73706c617265")


def point_id(key: str) -> str:
    """The Qdrant point id of a key (a UUID5 of the key: Qdrant ids are integers or UUIDs)."""
    return str(uuid.uuid5(KEY_NAMESPACE, key))


def _edge() -> Any:
    try:
        import qdrant_edge
    except ImportError as e:
        raise EngineUnavailableError(
            f"qdrant: the qdrant-edge-py package is not installed ({e}); pip install qdrant-edge-py"
        ) from None
    return qdrant_edge


class QdrantIndex(ClusterIndex):
    """A Qdrant shard (directory ``path``) as a splaredb index (see :class:`splaredb.cluster.ClusterIndex` for the
    calls). ``model`` as in :class:`splaredb.cluster.MilvusIndex`.

    A point per document: id = UUID5 of the key, the sparse vector under ``vector_name``, the payload
    ``{key, text, metadata, fp}`` (``text``/``metadata`` left out when the document has none). The identity and
    sync records are two points without vectors (never search hits).
    """

    engine = "qdrant"
    max_latent = 2**32 - 1

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        model: Union[str, Encoder, None] = RECORDED,
        create: bool = True,
        dims: Optional[int] = None,
        max_weight: Optional[float] = None,
        identity: Optional[CollectionIdentity] = None,
        vector_name: str = "splaredb",
    ) -> None:
        q = _edge()
        path = os.fspath(path)
        where = f"qdrant shard {path}"
        self._q = q
        self._vector = vector_name
        exists = os.path.exists(os.path.join(path, "edge_config.json"))
        if exists:
            try:
                self._shard = q.EdgeShard.load(path)
            except Exception as e:  # noqa: BLE001
                raise EngineUnavailableError(f"{where}: cannot open: {e}") from e
        recorded, encoder = self._settle(
            self._read_identity(where) if exists else None, model, identity, create, dims, max_weight, where
        )
        if not exists:
            config = q.EdgeConfig(sparse_vectors={vector_name: q.EdgeSparseVectorParams()})
            try:
                self._shard = q.EdgeShard.create(path, config)
            except Exception as e:  # noqa: BLE001
                raise EngineUnavailableError(f"{where}: cannot create: {e}") from e
            self._set_record(IDENTITY_ID, {"splaredb_identity": recorded.to_json()}, where)
            self._call("flush", self._shard.flush, where=where)
        super().__init__(recorded, encoder, where)

    # --- the shard ----------------------------------------------------------------------------------------

    def _read_identity(self, where: str) -> CollectionIdentity:
        got = self._call("read identity", self._shard.retrieve, [IDENTITY_ID], with_payload=True, with_vector=False, where=where)
        payload = (got[0].payload or {}) if got else {}
        record = payload.get("splaredb_identity")
        if not isinstance(record, str):
            raise CollectionFormatError(
                f"{where} has no splaredb identity record: it was made by another tool, or its creation was "
                "interrupted; remove it or choose another path"
            )
        return CollectionIdentity.from_json(record, where)

    def _set_record(self, point: str, payload: Dict[str, Any], where: Optional[str] = None) -> None:
        op = self._q.UpdateOperation.upsert_points([self._q.Point(point, {}, payload)])
        self._call("write record", self._shard.update, op, where=where)

    def _call(self, op: str, fn: Any, *args: Any, where: Optional[str] = None, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every engine failure becomes a typed splaredb error
            raise EngineError(f"{where or self._where}: {op} failed: {e}") from e

    # --- engine calls -------------------------------------------------------------------------------------

    def _write(self, rows: List[Row]) -> None:
        q = self._q
        points = []
        for r in rows:
            payload: Dict[str, Any] = {"key": r.key, "fp": r.fp}
            if r.text is not None:
                payload["text"] = r.text
            if r.metadata is not None:
                payload["metadata"] = r.metadata
            vec = q.SparseVector(r.vector.indices.tolist(), r.vector.values.tolist())
            points.append(q.Point(point_id(r.key), {self._vector: vec}, payload))
        self._call("upsert", self._shard.update, q.UpdateOperation.upsert_points(points))

    def _delete(self, keys: List[str]) -> None:
        op = self._q.UpdateOperation.delete_points([point_id(k) for k in keys])
        self._call("delete", self._shard.update, op)

    def _get(self, keys: List[str]) -> List[Row]:
        got = self._call(
            "get", self._shard.retrieve, [point_id(k) for k in keys], with_payload=True, with_vector=True
        )
        return [self._parse(p.payload or {}, p.vector) for p in got if (p.payload or {}).get("key") is not None]

    def _parse(self, payload: Dict[str, Any], vectors: Any) -> Row:
        v = (vectors or {}).get(self._vector)
        ids = np.asarray(v.indices if v is not None else [], dtype="<u4")
        weights = np.asarray(v.values if v is not None else [], dtype="<f4")
        order = np.argsort(ids, kind="stable")
        return Row(
            payload["key"],
            SparseVector(ids[order], weights[order]),
            payload.get("text"),
            payload.get("metadata"),
            payload.get("fp", ""),
        )

    def _scan(self) -> Iterator[Tuple[str, str]]:
        offset = None
        while True:
            req = self._q.ScrollRequest(offset=offset, limit=2000, with_payload=["key", "fp"], with_vector=False)
            records, offset = self._call("scan", self._shard.scroll, req)
            for r in records:
                payload = r.payload or {}
                if "key" in payload:
                    yield payload["key"], payload.get("fp", "")
            if offset is None:
                break

    def _count(self) -> int:
        info = self._call("count", self._shard.info)
        reserved = len(self._call("count", self._shard.retrieve, [IDENTITY_ID, SYNC_ID], with_payload=False, with_vector=False))
        return int(info.points_count) - reserved

    def _search_raw(self, queries: List[SparseVector], k: int, with_documents: bool) -> List[List[Hit]]:
        q = self._q
        requests = [
            q.QueryRequest(
                limit=k,
                query=q.Query.Nearest(q.SparseVector(v.indices.tolist(), v.values.tolist()), using=self._vector),
                with_payload=True if with_documents else ["key"],
                with_vector=[self._vector] if with_documents else False,
            )
            for v in queries
        ]
        results = self._call("search", self._shard.query_batch, q.QueryBatchRequest(requests))
        out = []
        for points in results:
            hits = []
            for p in points:
                payload = p.payload or {}
                if with_documents:
                    r = self._parse(payload, p.vector)
                    hits.append(Hit(r.key, float(p.score), r.text, r.metadata, r.vector))
                else:
                    hits.append(Hit(payload["key"], float(p.score)))
            out.append(hits)
        return out

    def read_sync_state(self) -> Optional[Dict[str, Any]]:
        got = self._call("read sync state", self._shard.retrieve, [SYNC_ID], with_payload=True, with_vector=False)
        if not got:
            return None
        raw = (got[0].payload or {}).get("splaredb_sync")
        try:
            state = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            raise CollectionFormatError(f"{self._where}: the sync record is damaged") from None
        return state if isinstance(state, dict) else None

    def write_sync_state(self, state: Dict[str, Any]) -> None:
        self._set_record(SYNC_ID, {"splaredb_sync": json.dumps(state)})
        self._flush()

    def _flush(self) -> None:
        self._call("flush", self._shard.flush)

    def _close(self) -> None:
        try:
            self._shard.flush()
        finally:
            self._shard.close()
