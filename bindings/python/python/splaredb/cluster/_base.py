"""What every cluster index does the same way: encoding with the collection's model, checking documents before
they are sent, batching, search over encoded queries. Engines implement the few ``_`` methods at the end."""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _native
from .._database import Document, Hit, Key, _document_item, _parse_queries
from .._encoder import Encoder
from .._vectors import SparseVector, VectorLike, _arrays
from ..errors import (
    ClosedError,
    CollectionNotFoundError,
    DimensionLimitError,
    DocumentTooLargeError,
    EmptyTextError,
    InvalidKeyError,
    InvalidVectorError,
    InvalidOptionsError,
    NoEncoderError,
    PartialWriteError,
)
from ._identity import CollectionIdentity, fingerprint

#: Passed as ``model`` (the default): an existing collection loads the model it records, a new one uses
#: ``splaredb.DEFAULT_MODEL``.
RECORDED = "<recorded>"

#: Documents per write request unless a call says otherwise.
DEFAULT_BATCH = 256


@dataclass(frozen=True)
class Row:
    """One document as it is sent to an engine: checked, with its fingerprint."""

    key: str
    vector: SparseVector
    text: Optional[str]
    metadata: Any
    fp: str


def _key_text(key: Key) -> str:
    if isinstance(key, bytes):
        try:
            key = key.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidKeyError(f"key {key!r} is not UTF-8: cluster engines take text keys") from None
    if not isinstance(key, str):
        raise TypeError(f"a key is str or bytes, not {type(key).__name__}")
    size = len(key.encode("utf-8"))
    if size == 0:
        raise InvalidKeyError("a key must not be empty")
    if size > _native.MAX_KEY_LEN:
        raise InvalidKeyError(f"key of {size} bytes exceeds {_native.MAX_KEY_LEN}")
    if key.startswith("\x1fsplaredb"):
        raise InvalidKeyError(f"key {key!r} is reserved for splaredb's own records")
    return key


class ClusterIndex(abc.ABC):
    """A collection of a cluster engine used as a splaredb index: the same calls as a splaredb database for
    what a cluster serves (``upsert_text``, ``delete``, ``get``, ``search_text``, ``search_batch``), with texts
    encoded here, in the application, by the collection's model.

    The collection records the model's identity, dimension and maximum weight when it is created; opening it
    with another model raises :class:`splaredb.ModelMismatchError`, as a splaredb database does. Writes are
    checked whole before anything is sent (keys, vectors against the dimension and maximum weight, sizes
    against the engine's limits); a write that fails after some batches landed raises
    :class:`splaredb.PartialWriteError` with the count that did.

    What the engine keeps and loses: no transactions (each batch is applied on its own, reads see writes once
    the engine has applied them), full ``f32`` weights (splaredb's own index searches 8-bit impacts), exact
    search at the settings used here.
    """

    #: The engine's name in messages (``milvus``, ``qdrant``).
    engine = "engine"
    #: Largest latent id the engine takes.
    max_latent = 2**32 - 2
    #: Longest text, in UTF-8 bytes, the engine stores (None: no limit below splaredb's).
    max_text_bytes: Optional[int] = None

    def __init__(self, identity: CollectionIdentity, encoder: Optional[Encoder], where: str) -> None:
        self._identity = identity
        self._encoder = encoder
        self._where = where
        self._closed = False
        # Set while a sync writes; any other write marks the sync record stale (once per handle).
        self._syncing = False
        self._marked_stale = False

    @classmethod
    def _settle(
        cls,
        recorded: Optional[CollectionIdentity],
        model: Union[str, Encoder, None],
        identity: Optional[CollectionIdentity],
        create: bool,
        dims: Optional[int],
        max_weight: Optional[float],
        where: str,
    ) -> Tuple[CollectionIdentity, Optional[Encoder]]:
        """The identity and encoder of an index being opened. ``recorded`` is the existing collection's identity,
        or None when it does not exist yet: the caller then creates it with the identity returned."""
        if recorded is not None:
            if identity is not None:
                recorded.check_model(identity, where)
            return recorded, resolve_encoder(model, recorded, where)
        if not create:
            raise CollectionNotFoundError(f"{where} does not exist (create=False)")
        encoder = resolve_encoder(model, None, where)
        settled = identity or new_identity(encoder, dims, max_weight, where)
        if encoder is not None:
            settled.check_model(CollectionIdentity.of_encoder(encoder), where)
        if settled.dims - 1 > cls.max_latent:
            raise DimensionLimitError(
                f"{where}: dimension {settled.dims} needs latent ids up to {settled.dims - 1}; {cls.engine} takes "
                f"at most {cls.max_latent}"
            )
        return settled, encoder

    # --- what the collection is ---------------------------------------------------------------------------

    @property
    def identity(self) -> CollectionIdentity:
        """The model identity, dimension and maximum weight the collection records."""
        return self._identity

    @property
    def encoder(self) -> Optional[Encoder]:
        """The encoder texts are encoded with (None when the index was opened for vectors only)."""
        return self._encoder

    @property
    def dims(self) -> int:
        """The vectors' dimension."""
        return self._identity.dims

    @property
    def where(self) -> str:
        """The engine, address and collection, as messages name them."""
        return self._where

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where}, model={self._identity.model_name!r}, dims={self.dims})"

    def __enter__(self) -> "ClusterIndex":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Flushes and releases the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._close()

    # --- writes -------------------------------------------------------------------------------------------

    def upsert_text(self, key: Key, text: str, metadata: Any = None) -> None:
        """Encodes ``text`` as a document with the collection's model and stores it under ``key`` (replacing
        what was there)."""
        self.upsert_texts([(key, text, metadata)])

    def upsert_texts(self, items: Iterable[Any], *, batch_size: int = DEFAULT_BATCH) -> int:
        """Encodes and stores many documents: ``(key, text)`` or ``(key, text, metadata)`` tuples, or BEIR dicts
        (``_id``/``id``, ``text``, optional ``title`` and ``metadata``). Every key and text is checked before
        anything is encoded or sent; then batches are encoded and sent in turn. Returns the number stored."""
        encoder = self._need_encoder()
        items_ = [(_key_text(k), t, m) for k, t, m in _text_items(items)]
        for k, t, m in items_:
            if not t.strip():
                raise EmptyTextError(f"{self._where}: the text of {k!r} is empty")
            self._check_text(k, t)
            self._check_metadata(k, m)
        self._touch()
        written = 0
        for chunk in _chunks(items_, batch_size):
            with _reporting(self._where, written):
                vectors = encoder.encode_documents([t for _, t, _ in chunk])
                rows = []
                for i, (k, t, m) in enumerate(chunk):
                    if vectors[i].nnz == 0:
                        raise EmptyTextError(f"{self._where}: the text of {k!r} encodes to no latent")
                    rows.append(self._row(k, vectors[i], t, m))
                self._write(rows)
            written += len(rows)
        return written

    def upsert(self, key: Key, vector: VectorLike, text: Optional[str] = None, metadata: Any = None) -> None:
        """Stores a document with an application-supplied vector under ``key``."""
        row = self._row(_key_text(key), SparseVector(*_arrays(vector)), text, metadata)
        self._touch()
        self._write([row])

    def upsert_documents(self, docs: Iterable[Document], *, batch_size: int = DEFAULT_BATCH) -> int:
        """Stores :class:`splaredb.Document` values (what a database's ``snapshot().documents()`` yields), their
        vectors as they are, one checked batch at a time. Returns the number stored."""
        self._touch()
        written = 0
        for chunk in _chunks(docs, batch_size):
            with _reporting(self._where, written):
                self._write([self._row(_key_text(d.key), d.vector, d.text, d.metadata) for d in chunk])
            written += len(chunk)
        return written

    def delete(self, key: Key) -> None:
        """Removes the document under ``key`` (nothing happens when there is none)."""
        self.delete_many([key])

    def delete_many(self, keys: Iterable[Key], *, batch_size: int = 1024) -> int:
        """Removes documents by key (keys with no document are ignored); returns how many keys were sent."""
        self._touch()
        done = 0
        for chunk in _chunks(keys, batch_size):
            with _reporting(self._where, done, "keys deleted"):
                self._delete([_key_text(k) for k in chunk])
            done += len(chunk)
        return done

    def flush(self) -> None:
        """Makes what was written durable and visible (engines that buffer writes)."""
        self._flush()

    # --- reads --------------------------------------------------------------------------------------------

    def get(self, key: Key) -> Optional[Document]:
        """The document under ``key``, or None."""
        return self.get_many([key])[0]

    def get_many(self, keys: Sequence[Key]) -> List[Optional[Document]]:
        """The documents under ``keys``, in order (None where there is none)."""
        self._live()
        texts = [_key_text(k) for k in keys]
        found = {r.key: r for r in self._get(texts)}
        return [_document(found[k]) if k in found else None for k in texts]

    def __contains__(self, key: Key) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        self._live()
        return self._count()

    def fingerprints(self) -> Iterator[Tuple[str, str]]:
        """``(key, fingerprint)`` of every document (what a sync compares)."""
        self._live()
        return self._scan()

    def search(self, vector: VectorLike, k: int = 10, *, with_documents: bool = False) -> List[Hit]:
        """Exact top-``k`` by dot product with a query vector, best first (ties by key)."""
        query = self._check_query(SparseVector(*_arrays(vector)))
        return self._search([query], _k(k), with_documents)[0]

    def search_text(self, query: str, k: int = 10, *, with_documents: bool = False) -> List[Hit]:
        """Encodes ``query`` with the collection's model and returns its exact top-``k``. A query that encodes
        to nothing has no hits."""
        if not isinstance(query, str):
            raise TypeError(f"a query is str, not {type(query).__name__}")
        return self._search_texts([query], _k(k), with_documents)[0]

    def search_batch(self, queries: Any, k: int = 10, *, batch_size: int = 64) -> Any:
        """Top-``k`` of many text queries: ``{qid: text}`` gives ``{qid: {key: score}}`` (a BEIR/pytrec_eval
        run), a list of texts a list of ``{key: score}``."""
        k = _k(k)
        qids, texts = _parse_queries(queries)
        runs: List[Dict[Key, float]] = []
        for start in range(0, len(texts), batch_size):
            for hits in self._search_texts(texts[start : start + batch_size], k, False):
                runs.append({h.key: h.score for h in hits})
        return dict(zip(qids, runs)) if qids is not None else runs

    # --- shared helpers -----------------------------------------------------------------------------------

    def _live(self) -> None:
        if self._closed:
            raise ClosedError(f"{self._where}: the index is closed")

    def _touch(self) -> None:
        """Before the first write that is not a sync's: the collection no longer equals the database the last
        sync copied, so its record is marked stale (the next sync then compares everything)."""
        self._live()
        if self._syncing or self._marked_stale:
            return
        state = self.read_sync_state()
        if state is not None and not state.get("stale"):
            self.write_sync_state({**state, "stale": True})
        self._marked_stale = True

    def _need_encoder(self) -> Encoder:
        if self._encoder is None:
            raise NoEncoderError(f"{self._where} was opened without a model (model=None): pass vectors")
        return self._encoder

    def _search_texts(self, texts: List[str], k: int, with_documents: bool) -> List[List[Hit]]:
        encoder = self._need_encoder()
        out: List[List[Hit]] = [[] for _ in texts]
        live = [i for i, t in enumerate(texts) if t.strip()]
        if not live:
            return out
        m = encoder.encode_queries([texts[i] for i in live])
        queries = [(i, m[j]) for j, i in enumerate(live) if m[j].nnz > 0]
        if queries:
            results = self._search([q for _, q in queries], k, with_documents)
            for (i, _), hits in zip(queries, results):
                out[i] = hits
        return out

    def _check_query(self, v: SparseVector) -> SparseVector:
        self._check_vector("query", v, queries=True)
        return v

    def _check_vector(self, what: str, v: SparseVector, queries: bool = False) -> None:
        ids, w = v.indices, v.values
        if ids.shape != w.shape:
            raise InvalidVectorError(f"{what}: {ids.shape[0]} latent ids but {w.shape[0]} weights")
        if ids.size:
            if np.any(ids[1:] <= ids[:-1]):
                raise InvalidVectorError(f"{what}: duplicate latent ids")
            top = int(ids[-1])
            if top >= self.dims:
                raise InvalidVectorError(f"{what}: latent {top} is outside the dimension {self.dims}")
            if top > self.max_latent:
                raise InvalidVectorError(f"{what}: latent {top} is beyond {self.engine}'s limit {self.max_latent}")
            if not np.all(np.isfinite(w)):
                raise InvalidVectorError(f"{what}: a weight is not finite")
            if np.any(w < 0):
                raise InvalidVectorError(f"{what}: a weight is negative")
            if not queries and float(w.max()) > self._identity.max_weight:
                raise InvalidVectorError(
                    f"{what}: weight {float(w.max())} exceeds the collection's maximum {self._identity.max_weight}"
                )

    def _row(self, key: str, vector: SparseVector, text: Optional[str], metadata: Any) -> Row:
        self._check_vector(f"{self._where}: the vector of {key!r}", vector)
        if text is not None:
            self._check_text(key, text)
        self._check_metadata(key, metadata)
        return Row(key, vector, text, metadata, fingerprint(vector, text, metadata))

    def _check_text(self, key: str, text: Any) -> None:
        if not isinstance(text, str):
            raise TypeError(f"the text of {key!r} is {type(text).__name__}, not str")
        size = len(text.encode("utf-8"))
        limit = self.max_text_bytes if self.max_text_bytes is not None else _native.MAX_TEXT_LEN
        if size > limit:
            raise DocumentTooLargeError(
                f"{self._where}: the text of {key!r} is {size} bytes; {self.engine} stores at most {limit}"
            )

    def _check_metadata(self, key: str, metadata: Any) -> None:
        """Engines with a metadata size limit override this."""

    # --- what each engine implements ----------------------------------------------------------------------

    @abc.abstractmethod
    def _write(self, rows: List[Row]) -> None:
        """Upserts rows (one request or as few as the engine allows)."""

    @abc.abstractmethod
    def _delete(self, keys: List[str]) -> None:
        """Deletes by key."""

    @abc.abstractmethod
    def _get(self, keys: List[str]) -> List[Row]:
        """The stored rows among ``keys``."""

    @abc.abstractmethod
    def _scan(self) -> Iterator[Tuple[str, str]]:
        """Every document's ``(key, fingerprint)``."""

    @abc.abstractmethod
    def _count(self) -> int:
        """Number of documents."""

    def _search(self, queries: List[SparseVector], k: int, with_documents: bool) -> List[List[Hit]]:
        """Exact top-``k`` for each query, ties broken by key as splaredb breaks them: engines order equal
        scores arbitrarily, so twice ``k`` are fetched, sorted by (score descending, key) and cut."""
        self._live()
        if k == 0:
            return [[] for _ in queries]
        fetch = min(2 * k, max(k, self.max_search_k))
        out = []
        for hits in self._search_raw(queries, fetch, with_documents):
            hits.sort(key=lambda h: (-h.score, h.key))
            out.append(hits[:k])
        return out

    #: Largest top-k one engine search returns.
    max_search_k = 16384

    @abc.abstractmethod
    def _search_raw(self, queries: List[SparseVector], k: int, with_documents: bool) -> List[List[Hit]]:
        """The engine's top-``k`` for each query, in any order."""

    @abc.abstractmethod
    def read_sync_state(self) -> Optional[Dict[str, Any]]:
        """The record the last sync left (None before the first)."""

    @abc.abstractmethod
    def write_sync_state(self, state: Dict[str, Any]) -> None:
        """Replaces the sync record."""

    def _flush(self) -> None:
        """Engines that buffer writes override this."""

    def _close(self) -> None:
        """Engines with a connection override this."""


@contextlib.contextmanager
def _reporting(where: str, done: int, what: str = "documents stored") -> Iterator[None]:
    """Re-raises a failure after ``done`` > 0 as :class:`PartialWriteError`, so a half-done batched write is
    never reported as nothing written."""
    try:
        yield
    except Exception as e:
        if done:
            raise PartialWriteError(f"{where}: failed after {done} {what}: {e}", done) from e
        raise


def _k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(f"k must be a non-negative int, not {k!r}")
    return k


def _chunks(items: Iterable[Any], size: int) -> Iterator[List[Any]]:
    if size < 1:
        raise ValueError("batch_size must be at least 1")
    chunk: List[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _text_items(items: Iterable[Any]) -> Iterator[Tuple[Key, str, Any]]:
    for i, item in enumerate(items):
        key, text, metadata = _document_item(item, f"document #{i}")
        if not isinstance(text, str):
            raise TypeError(f"the text of document #{i} is {type(text).__name__}, not str")
        yield key, text, metadata


def _document(row: Row) -> Document:
    return Document(row.key, row.vector, row.text, row.metadata)


def resolve_encoder(
    model: Union[str, Encoder, None], recorded: Optional[CollectionIdentity], where: str
) -> Optional[Encoder]:
    """The encoder an index uses: ``RECORDED`` loads the collection's own model (or the default for a new
    collection); a name, directory or :class:`Encoder` is checked against the recorded identity."""
    if model is None:
        return None
    if isinstance(model, Encoder):
        encoder = model
    elif model == RECORDED:
        if recorded is not None and recorded.model is None:
            return None
        name = recorded.model["name"] if recorded is not None and recorded.model else _native.DEFAULT_MODEL
        encoder = Encoder(name)
    else:
        encoder = Encoder(str(model))
    if recorded is not None:
        recorded.check_model(CollectionIdentity.of_encoder(encoder), where)
    return encoder


def new_identity(
    encoder: Optional[Encoder], dims: Optional[int], max_weight: Optional[float], where: str
) -> CollectionIdentity:
    """The identity of a new collection: the encoder's, or ``dims`` and ``max_weight`` for application vectors."""
    if encoder is not None:
        if dims is not None and dims != encoder.dims:
            raise InvalidOptionsError(f"{where}: dims={dims} but the model {encoder.name} has {encoder.dims} latents")
        return CollectionIdentity.of_encoder(encoder)
    if dims is None or max_weight is None:
        raise InvalidOptionsError(f"{where}: a collection without a model needs dims and max_weight")
    if not isinstance(dims, int) or dims < 1:
        raise InvalidOptionsError(f"{where}: dims must be a positive int, not {dims!r}")
    if not (float(max_weight) > 0 and float(max_weight) != float("inf")):
        raise InvalidOptionsError(f"{where}: max_weight must be positive and finite, not {max_weight!r}")
    return CollectionIdentity(None, int(dims), float(max_weight))


__all__ = ["ClusterIndex", "Row", "RECORDED", "DEFAULT_BATCH", "resolve_encoder"]
