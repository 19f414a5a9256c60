"""Encoding a corpus with splaredb's encoder on a Ray cluster.

Two ways in:

- :func:`encode_corpus` — documents in, a directory of vectors out, resumable: the corpus is cut into shards,
  one encoder per Ray actor encodes them, and each finished shard is written as a Parquet file
  (``part-NNNNN.parquet``: ``key``, ``text``, ``metadata``, ``indices`` list<uint32>, ``values``
  list<float32>) under a temporary name and renamed. ``identity.json`` records the model. A run that stops
  (Ctrl-C, a lost node) is resumed by running it again: finished shards are kept. :func:`load_encoded`
  bulk-loads the result into a splaredb database (the model checked), :func:`read_encoded` reads it back
  for a cluster engine (``index.upsert_documents(read_encoded(dir))``).
- :class:`SplareEncoder` — the ``map_batches`` class for a Ray Data pipeline of your own:
  ``ds.map_batches(SplareEncoder, fn_constructor_kwargs={"model": ...}, concurrency=4, batch_format="pyarrow")``
  adds ``indices`` and ``values`` columns.

Each actor loads the model once. With ``num_gpus`` the actor asks Ray for a GPU and the encoder runs on it (a
splaredb built with the ``cuda`` feature); on CPUs each actor's kernels use ``cpus_per_worker`` threads. Within a
shard (or a Ray batch) the encoder sorts texts by length and runs forward passes of at most 4,096 padded
tokens, so batches are sized by tokens, not by texts. Encoding does not depend on how texts are grouped: the
vectors are byte-identical to :class:`splaredb.Encoder` run directly (checked by the tests).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import _native
from ._database import Database, Document, _document_item
from ._encoder import Encoder
from ._vectors import SparseVector
from .errors import EngineError, EngineUnavailableError, InvalidOptionsError, ModelMismatchError

__all__ = ["SplareEncoder", "encode_corpus", "encode_dataset", "read_encoded", "load_encoded", "EncodeReport"]

IDENTITY_FILE = "identity.json"


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise EngineUnavailableError(f"ray is not installed ({e}); pip install 'ray[data]'") from None
    return ray


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError as e:
        raise EngineUnavailableError(f"pyarrow is not installed ({e}); pip install pyarrow") from None
    return pyarrow


def _identity_of(encoder: Encoder) -> Dict[str, Any]:
    return {
        "format": "splaredb-vectors",
        "version": 1,
        "model": dict(encoder.identity),
        "dims": encoder.dims,
        "max_weight": encoder.max_weight,
        "precision": encoder.precision,
        "splaredb": _native.__version__,
    }


def _encode(encoder: Encoder, texts: List[str], kind: str) -> Any:
    """``texts`` encoded as queries or documents (a :class:`splaredb.CsrMatrix`)."""
    return encoder.encode_queries(texts) if kind == "query" else encoder.encode_documents(texts)


def _csr_columns(encoder: Encoder, texts: List[str], kind: str) -> Tuple[Any, Any]:
    """``indices`` and ``values`` list arrays (Arrow) for ``texts``."""
    pa = _pa()
    m = _encode(encoder, texts, kind)
    offsets = pa.array(m.indptr.astype(np.int32))
    return (
        pa.ListArray.from_arrays(offsets, pa.array(m.indices, type=pa.uint32())),
        pa.ListArray.from_arrays(offsets, pa.array(m.data, type=pa.float32())),
    )


class SplareEncoder:
    """A Ray Data ``map_batches`` class: one encoder per actor, adding ``indices`` (list<uint32>) and ``values``
    (list<float32>) columns for the ``text_column`` of each batch (``batch_format="pyarrow"``).

    ``kind`` is ``"document"`` or ``"query"``. A blank text gives an empty vector.
    """

    def __init__(
        self,
        model: str = _native.DEFAULT_MODEL,
        *,
        kind: str = "document",
        text_column: str = "text",
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        if kind not in ("document", "query"):
            raise InvalidOptionsError(f"kind is 'document' or 'query', not {kind!r}")
        self.encoder = Encoder(model, device=device, precision=precision)
        self.kind = kind
        self.text_column = text_column

    def __call__(self, batch: Any) -> Any:
        pa = _pa()
        table = batch if isinstance(batch, pa.Table) else pa.table(batch)
        texts = [t if isinstance(t, str) else "" for t in table.column(self.text_column).to_pylist()]
        indices, values = _csr_columns(self.encoder, texts, self.kind)
        return table.append_column("indices", indices).append_column("values", values)


def encode_dataset(
    ds: Any,
    model: str = _native.DEFAULT_MODEL,
    *,
    num_workers: int = 1,
    batch_size: int = 64,
    cpus_per_worker: float = 1,
    num_gpus: float = 0,
    text_column: str = "text",
    kind: str = "document",
) -> Any:
    """``ds`` (a ``ray.data.Dataset`` with a text column) with ``indices`` and ``values`` added, encoded by
    ``num_workers`` actors."""
    ray = _ray()
    return ds.map_batches(
        SplareEncoder,
        fn_constructor_kwargs={"model": model, "kind": kind, "text_column": text_column},
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=num_workers),
        num_cpus=cpus_per_worker,
        num_gpus=num_gpus,
        runtime_env={"env_vars": {"RAYON_NUM_THREADS": str(max(1, int(cpus_per_worker)))}},
    )


class EncodeReport(NamedTuple):
    """What :func:`encode_corpus` did."""

    documents: int
    shards: int
    #: Shards found finished from an earlier run and kept.
    resumed: int
    seconds: float
    #: Documents per second over the shards encoded in this run.
    docs_per_second: float
    workers: int


class _Worker:
    """The actor: one encoder, shards in, CSR arrays out."""

    def __init__(self, model: str, device: str, precision: str, kind: str) -> None:
        self.encoder = Encoder(model, device=device, precision=precision)
        self.kind = kind

    def identity(self) -> Dict[str, Any]:
        return _identity_of(self.encoder)

    def encode(self, shard: int, texts: List[str]) -> Tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        m = _encode(self.encoder, texts, self.kind)
        return shard, m.indptr, m.indices, m.data


def _documents(source: Union[str, "os.PathLike[str]", Iterable[Any]]) -> List[Tuple[str, str, Any]]:
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        out = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                except ValueError as e:
                    raise InvalidOptionsError(f"{path}:{n}: not JSON ({e})") from None
                out.append(_doc(d, f"{path}:{n}"))
        return out
    return [_doc(d, f"document #{i}") for i, d in enumerate(source)]


def _doc(d: Any, where: str) -> Tuple[str, str, Any]:
    try:
        key, text, metadata = _document_item(d, where)
    except (TypeError, ValueError) as e:
        raise InvalidOptionsError(str(e)) from None
    if not isinstance(text, str):
        raise InvalidOptionsError(f"{where}: needs a 'text'")
    return str(key), text, metadata


def encode_corpus(
    documents: Union[str, "os.PathLike[str]", Iterable[Any]],
    out_dir: Union[str, "os.PathLike[str]"],
    model: str = _native.DEFAULT_MODEL,
    *,
    num_workers: int = 1,
    shard_size: int = 1024,
    cpus_per_worker: float = 1,
    num_gpus: float = 0,
    device: str = "auto",
    precision: str = "auto",
    kind: str = "document",
    progress: bool = False,
    address: Optional[str] = None,
) -> EncodeReport:
    """Encodes ``documents`` (a JSON Lines path of ``{"_id"|"id", "text", "title"?, "metadata"?}``, or an
    iterable of such dicts or ``(key, text[, metadata])`` tuples) on Ray into ``out_dir``; see the module
    documentation. Joins the running Ray cluster (``ray.init(address)``; a local one when none runs).

    Shards are cut in input order, so a rerun over the same input resumes; a rerun with another model or shard
    size is refused (:class:`splaredb.ModelMismatchError`, :class:`splaredb.InvalidOptionsError`).
    """
    ray = _ray()
    pa = _pa()
    import pyarrow.parquet as pq

    if num_workers < 1 or shard_size < 1:
        raise InvalidOptionsError("num_workers and shard_size must be at least 1")
    start = time.perf_counter()
    docs = _documents(documents)
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    shards = [docs[i : i + shard_size] for i in range(0, len(docs), shard_size)]
    todo = [s for s in range(len(shards)) if not os.path.exists(_part(out, s))]
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False)
    actor_cls = ray.remote(_Worker).options(
        num_cpus=cpus_per_worker,
        num_gpus=num_gpus,
        runtime_env={"env_vars": {"RAYON_NUM_THREADS": str(max(1, int(cpus_per_worker)))}},
    )
    workers = [actor_cls.remote(model, device, precision, kind) for _ in range(min(num_workers, max(1, len(todo))))]
    try:
        identity = ray.get(workers[0].identity.remote())
    except Exception as e:  # noqa: BLE001 - the actor's failure, with its own message
        raise EngineError(f"ray: the encoder actor failed to start: {e}") from e
    identity["shard_size"] = shard_size
    identity["kind"] = kind
    _check_or_write_identity(out, identity)
    encoded = 0
    t0 = time.perf_counter()
    pool = ray.util.ActorPool(workers)
    try:
        results = pool.map_unordered(
            lambda a, s: a.encode.remote(s, [t for _, t, _ in shards[s]]), todo
        )
        for shard, indptr, indices, values in results:
            rows = shards[shard]
            offsets = pa.array(indptr.astype(np.int32))
            table = pa.table(
                {
                    "key": pa.array([k for k, _, _ in rows], type=pa.string()),
                    "text": pa.array([t for _, t, _ in rows], type=pa.string()),
                    "metadata": pa.array(
                        [None if m is None else json.dumps(m) for _, _, m in rows], type=pa.string()
                    ),
                    "indices": pa.ListArray.from_arrays(offsets, pa.array(indices, type=pa.uint32())),
                    "values": pa.ListArray.from_arrays(offsets, pa.array(values, type=pa.float32())),
                }
            )
            tmp = _part(out, shard) + ".tmp"
            pq.write_table(table, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, _part(out, shard))
            encoded += len(rows)
            if progress:
                print(f"ray: shard {shard} done ({encoded} documents this run)", file=sys.stderr, flush=True)
    finally:
        for w in workers:
            ray.kill(w)
    elapsed = time.perf_counter() - t0
    return EncodeReport(
        len(docs),
        len(shards),
        len(shards) - len(todo),
        time.perf_counter() - start,
        encoded / elapsed if elapsed > 0 and encoded else 0.0,
        len(workers),
    )


def _part(out: str, shard: int) -> str:
    return os.path.join(out, f"part-{shard:05}.parquet")


def _check_or_write_identity(out: str, identity: Dict[str, Any]) -> None:
    path = os.path.join(out, IDENTITY_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        if old.get("model") != identity["model"] or old.get("dims") != identity["dims"]:
            raise ModelMismatchError(
                f"{out} holds vectors of model {old.get('model', {}).get('name')!r}, not "
                f"{identity['model']['name']!r}: use another directory"
            )
        for field in ("shard_size", "kind"):
            if old.get(field) != identity[field]:
                raise InvalidOptionsError(f"{out} was encoded with {field}={old.get(field)!r}, not {identity[field]!r}")
        return
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(identity, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_identity(out_dir: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """The ``identity.json`` of an encoded directory."""
    path = os.path.join(os.fspath(out_dir), IDENTITY_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return dict(json.load(f))
    except FileNotFoundError:
        raise InvalidOptionsError(f"{out_dir} holds no encoded vectors ({IDENTITY_FILE} missing)") from None


def read_encoded(out_dir: Union[str, "os.PathLike[str]"]) -> Iterator[Document]:
    """The encoded documents, shard by shard in input order."""
    import pyarrow.parquet as pq

    out = os.fspath(out_dir)
    read_identity(out)
    for name in sorted(n for n in os.listdir(out) if n.startswith("part-") and n.endswith(".parquet")):
        table = pq.read_table(os.path.join(out, name))
        keys = table.column("key").to_pylist()
        texts = table.column("text").to_pylist()
        metas = table.column("metadata").to_pylist()
        ind = table.column("indices").combine_chunks()
        val = table.column("values").combine_chunks()
        offsets = ind.offsets.to_numpy()
        flat_i = ind.values.to_numpy(zero_copy_only=False).astype("<u4")
        flat_v = val.values.to_numpy(zero_copy_only=False).astype("<f4")
        for r, key in enumerate(keys):
            a, b = int(offsets[r]), int(offsets[r + 1])
            meta = metas[r]
            yield Document(
                key, SparseVector(flat_i[a:b], flat_v[a:b]), texts[r], None if meta is None else json.loads(meta)
            )


def load_encoded(db: Database, out_dir: Union[str, "os.PathLike[str]"], *, batch_size: int = 4096) -> int:
    """Inserts (upserts) the encoded documents into ``db``, ``batch_size`` per transaction. The vectors must
    be of the database's model (:class:`splaredb.ModelMismatchError`). Returns the number loaded."""
    identity = read_identity(out_dir)
    if identity.get("kind") != "document":
        raise InvalidOptionsError(f"{out_dir} holds query vectors; a database stores documents")
    recorded = db.model
    if recorded is not None and recorded != identity.get("model"):
        raise ModelMismatchError(
            f"{out_dir} holds vectors of model {identity.get('model', {}).get('name')!r}; the database "
            f"{db.path} records {recorded.get('name')!r}"
        )
    if identity.get("dims") != db.dims:
        raise ModelMismatchError(f"{out_dir} holds vectors of dimension {identity.get('dims')}, the database {db.dims}")
    n = 0
    pending: List[Document] = []

    def commit() -> None:
        with db.transaction() as txn:
            for d in pending:
                txn.upsert(d.key, d.vector, d.text, d.metadata)
        pending.clear()

    for doc in read_encoded(out_dir):
        pending.append(doc)
        n += 1
        if len(pending) >= batch_size:
            commit()
    if pending:
        commit()
    return n

