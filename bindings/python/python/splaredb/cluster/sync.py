"""Copying a splaredb database into a cluster collection: batched, resumable, incremental.

A sync compares what the database holds with what the collection holds, by key and content fingerprint, and
sends only the difference: documents that are new or changed are upserted, keys the database no longer has are
deleted. It ends by recording the database's commit sequence in the collection; a later sync of the same
database at the same sequence has nothing to do and returns at once. An interrupted sync leaves that record
as it was, and the next run picks up where it stopped (what already landed has matching fingerprints and is
not sent again).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Union

from .._database import Database, Document, Snapshot
from ..errors import PartialWriteError
from ._base import DEFAULT_BATCH, ClusterIndex, _key_text
from ._identity import CollectionIdentity, fingerprint


class SyncReport(NamedTuple):
    """What a sync did."""

    #: The database commit sequence the collection now reflects.
    seq: int
    #: Documents in the database (and now in the collection).
    documents: int
    #: Documents sent (new or changed).
    upserted: int
    #: Keys deleted from the collection.
    deleted: int
    #: Documents already up to date.
    unchanged: int
    #: True when the collection already reflected this sequence and nothing was compared.
    up_to_date: bool
    seconds: float


class SyncProgress(NamedTuple):
    """Passed to a progress callback after each batch."""

    #: ``"compare"``, ``"upsert"`` or ``"delete"``.
    phase: str
    #: Documents compared, sent or deleted so far in this phase.
    done: int
    #: The phase's total (documents in the database for compare/upsert, keys to delete for delete).
    total: int


ProgressFn = Callable[[SyncProgress], None]


def sync(
    db: Database,
    index: ClusterIndex,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Union[bool, ProgressFn] = False,
    full: bool = False,
) -> SyncReport:
    """Makes ``index`` hold exactly the documents of ``db`` (a committed snapshot of it): keys, vectors at full
    precision, texts and metadata.

    The collection must have the database's model and dimension (:class:`splaredb.ModelMismatchError`
    otherwise); open it with ``identity=CollectionIdentity.of_database(db)`` to create it with them, as
    :func:`splaredb.cluster.open_target` does. ``full=True`` compares everything even when the recorded sequence
    says nothing changed. ``progress``: True prints a line to stderr per batch, a callable gets
    :class:`SyncProgress`.
    """
    start = time.perf_counter()
    report_fn = _progress_fn(progress)
    index.identity.check_model(CollectionIdentity.of_database(db), index.where)
    snap = db.snapshot()
    source = os.path.realpath(db.path)
    state = index.read_sync_state()
    if (
        not full
        and state is not None
        and state.get("source") == source
        and state.get("seq") == snap.seq
        and not state.get("stale")
        and state.get("documents") == len(snap)
        and len(index) == len(snap)
    ):
        return SyncReport(snap.seq, len(snap), 0, 0, len(snap), True, time.perf_counter() - start)

    index._syncing = True
    try:
        return _sync(db, index, snap, source, batch_size, report_fn, start)
    finally:
        index._syncing = False


def _sync(
    db: Database,
    index: ClusterIndex,
    snap: Snapshot,
    source: str,
    batch_size: int,
    report_fn: Optional[ProgressFn],
    start: float,
) -> SyncReport:
    target: Dict[str, str] = dict(index.fingerprints())
    total = len(snap)
    compared = upserted = unchanged = 0
    pending: List[Document] = []

    def send() -> None:
        nonlocal upserted
        if not pending:
            return
        try:
            index.upsert_documents(pending, batch_size=len(pending))
        except Exception as e:
            if upserted:
                raise PartialWriteError(f"sync to {index.where} failed after {upserted} documents: {e}", upserted) from e
            raise
        upserted += len(pending)
        pending.clear()
        if report_fn:
            report_fn(SyncProgress("upsert", upserted, total))

    for doc in snap.documents(batch_size=batch_size):
        key = _key_text(doc.key)
        compared += 1
        if target.pop(key, None) == fingerprint(doc.vector, doc.text, doc.metadata):
            unchanged += 1
        else:
            pending.append(doc)
            if len(pending) >= batch_size:
                send()
        if report_fn and compared % batch_size == 0:
            report_fn(SyncProgress("compare", compared, total))
    send()
    stale = sorted(target)
    deleted = 0
    for i in range(0, len(stale), batch_size):
        chunk = stale[i : i + batch_size]
        index.delete_many(chunk, batch_size=len(chunk))
        deleted += len(chunk)
        if report_fn:
            report_fn(SyncProgress("delete", deleted, len(stale)))
    index.flush()
    index.write_sync_state(
        {
            "source": source,
            "seq": snap.seq,
            "documents": total,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    return SyncReport(snap.seq, total, upserted, deleted, unchanged, False, time.perf_counter() - start)


def _progress_fn(progress: Union[bool, ProgressFn]) -> Optional[ProgressFn]:
    if callable(progress):
        return progress
    if not progress:
        return None

    def line(p: SyncProgress) -> None:
        print(f"sync: {p.phase} {p.done}/{p.total}", file=sys.stderr, flush=True)

    return line


def describe(report: SyncReport) -> str:
    """One line for people."""
    if report.up_to_date:
        return f"up to date at commit {report.seq}: {report.documents} documents ({report.seconds:.2f} s)"
    return (
        f"synced commit {report.seq}: {report.documents} documents, {report.upserted} sent, {report.deleted} "
        f"deleted, {report.unchanged} unchanged ({report.seconds:.1f} s)"
    )

