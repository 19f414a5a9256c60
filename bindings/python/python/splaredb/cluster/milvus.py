"""Milvus as a splaredb index: a collection with a ``SPARSE_FLOAT_VECTOR`` field searched by inner product
through ``SPARSE_INVERTED_INDEX`` (exact at ``drop_ratio_search`` 0).

The same code serves Milvus Lite (``MilvusIndex("./docs.db")``: milvus-lite 2.5 runs the real Milvus server
binary on a local file) and a Milvus cluster (``MilvusIndex("http://host:19530")``).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from .._database import Hit
from .._encoder import Encoder
from .._vectors import SparseVector
from ..errors import (
    CollectionFormatError,
    DocumentTooLargeError,
    EngineError,
    EngineUnavailableError,
    InvalidOptionsError,
)
from ._base import RECORDED, ClusterIndex, Row
from ._identity import CollectionIdentity

#: Prefix of the collection description that holds the identity record.
DESCRIPTION_PREFIX = "splaredb "
#: Key of the row that holds the sync record (an empty vector: never a search hit).
SYNC_KEY = "\x1fsplaredb:sync"
#: Longest VARCHAR Milvus stores, in bytes: the text and the metadata JSON each.
MAX_VARCHAR = 65535
#: Largest ``limit`` of one Milvus search.
MAX_TOPK = 16384
_FIELDS = ["key", "vector", "text", "has_text", "metadata", "fp"]


def _client(uri: str, token: Optional[str], db_name: Optional[str], timeout: float) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError as e:
        raise EngineUnavailableError(
            f"milvus: the pymilvus package is not installed ({e}); pip install 'pymilvus>=2.5,<2.6' "
            "(and milvus-lite==2.5.1 for local files)"
        ) from None
    kwargs: Dict[str, Any] = {"timeout": timeout}
    if token:
        kwargs["token"] = token
    if db_name:
        kwargs["db_name"] = db_name
    try:
        with warnings.catch_warnings():
            # milvus-lite 2.5.1 imports pkg_resources, which warns of its own deprecation on every import.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            return MilvusClient(uri, **kwargs)
    except Exception as e:  # noqa: BLE001 - any failure to connect is "unreachable"
        raise EngineUnavailableError(f"milvus: cannot connect to {uri}: {e}") from e


class MilvusIndex(ClusterIndex):
    """A Milvus collection as a splaredb index (see :class:`splaredb.cluster.ClusterIndex` for the calls).

    ``uri`` is a Milvus Lite file (``"./docs.db"``; the name must be short, under 36 characters) or a server
    (``"http://host:19530"``). ``model`` as in :func:`splaredb.open`: left out, an existing collection loads the
    model it records and a new one uses the default model; a name, directory or :class:`splaredb.Encoder` is
    checked against the collection's record (:class:`splaredb.ModelMismatchError`); None opens it for
    application vectors only (a new collection then needs ``dims`` and ``max_weight``).

    Schema: ``key`` (VARCHAR primary key), ``vector`` (SPARSE_FLOAT_VECTOR, f32 weights), ``text``,
    ``has_text``, ``metadata`` (JSON text), ``fp`` (content fingerprint, for sync); the identity record is the
    collection description. Texts and metadata are limited to 65,535 bytes each (Milvus VARCHAR).
    """

    engine = "milvus"
    max_latent = 2**32 - 2
    max_text_bytes = MAX_VARCHAR

    def __init__(
        self,
        uri: str,
        collection: str = "splaredb",
        *,
        model: Union[str, Encoder, None] = RECORDED,
        create: bool = True,
        dims: Optional[int] = None,
        max_weight: Optional[float] = None,
        identity: Optional[CollectionIdentity] = None,
        token: Optional[str] = None,
        db_name: Optional[str] = None,
        timeout: float = 30.0,
        inverted_index_algo: str = "DAAT_MAXSCORE",
    ) -> None:
        if "://" not in uri:
            # Milvus Lite runs one server per file path string: a relative path would reach another
            # directory's server after a chdir.
            uri = os.path.abspath(uri)
        where = f"milvus {uri} collection {collection!r}"
        self._client = _client(uri, token, db_name, timeout)
        self._name = collection
        try:
            exists = self._client.has_collection(collection)
        except Exception as e:  # noqa: BLE001
            raise EngineUnavailableError(f"{where}: {e}") from e
        recorded, encoder = self._settle(
            self._read_identity(where) if exists else None, model, identity, create, dims, max_weight, where
        )
        if not exists:
            self._create(recorded, inverted_index_algo, where)
        super().__init__(recorded, encoder, where)

    # --- the collection -----------------------------------------------------------------------------------

    def _read_identity(self, where: str) -> CollectionIdentity:
        info = self._call("describe", self._client.describe_collection, self._name, where=where)
        description = info.get("description") or ""
        if not description.startswith(DESCRIPTION_PREFIX):
            raise CollectionFormatError(
                f"{where} was not made by splaredb (its description holds no identity record); drop it or "
                "choose another collection"
            )
        identity = CollectionIdentity.from_json(description[len(DESCRIPTION_PREFIX) :], where)
        names = {f["name"] for f in info.get("fields", [])}
        missing = [f for f in _FIELDS if f not in names]
        if missing:
            raise CollectionFormatError(f"{where} lacks the fields {missing} of a splaredb collection")
        return identity

    def _create(self, identity: CollectionIdentity, algo: str, where: str) -> None:
        from pymilvus import DataType

        c = self._client
        schema = c.create_schema(
            auto_id=False, enable_dynamic_field=False, description=DESCRIPTION_PREFIX + identity.to_json()
        )
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR)
        schema.add_field("vector", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("has_text", DataType.BOOL)
        schema.add_field("metadata", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("fp", DataType.VARCHAR, max_length=64)
        index = c.prepare_index_params()
        index.add_index(
            field_name="vector",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="IP",
            params={"inverted_index_algo": algo},
        )
        self._call(
            "create",
            c.create_collection,
            self._name,
            schema=schema,
            index_params=index,
            consistency_level="Strong",
            where=where,
        )

    def drop(self) -> None:
        """Deletes the collection and everything in it."""
        self._call("drop", self._client.drop_collection, self._name)
        self.close()

    # --- engine calls -------------------------------------------------------------------------------------

    def _call(self, op: str, fn: Any, *args: Any, where: Optional[str] = None, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every engine failure becomes a typed splaredb error
            place = where or self._where
            text = str(e)
            if "connect" in text.lower() or "unavailable" in text.lower():
                raise EngineUnavailableError(f"{place}: {op} failed: {text}") from e
            raise EngineError(f"{place}: {op} failed: {text}") from e

    def _check_metadata(self, key: str, metadata: Any) -> None:
        if metadata is not None:
            size = len(json.dumps(metadata).encode("utf-8"))
            if size > MAX_VARCHAR:
                raise DocumentTooLargeError(
                    f"{self._where}: the metadata of {key!r} is {size} bytes of JSON; Milvus stores at most "
                    f"{MAX_VARCHAR}"
                )

    def _write(self, rows: List[Row]) -> None:
        data = [
            {
                "key": r.key,
                "vector": dict(zip(r.vector.indices.tolist(), r.vector.values.tolist())),
                "text": r.text or "",
                "has_text": r.text is not None,
                "metadata": "" if r.metadata is None else json.dumps(r.metadata, separators=(",", ":")),
                "fp": r.fp,
            }
            for r in rows
        ]
        self._call("upsert", self._client.upsert, self._name, data)

    def _delete(self, keys: List[str]) -> None:
        self._call("delete", self._client.delete, self._name, ids=keys)

    def _get(self, keys: List[str]) -> List[Row]:
        if not keys:
            return []
        got = self._call("get", self._client.get, self._name, ids=keys, output_fields=_FIELDS)
        return [_row(r) for r in got]

    def _scan(self) -> Iterator[Tuple[str, str]]:
        # Milvus Lite cannot give an iterator a server timestamp; pymilvus warns and uses the client's, which is
        # what a scan of a Strong-consistency collection needs anyway.
        quiet = logging.getLogger("pymilvus.orm.iterator")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            it = self._call(
                "scan",
                self._client.query_iterator,
                self._name,
                batch_size=2000,
                filter='fp != ""',
                output_fields=["fp"],
            )
        finally:
            quiet.setLevel(level)
        try:
            while True:
                batch = self._call("scan", it.next)
                if not batch:
                    break
                for r in batch:
                    yield r["key"], r["fp"]
        finally:
            it.close()

    def _count(self) -> int:
        got = self._call(
            "count", self._client.query, self._name, filter='fp != ""', output_fields=["count(*)"]
        )
        return int(got[0]["count(*)"])

    def _search_raw(self, queries: List[SparseVector], k: int, with_documents: bool) -> List[List[Hit]]:
        if k > MAX_TOPK:
            raise InvalidOptionsError(f"{self._where}: k={k} is over Milvus's search limit {MAX_TOPK}")
        data = [dict(zip(q.indices.tolist(), q.values.tolist())) for q in queries]
        got = self._call(
            "search",
            self._client.search,
            self._name,
            data=data,
            anns_field="vector",
            limit=k,
            search_params={"metric_type": "IP", "params": {"drop_ratio_search": 0.0}},
            output_fields=_FIELDS if with_documents else [],
        )
        out = []
        for hits in got:
            row_hits = []
            for h in hits:
                if with_documents:
                    r = _row(h["entity"])
                    row_hits.append(Hit(r.key, float(h["distance"]), r.text, r.metadata, r.vector))
                else:
                    row_hits.append(Hit(h["id"], float(h["distance"])))
            out.append(row_hits)
        return out

    def read_sync_state(self) -> Optional[Dict[str, Any]]:
        got = self._call("read sync state", self._client.get, self._name, ids=[SYNC_KEY], output_fields=["metadata"])
        if not got:
            return None
        try:
            state = json.loads(got[0]["metadata"])
        except ValueError:
            raise CollectionFormatError(f"{self._where}: the sync record is damaged") from None
        return state if isinstance(state, dict) else None

    def write_sync_state(self, state: Dict[str, Any]) -> None:
        row = {"key": SYNC_KEY, "vector": {}, "text": "", "has_text": False, "metadata": json.dumps(state), "fp": ""}
        self._call("write sync state", self._client.upsert, self._name, [row])

    def _flush(self) -> None:
        self._call("flush", self._client.flush, self._name)

    def _close(self) -> None:
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing a dead connection is not an error
            pass


def _row(r: Dict[str, Any]) -> Row:
    vec = r.get("vector") or {}
    ids = sorted(vec)
    import numpy as np

    v = SparseVector(np.asarray(ids, dtype="<u4"), np.asarray([vec[i] for i in ids], dtype="<f4"))
    meta = r.get("metadata") or ""
    return Row(
        r["key"],
        v,
        r.get("text") if r.get("has_text") else None,
        json.loads(meta) if meta else None,
        r.get("fp", ""),
    )
