"""Search, snapshots, batches, import and threads."""

import threading

import pytest

import splaredb


def fill(db, n=30):
    with db.transaction() as txn:
        for i in range(n):
            txn.insert_text(f"doc{i:02}", f"document {i}: {'compression tool' if i % 2 else 'image viewer'} {i}")


def test_search_text_options(db):
    fill(db)
    hits = db.search_text("compression tool", k=5)
    assert len(hits) == 5 and all(h.text is None for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    full = db.search_text("compression tool", k=5, with_documents=True)
    assert [h.key for h in full] == [h.key for h in hits]
    assert all(h.text and h.vector.nnz for h in full)
    approx = db.search_text("compression tool", k=5, exact=False)
    assert len(approx) == 5
    # With every document a candidate, approximate search is exact; with few, scores are still exact.
    everyone = db.search_text("compression tool", k=5, exact=False, candidates=len(db))
    assert [(h.key, h.score) for h in everyone] == [(h.key, h.score) for h in hits]
    exact_scores = {h.key: h.score for h in db.search_text("compression tool", k=len(db))}
    few = db.search_text("compression tool", k=5, exact=False, candidates=5)
    assert all(exact_scores[h.key] == h.score for h in few)
    pruned = db.search_text("compression tool", k=5, exact=False, query_cut=0.2)
    assert len(pruned) == 5
    rescored = db.search_text("compression tool", k=5, rescore=True, threads=2)
    assert {h.key for h in rescored} <= {h.key for h in db.search_text("compression tool", k=30)}
    assert db.search_text("   ", k=5) == []
    with pytest.raises(ValueError, match="exact=False"):
        db.search_text("x", query_cut=0.2)
    with pytest.raises(ValueError, match="exact=False"):
        db.search_text("x", candidates=10)
    with pytest.raises(ValueError, match="positive int"):
        db.search_text("x", exact=False, candidates=0)


def test_search_batch_shapes(db):
    fill(db)
    run = db.search_batch({"q1": "compression tool", "q2": "image viewer", "blank": " "}, k=3)
    assert set(run) == {"q1", "q2", "blank"} and run["blank"] == {}
    assert all(len(v) == 3 for k, v in run.items() if k != "blank")
    single = db.search_text("image viewer", k=3)
    assert run["q2"] == {h.key: pytest.approx(h.score) for h in single}
    as_list = db.search_batch(["compression tool", "image viewer"], k=3)
    assert as_list == [run["q1"], run["q2"]]


def test_snapshot_is_stable_under_a_writer_thread(db):
    fill(db, 10)
    snap = db.snapshot()
    before = snap.search_text("compression tool", k=20)
    seq = snap.seq
    done = threading.Event()

    def writer():
        for round_ in range(5):
            with db.transaction() as txn:
                for i in range(10):
                    txn.upsert_text(f"doc{i:02}", f"rewritten {round_} compression tool")
                    txn.insert_text(f"new{round_}-{i}", "new compression tool document")
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    while not done.is_set():
        assert snap.search_text("compression tool", k=20) == before
        assert len(snap) == 10 and snap.seq == seq
    t.join()
    assert snap.search_text("compression tool", k=20) == before
    assert len(db) == 60 and db.snapshot().seq > seq


def test_threads_search_while_one_writes(db):
    fill(db, 10)
    errors = []
    counts = []

    def reader():
        try:
            n = 0
            while not stop.is_set():
                hits = db.search_text("image viewer", k=5)
                assert len(hits) == 5
                n += 1
            counts.append(n)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    stop = threading.Event()
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for r in readers:
        r.start()
    for batch in range(5):
        with db.transaction() as txn:
            for i in range(20):
                txn.insert_text(f"w{batch}-{i}", "image viewer written while others search")
    stop.set()
    for r in readers:
        r.join()
    assert not errors, errors
    assert len(counts) == 3 and all(c > 0 for c in counts)
    assert len(db) == 110


def test_transactions_from_two_threads_wait_or_busy(db):
    txn = db.transaction()
    result = {}

    def other():
        try:
            db.transaction(wait=False)
        except splaredb.BusyError as e:
            result["busy"] = str(e)
        with db.transaction() as t2:  # waits for the first one
            t2.insert_text("second", "written second")
        result["done"] = True

    t = threading.Thread(target=other)
    t.start()
    t.join(0.3)
    assert "busy" in result and "done" not in result
    txn.insert_text("first", "written first")
    txn.commit()
    t.join()
    assert result["done"] and "first" in db and "second" in db


def test_import_documents_and_jsonl(db, tmp_path):
    seen = []
    report = db.import_documents(
        [("a", "first text"), ("b", "second text", {"m": 1}), {"_id": "c", "title": "Title", "text": "body"}],
        progress=seen.append,
        batch_size=2,
        commit_every=2,
    )
    assert report.documents == 3 and report.transactions == 2
    assert seen[-1].committed == 3
    assert db.get("c").text == "Title body" and db.get("b").metadata == {"m": 1}
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "j1", "text": "jsonl one", "metadata": {"x": true}}\n\n{"_id": 7, "text": "seven"}\n')
    report = db.import_jsonl(path, progress=False)
    assert report.documents == 2 and db.get("7").text == "seven" and db.get("j1").metadata == {"x": True}
    with pytest.raises(splaredb.DuplicateKeyError):
        db.import_jsonl(path, progress=False)
    assert db.import_jsonl(path, progress=False, upsert=True).documents == 2


def test_import_stops_at_a_failing_iterator_and_keeps_what_was_committed(db):
    def docs():
        for i in range(5):
            yield (f"g{i}", f"text {i}")
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        db.import_documents(docs(), commit_every=2)
    assert all(f"g{i}" in db for i in range(5))


def test_encoder_of_a_database(db):
    enc = db.encoder
    assert enc.name == "tiny-bert" and enc.dims == db.dims
    v = enc.encode_query("compression tool")
    fill(db)
    assert db.search(v, k=3) == db.search_text("compression tool", k=3)
    assert [x[:2] for x in db.explain("compression tool", top=3)] == [x[:2] for x in enc.decode(v, top=3)]
