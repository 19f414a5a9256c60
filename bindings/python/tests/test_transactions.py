"""Transactions: commit, rollback on exception, read-your-writes, vectors in every accepted form."""

import numpy as np
import pytest
import scipy.sparse

import splaredb


def test_commit_on_success_and_visibility(db):
    with db.transaction() as txn:
        txn.insert_text("a", "a fast compression tool", metadata={"lang": "en", "n": [1, 2]})
        assert "a" not in db  # not visible to readers before commit
        assert "a" in txn  # but visible to the transaction itself
        assert txn.get("a").metadata == {"lang": "en", "n": [1, 2]}
    assert "a" in db and len(db) == 1
    doc = db.get("a")
    assert doc.text == "a fast compression tool"
    assert doc.metadata == {"lang": "en", "n": [1, 2]}
    assert doc.vector.nnz > 0 and doc.vector.indices.dtype == np.uint32


def test_rollback_on_exception(db):
    with db.transaction() as txn:
        txn.insert_text("keep", "kept text")
    with pytest.raises(RuntimeError, match="boom"):
        with db.transaction() as txn:
            txn.insert_text("lost", "never committed")
            txn.delete("keep")
            raise RuntimeError("boom")
    assert "lost" not in db and "keep" in db
    # The lock was released: a new transaction starts at once.
    with db.transaction(wait=False) as txn:
        txn.insert_text("after", "written after the rollback")
    assert len(db) == 2


def test_explicit_commit_rollback_and_finished_transaction(db):
    txn = db.transaction()
    txn.insert_text("x", "some text")
    seq = txn.commit()
    assert isinstance(seq, int) and seq > 0
    assert not txn.is_open
    with pytest.raises(splaredb.MisuseError, match="finished"):
        txn.insert_text("y", "too late")
    with pytest.raises(splaredb.MisuseError):
        txn.commit()
    txn.rollback()  # a no-op once finished
    empty = db.transaction()
    assert empty.commit() is None  # wrote nothing
    t2 = db.transaction()
    t2.insert_text("z", "rolled back")
    t2.rollback()
    assert "z" not in db


def test_upsert_delete_and_duplicates(db):
    with db.transaction() as txn:
        txn.insert_text("k", "first version", metadata=1)
        with pytest.raises(splaredb.DuplicateKeyError, match='"k"'):
            txn.insert_text("k", "second")
        txn.upsert_text("k", "second version")
        assert txn.get("k").text == "second version"
        assert txn.delete("k") is True
        assert txn.delete("k") is False
        assert txn.get("k") is None
    assert "k" not in db


def test_vector_forms(db):
    ref = {3: 1.5, 17: 0.25, 100: 2.0}
    ids = np.array([3, 17, 100], dtype=np.int64)
    weights = np.array([1.5, 0.25, 2.0], dtype=np.float64)
    row = scipy.sparse.csr_matrix((weights, ids, [0, 3]), shape=(1, 256))
    with db.transaction() as txn:
        txn.insert("dict", ref, text="from a dict")
        txn.insert("numpy", (ids, weights))
        txn.insert("lists", ([100, 3, 17], [2.0, 1.5, 0.25]))  # unsorted ids are sorted
        txn.insert("scipy", row, metadata={"src": "scipy"})
        txn.insert("sv", splaredb.SparseVector(ids.astype(np.uint32), weights.astype(np.float32)))
        txn.upsert("dict", {5: 1.0})
    for key in ["numpy", "lists", "scipy", "sv"]:
        assert db.get(key).vector.to_dict() == ref, key
    assert db.get("dict").vector.to_dict() == {5: 1.0}
    assert db.get("scipy").metadata == {"src": "scipy"}
    hits = db.search({3: 1.0, 100: 1.0}, k=10)
    assert [h.key for h in hits][:4] == sorted(["lists", "numpy", "scipy", "sv"])  # equal scores: key order
    assert db.search(row, k=1)[0].key == "lists"


def test_bytes_keys_round_trip(db):
    with db.transaction() as txn:
        txn.insert(b"\xff\x00raw", {1: 1.0})
        txn.insert("utf8-é", {1: 1.0})
    keys = {h.key for h in db.search({1: 1.0})}
    assert keys == {b"\xff\x00raw", "utf8-é"}
    assert db.get(b"\xff\x00raw") is not None
    assert db.get("utf8-é".encode()) is not None


def test_close_rolls_back_open_transaction(tmp_path):
    from conftest import TINY

    db = splaredb.open(tmp_path / "db", model=TINY)
    txn = db.transaction()
    txn.insert_text("pending", "not committed")
    db.close()
    assert db.closed
    assert not txn.is_open
    with pytest.raises(splaredb.ClosedError):
        db.transaction()
    db.close()  # twice is fine
    with splaredb.open(tmp_path / "db", model=TINY) as again:
        assert len(again) == 0


def test_second_transaction_on_one_thread_is_misuse(db):
    txn = db.transaction()
    with pytest.raises(splaredb.MisuseError, match="already has an open write transaction"):
        db.transaction()
    txn.rollback()
    db.transaction().rollback()


def test_maintenance_reports(db):
    with db.transaction() as txn:
        for i in range(20):
            txn.insert_text(f"d{i}", f"document number {i} about compression and images")
    db.checkpoint()
    with db.transaction() as txn:
        txn.delete("d3")
    db.checkpoint()
    seen = []
    db.compact(progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == 19
    report = db.check()
    assert report["ok"] and report["problems"] == [] and report["documents"] == 19
    info = db.info()
    assert info["documents"] == 19 and info["segments"] == 1 and info["model"] == "tiny-bert"
    (seg,) = db.segments()
    assert seg["documents"] == 19 and 0 < sum(seg["sections"].values()) < seg["bytes"]
