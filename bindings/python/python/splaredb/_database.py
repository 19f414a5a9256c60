"""The database: open, transactions, snapshots, search, import, maintenance."""

from __future__ import annotations

import builtins
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from . import _native
from ._encoder import Encoder
from ._vectors import SparseVector, VectorLike, _labelled, _to_bytes
from .errors import MisuseError

#: A document key: ``str`` (stored as UTF-8) or ``bytes``. Keys come back as ``str`` when they are UTF-8.
Key = Union[str, bytes]
PathLike = Union[str, "os.PathLike[str]"]

#: A query cut that keeps recall@10 near 0.975 on peaked (SPLADE) queries: query latents under a tenth of the
#: strongest left out of scoring (``query_cut=APPROXIMATE_QUERY_CUT`` with ``exact=False``).
APPROXIMATE_QUERY_CUT = 0.1

#: Candidates each segment re-ranks when ``exact=False`` (as the shell's ``--approx``): recall@10 0.99 on
#: the measured SAE vectors (README, "Approximate search").
DEFAULT_CANDIDATES = 300

_RECORDED = object()


def _key(key: Key) -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"a key is str or bytes, not {type(key).__name__}")


def _metadata(key: Key, metadata: Any) -> Optional[str]:
    if metadata is None:
        return None
    try:
        return json.dumps(metadata, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata of {key!r} is not JSON-serialisable: {e}") from None


def _text(key: Key, text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"the text of {key!r} is {type(text).__name__}, not str")
    return text


@dataclass(frozen=True)
class Document:
    """A stored document: its key, vector, and the text and metadata stored with it."""

    key: Key
    vector: SparseVector
    text: Optional[str] = None
    metadata: Any = None


@dataclass(frozen=True)
class Hit:
    """One search result. ``text``, ``metadata`` and ``vector`` are filled when the search asked for
    ``with_documents=True``."""

    key: Key
    score: float
    text: Optional[str] = None
    metadata: Any = None
    vector: Optional[SparseVector] = None


class ImportReport(NamedTuple):
    """What an import did."""

    documents: int
    transactions: int
    seconds: float


class ImportProgress(NamedTuple):
    """Where an import is, after each commit."""

    encoded: int
    committed: int
    seconds: float


def _parse_queries(queries: Any) -> Tuple[Optional[List[Any]], List[str]]:
    """``(qids, texts)`` of ``search_batch``'s argument: ``{qid: text}`` or a list of texts (qids None)."""
    if isinstance(queries, Mapping):
        qids: Optional[List[Any]] = list(queries)
        texts = [queries[q] for q in qids]
    elif isinstance(queries, (str, bytes)):
        raise TypeError("search_batch takes {qid: text} or a list of texts; for one query use search_text")
    else:
        qids = None
        texts = list(queries)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"query {qids[i] if qids else i!r} is {type(t).__name__}, not str")
    return qids, texts


def _key_out(key: bytes) -> Key:
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return key


def _document(key: Key, parts: Optional[Tuple[Any, Any, bytes, bytes]]) -> Optional[Document]:
    if parts is None:
        return None
    text, metadata_json, ids, weights = parts
    metadata = json.loads(metadata_json) if metadata_json is not None else None
    return Document(key, SparseVector._from_bytes(ids, weights), text, metadata)


def _hits(raw: List[Tuple[Any, float, Any]]) -> List[Hit]:
    out = []
    for key, score, parts in raw:
        if parts is None:
            out.append(Hit(key, score))
        else:
            text, metadata_json, ids, weights = parts
            metadata = json.loads(metadata_json) if metadata_json is not None else None
            out.append(Hit(key, score, text, metadata, SparseVector._from_bytes(ids, weights)))
    return out


def _search_args(
    k: int,
    with_documents: bool,
    rescore: bool,
    exact: bool,
    query_cut: Optional[float],
    candidates: Optional[int],
    block_max: bool,
    threads: int,
) -> Tuple[int, bool, bool, float, int, bool, int]:
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(f"k must be a non-negative int, not {k!r}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, not {threads!r}")
    if query_cut is None:
        query_cut = 0.0
    elif exact and query_cut != 0.0:
        raise ValueError("query_cut prunes the query: pass exact=False with it (or leave exact at its default)")
    if candidates is None:
        candidates = 0 if exact else DEFAULT_CANDIDATES
    elif exact:
        raise ValueError("candidates is for approximate search: pass exact=False with it")
    elif not isinstance(candidates, int) or isinstance(candidates, bool) or candidates < 1:
        raise ValueError(f"candidates must be a positive int, not {candidates!r}")
    return k, bool(with_documents), bool(rescore), float(query_cut), int(candidates), bool(block_max), threads


class Snapshot:
    """A consistent view of the database as of one commit: every read through it sees the same state,
    whatever is committed meanwhile. Cheap; it keeps its files alive while held. ``with db.snapshot() as s:``
    releases it at the end of the block."""

    def __init__(self, native: "_native.Snapshot") -> None:
        self._native: Optional["_native.Snapshot"] = native

    def _n(self) -> "_native.Snapshot":
        if self._native is None:
            raise MisuseError("the snapshot is released")
        return self._native

    @property
    def seq(self) -> int:
        """Sequence number of the last transaction the snapshot sees."""
        return self._n().seq

    def __len__(self) -> int:
        return len(self._n())

    def __contains__(self, key: Key) -> bool:
        return self._n().contains(_key(key))

    def get(self, key: Key) -> Optional[Document]:
        """The document under ``key``, or None."""
        return _document(key, self._n().get(_key(key)))

    def keys(self) -> List[Key]:
        """Every live key, in ascending byte order (``str`` where the key is UTF-8, else ``bytes``, as hits give
        keys)."""
        return [_key_out(k) for k in self._n().keys()]

    def documents(self, *, batch_size: int = 256) -> Iterator[Document]:
        """Every live document, in key order, read ``batch_size`` at a time (the GIL released while reading)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        native = self._n()
        raw = native.keys()
        for start in range(0, len(raw), batch_size):
            chunk = raw[start : start + batch_size]
            for k, parts in zip(chunk, native.get_many(chunk)):
                doc = _document(_key_out(k), parts)
                if doc is not None:
                    yield doc

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys())

    def search(
        self,
        vector: VectorLike,
        k: int = 10,
        *,
        with_documents: bool = False,
        rescore: bool = False,
        exact: bool = True,
        query_cut: Optional[float] = None,
        candidates: Optional[int] = None,
        block_max: bool = False,
        threads: int = 1,
    ) -> List[Hit]:
        """The top-``k`` documents by sparse dot product with ``vector`` (score descending, then key).

        ``exact=False`` searches each segment's approximate index: its best ``candidates`` documents by a
        cheap membership score (default :data:`DEFAULT_CANDIDATES`) are re-ranked with their exact scores, so
        hits carry exact scores and only recall is approximate. ``query_cut`` (with ``exact=False``) also
        leaves out query latents under that fraction of the strongest. ``rescore`` re-ranks the hits with
        full-precision weights; ``with_documents`` returns text, metadata and vector with each hit."""
        args = _search_args(k, with_documents, rescore, exact, query_cut, candidates, block_max, threads)
        ids, weights = _to_bytes(vector)
        return _hits(self._n().search(ids, weights, *args))

    def search_text(
        self,
        query: str,
        k: int = 10,
        *,
        with_documents: bool = False,
        rescore: bool = False,
        exact: bool = True,
        query_cut: Optional[float] = None,
        candidates: Optional[int] = None,
        block_max: bool = False,
        threads: int = 1,
    ) -> List[Hit]:
        """Encodes ``query`` with the database's model and searches it (see :meth:`search`). A blank query
        has no hits."""
        if not isinstance(query, str):
            raise TypeError(f"a query is str, not {type(query).__name__}")
        args = _search_args(k, with_documents, rescore, exact, query_cut, candidates, block_max, threads)
        return _hits(self._n().search_texts([query], *args)[0])

    @overload
    def search_batch(self, queries: Mapping[str, str], k: int = ..., **options: Any) -> Dict[str, Dict[Key, float]]: ...

    @overload
    def search_batch(self, queries: Sequence[str], k: int = ..., **options: Any) -> List[Dict[Key, float]]: ...

    def search_batch(self, queries: Any, k: int = 10, **options: Any) -> Any:
        """Searches many text queries at once (encoded in batches). ``{qid: text}`` gives ``{qid: {key:
        score}}``, the run format of BEIR, ranx and pytrec_eval; a list of texts gives a list of ``{key:
        score}``. Options as :meth:`search`, except ``with_documents``."""
        unknown = set(options) - {"rescore", "exact", "query_cut", "candidates", "block_max", "threads"}
        if unknown:
            raise TypeError(f"search_batch got unexpected keyword arguments {sorted(unknown)}")
        args = _search_args(
            k,
            False,
            options.get("rescore", False),
            options.get("exact", True),
            options.get("query_cut"),
            options.get("candidates"),
            options.get("block_max", False),
            options.get("threads", 1),
        )
        qids, texts = _parse_queries(queries)
        results = self._n().search_texts(texts, *args)
        runs = [{key: float(score) for key, score, _ in hits} for hits in results]
        return dict(zip(qids, runs)) if qids is not None else runs

    def release(self) -> None:
        """Lets the snapshot's state go (also done when it is garbage-collected)."""
        self._native = None

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        if self._native is None:
            return "Snapshot(released)"
        return f"Snapshot(seq={self.seq}, documents={len(self)})"


class Transaction:
    """A write transaction. Its writes are seen by its own reads and by no one else until :meth:`commit`.
    As a context manager it commits when the block ends normally and rolls back when it raises:

    >>> with db.transaction() as txn:                    # doctest: +SKIP
    ...     txn.insert_text("doc-1", "a fast compression tool", metadata={"lang": "en"})

    One write transaction is open at a time per database; it may be used from any thread."""

    def __init__(self, native: "_native.Transaction") -> None:
        self._native = native

    @property
    def is_open(self) -> bool:
        """Whether it can still be written and committed."""
        return self._native.is_open

    def insert_text(self, key: Key, text: str, metadata: Any = None) -> None:
        """Encodes ``text`` with the database's model and stores it (with ``metadata``, any JSON value)
        under ``key``; :class:`~splaredb.DuplicateKeyError` when ``key`` exists."""
        self._native.put_text(_key(key), _text(key, text), _metadata(key, metadata), False)

    def upsert_text(self, key: Key, text: str, metadata: Any = None) -> None:
        """:meth:`insert_text`, replacing the document under ``key`` if there is one."""
        self._native.put_text(_key(key), _text(key, text), _metadata(key, metadata), True)

    def insert(self, key: Key, vector: VectorLike, text: Optional[str] = None, metadata: Any = None) -> None:
        """Stores a document given by its sparse vector (and optionally text and metadata);
        :class:`~splaredb.DuplicateKeyError` when ``key`` exists."""
        ids, weights = _to_bytes(vector)
        text = None if text is None else _text(key, text)
        self._native.put(_key(key), ids, weights, text, _metadata(key, metadata), False)

    def upsert(self, key: Key, vector: VectorLike, text: Optional[str] = None, metadata: Any = None) -> None:
        """:meth:`insert`, replacing the document under ``key`` if there is one."""
        ids, weights = _to_bytes(vector)
        text = None if text is None else _text(key, text)
        self._native.put(_key(key), ids, weights, text, _metadata(key, metadata), True)

    def delete(self, key: Key) -> bool:
        """Deletes ``key``; returns whether it existed."""
        return self._native.delete(_key(key))

    def get(self, key: Key) -> Optional[Document]:
        """The document under ``key`` as this transaction sees it (its own writes included)."""
        return _document(key, self._native.get(_key(key)))

    def __contains__(self, key: Key) -> bool:
        return self._native.contains(_key(key))

    def commit(self) -> Optional[int]:
        """Makes the writes durable (as the database's durability says) and visible; returns the
        transaction's sequence number (None when it wrote nothing)."""
        return self._native.commit()["seq"]

    def rollback(self) -> None:
        """Discards the writes. Does nothing when the transaction is already finished."""
        self._native.rollback()

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.rollback()
        elif self.is_open:
            self.commit()

    def __repr__(self) -> str:
        return f"Transaction({'open' if self.is_open else 'finished'})"


def _document_item(item: Any, where: str) -> Tuple[Any, Any, Any]:
    """``(key, text, metadata)`` of one document given as ``(key, text[, metadata])`` or a BEIR dict (``id`` or
    ``_id``, ``text``, optional ``title`` joined before the text with a space, as BEIR does, and ``metadata``).
    Integer keys become strings."""
    if isinstance(item, Mapping):
        key = item.get("id", item.get("_id"))
        if key is None:
            raise ValueError(f"{where} has no \"id\" (or \"_id\")")
        text = item.get("text")
        title = item.get("title")
        if isinstance(title, str) and title.strip() and isinstance(text, str):
            text = f"{title} {text}"
        metadata = item.get("metadata")
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        key, text = item[0], item[1]
        metadata = item[2] if len(item) == 3 else None
    else:
        raise TypeError(
            f"{where} is {type(item).__name__}: give (key, text), (key, text, metadata) or a dict with "
            "\"id\", \"text\" and optional \"title\" and \"metadata\""
        )
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    return key, text, metadata


def _import_items(docs: Iterable[Any]) -> Iterator[Tuple[bytes, str, Optional[str]]]:
    for n, item in enumerate(docs):
        key, text, metadata = _document_item(item, f"document #{n}")
        yield _key(key), _text(key, text), _metadata(key, metadata)


class _Progress:
    """The import's progress bar: tqdm when it is installed, else one line rewritten on stderr."""

    def __init__(self, total: Optional[int], desc: str) -> None:
        self.total = total
        self.desc = desc
        self.bar: Any = None
        self.last = 0.0
        try:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="doc")
        except ImportError:
            pass

    def __call__(self, encoded: int, committed: int, seconds: float) -> None:
        if self.bar is not None:
            self.bar.update(committed - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        of = f"/{self.total}" if self.total is not None else ""
        rate = committed / seconds if seconds > 0 else 0.0
        sys.stderr.write(f"\r{self.desc}: {committed}{of} documents ({rate:.0f}/s)")
        sys.stderr.flush()

    def close(self, report: Optional[ImportReport]) -> None:
        if self.bar is not None:
            self.bar.close()
        elif report is not None:
            sys.stderr.write(
                f"\r{self.desc}: {report.documents} documents in {report.seconds:.1f} s "
                f"({report.documents / max(report.seconds, 1e-9):.0f}/s)\n"
            )
            sys.stderr.flush()


class Database:
    """An open splaredb database (see :func:`open`). ``with db:`` closes it at the end of the block.

    Reads (``search*``, ``get``) each use a fresh snapshot of the last commit; writes go through
    :meth:`transaction`. A handle may be shared by threads: searches run in parallel with the GIL released,
    while one thread writes."""

    def __init__(self, native: "_native.Database") -> None:
        self._native = native

    # --- handle -------------------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The database directory."""
        return self._native.path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def close(self) -> None:
        """Closes the database: open transactions of this handle are rolled back, the memtable is
        checkpointed (writable handles), the lock is released. Closing twice does nothing."""
        self._native.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"Database({self.path!r}, closed)"
        return f"Database({self.path!r}, documents={len(self)})"

    @property
    def dims(self) -> int:
        """Number of latents: every vector's ids are below it."""
        return self._native.dims

    @property
    def encoder(self) -> Optional[Encoder]:
        """The model the database encodes text with (None when opened vector-only)."""
        native = self._native.encoder()
        return Encoder._wrap(native) if native is not None else None

    @property
    def model(self) -> Optional[Dict[str, str]]:
        """The model the database records (``{name, weights_sha256, config_sha256}``), or None."""
        return self._native.model()

    # --- writes -------------------------------------------------------------------------------------------

    def transaction(self, *, wait: bool = True) -> Transaction:
        """Begins a write transaction. With another thread's transaction open, waits for it (``wait=False``:
        :class:`~splaredb.BusyError` instead). A second transaction on the same thread is a
        :class:`~splaredb.MisuseError` (it would wait forever)."""
        return Transaction(self._native.begin(wait))

    def import_documents(
        self,
        documents: Iterable[Any],
        *,
        progress: Union[bool, Callable[[ImportProgress], None]] = False,
        total: Optional[int] = None,
        batch_size: int = 32,
        commit_every: int = 1024,
        workers: int = 1,
        upsert: bool = False,
    ) -> ImportReport:
        """Encodes and stores many texts: items are ``(key, text)``, ``(key, text, metadata)`` or dicts
        with ``"id"`` (or ``"_id"``), ``"text"`` and optional ``"title"`` (prepended, as BEIR does) and
        ``"metadata"``. Texts are encoded in batches of ``batch_size`` on ``workers`` threads without holding
        the write lock, and committed every ``commit_every`` documents.

        ``progress``: True shows a progress bar (tqdm when installed), a callable receives an
        :class:`ImportProgress` after each commit. On an error the import stops and raises it; the
        transactions committed before it stay committed."""
        bar: Optional[_Progress] = None
        callback: Optional[Callable[[int, int, float], None]] = None
        if progress is True:
            bar = _Progress(total, "import")
            callback = bar
        elif callable(progress):
            user = progress
            callback = lambda e, c, s: user(ImportProgress(e, c, s))  # noqa: E731
        elif progress is not False:
            raise TypeError("progress is a bool or a callable")
        report: Optional[ImportReport] = None
        try:
            docs, txns, secs, error = self._native.import_documents(
                _import_items(documents), batch_size, commit_every, workers, upsert, callback
            )
            report = ImportReport(docs, txns, secs)
        finally:
            if bar is not None:
                bar.close(report)
        if error is not None:
            raise error
        return report

    def import_jsonl(
        self,
        path: PathLike,
        *,
        progress: Union[bool, Callable[[ImportProgress], None]] = True,
        batch_size: int = 32,
        commit_every: int = 1024,
        workers: int = 1,
        upsert: bool = False,
    ) -> ImportReport:
        """Imports a JSON Lines file of ``{"id" | "_id", "text", "title"?, "metadata"?}`` objects (a BEIR
        ``corpus.jsonl`` as it is). The whole file is checked first: a malformed line raises ``ValueError``
        naming the file and line before anything is written."""
        path = os.fspath(path)

        def parsed() -> Iterator[Dict[str, Any]]:
            with builtins.open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{path}:{n}: not JSON: {e}") from None
                    if not isinstance(obj, dict):
                        raise ValueError(f"{path}:{n}: a line is a JSON object, not {type(obj).__name__}")
                    key = obj.get("id", obj.get("_id"))
                    if not isinstance(key, (str, int)) or isinstance(key, bool):
                        raise ValueError(f"{path}:{n}: missing \"id\" (or \"_id\"): a string or an integer")
                    if not isinstance(obj.get("text"), str):
                        raise ValueError(f"{path}:{n}: missing \"text\" (a string)")
                    yield obj

        total = sum(1 for _ in parsed())
        return self.import_documents(
            parsed(),
            progress=progress,
            total=total,
            batch_size=batch_size,
            commit_every=commit_every,
            workers=workers,
            upsert=upsert,
        )

    # --- reads --------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """A snapshot of the last committed state."""
        return Snapshot(self._native.snapshot())

    def __len__(self) -> int:
        return len(self._native.snapshot())

    def __contains__(self, key: Key) -> bool:
        return self._native.snapshot().contains(_key(key))

    def get(self, key: Key) -> Optional[Document]:
        """The committed document under ``key``, or None."""
        return self.snapshot().get(key)

    def search(self, vector: VectorLike, k: int = 10, **options: Any) -> List[Hit]:
        """:meth:`Snapshot.search` on the last committed state."""
        return self.snapshot().search(vector, k, **options)

    def search_text(self, query: str, k: int = 10, **options: Any) -> List[Hit]:
        """:meth:`Snapshot.search_text` on the last committed state."""
        return self.snapshot().search_text(query, k, **options)

    def search_batch(self, queries: Any, k: int = 10, **options: Any) -> Any:
        """:meth:`Snapshot.search_batch` on the last committed state: ``{qid: text}`` → ``{qid: {key:
        score}}``."""
        return self.snapshot().search_batch(queries, k, **options)

    def explain(self, text: str, top: Optional[int] = 20) -> List[Tuple[int, float, Optional[str]]]:
        """``(latent, weight, label)`` of ``text`` encoded as a query, strongest first, with the
        database's labels (else the model's)."""
        enc = self.encoder
        if enc is None:
            from .errors import NoEncoderError

            raise NoEncoderError("no encoder: open the database with a model to explain text")
        return _labelled(enc.encode_query(text), self.labels(), top)

    # --- maintenance --------------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Writes the in-memory table to a segment and truncates the WAL (everything committed is then in
        fsynced files)."""
        self._native.checkpoint()

    def compact(self, *, progress: Union[bool, Callable[[int, int], None]] = False) -> None:
        """Merges every segment into one, dropping deleted documents."""
        if progress is True:
            bar = _Progress(None, "compact")
            self._native.compact(lambda done, total: bar(done, done, 0.0))
            bar.close(None)
        elif callable(progress):
            self._native.compact(progress)
        else:
            self._native.compact(None)

    def wait_for_merges(self) -> None:
        """Waits until background merges are done."""
        self._native.wait_for_merges()

    def refresh(self) -> None:
        """Read-only handles: moves the view to the writer's last checkpoint."""
        self._native.refresh()

    def check(self) -> Dict[str, Any]:
        """Re-reads and verifies every file: ``{ok, segments, documents, postings, stored_documents,
        wal_records, problems}`` (``problems``: one line per fault, naming the file)."""
        return self._native.check()

    def info(self) -> Dict[str, Any]:
        """Counters: documents, segments, sequence numbers, memtable and WAL bytes, model."""
        return self._native.info()

    def segments(self) -> List[Dict[str, Any]]:
        """The live segments: id, documents, deleted, postings, bytes, and bytes per section."""
        return self._native.segments()

    def labels(self) -> Dict[int, str]:
        """Latent labels: the database's (``.labels build`` in the shell), else its model's."""
        return self._native.labels()



def open(  # noqa: A001 - the module's entry point, as sqlite3.connect / dbm.open
    path: PathLike,
    model: Any = _RECORDED,
    *,
    dims: Optional[int] = None,
    durability: str = "normal",
    read_only: bool = False,
    create: bool = True,
    memtable_size: Optional[int] = None,
    max_weight: Optional[float] = None,
    prune_documents: Optional[int] = None,
    background_merge: bool = True,
    salvage: bool = False,
    device: str = "auto",
    precision: str = "auto",
    batch_size: Optional[int] = None,
) -> Database:
    """Opens the splaredb database in directory ``path``, creating it when missing (``create=False``:
    :class:`~splaredb.NotFoundError` instead).

    ``model``: a model name in the model cache (``"splare-e5-small-ft"``, the default model) or a model
    directory; ``None`` opens for vectors only (a new vector-only database needs ``dims``). Left out, an
    existing database uses the model it records and a new one the default model. A database refuses a model
    other than the one it was built with (:class:`~splaredb.ModelMismatchError`).

    ``durability``: ``"full"`` (fsync at every commit), ``"normal"`` (the default: survives a process crash;
    fsync at checkpoints) or ``"off"``. ``read_only`` takes no lock, so a writer process may run beside it.
    ``device``/``precision``/``batch_size`` are the encoder's (``"auto"``: a GPU when built in, bf16 on CPUs
    that have it)."""
    recorded = model is _RECORDED
    if recorded:
        model = None
    elif model is not None:
        model = os.fspath(model)
    native = _native.open_database(
        os.fspath(path),
        model,
        recorded,
        dims,
        durability,
        read_only,
        create,
        memtable_size,
        max_weight,
        prune_documents,
        background_merge,
        salvage,
        device,
        precision,
        batch_size,
    )
    return Database(native)
