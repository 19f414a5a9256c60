"""splaredb.cluster against the real engines: Milvus (milvus-lite 2.5 runs the Milvus server binary) and Qdrant
(qdrant-edge embeds the Qdrant engine). Skipped when the packages are missing, unless SPLAREDB_REQUIRE_CLUSTER=1
(CI sets it)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import splaredb
from conftest import TINY

REQUIRE = os.environ.get("SPLAREDB_REQUIRE_CLUSTER") == "1"


def need(module):
    try:
        __import__(module)
    except ImportError:
        if REQUIRE:
            raise
        pytest.skip(f"{module} is not installed")


import splaredb.cluster as cluster  # noqa: E402 - imports no engine package itself
from splaredb.cluster import (  # noqa: E402
    CollectionIdentity,
    MilvusIndex,
    QdrantIndex,
    export_bulk,
    fingerprint,
    open_target,
    sync,
)

ENGINES = ["milvus", "qdrant"]


@pytest.fixture
def make_index(tmp_path, monkeypatch):
    """``make_index(engine, **options)`` opens an index in tmp_path (Milvus Lite wants a short file name:
    the test runs inside tmp_path)."""
    monkeypatch.chdir(tmp_path)
    opened = []

    def make(engine, name="docs", **options):
        if engine == "milvus":
            need("pymilvus")
            idx = MilvusIndex(f"{name}.db", name, **options)
        else:
            need("qdrant_edge")
            idx = QdrantIndex(tmp_path / f"{name}-shard", **options)
        opened.append(idx)
        return idx

    yield make
    for idx in opened:
        idx.close()


TEXTS = [
    "lz4 compresses files very fast",
    "the GNU image manipulation program",
    "vi improved, a programmer's text editor",
    "command line tool for transferring data with URLs",
    "a lossless audio codec",
    "a fast compression library for streams",
    "an image viewer for the desktop",
    "an editor for images and photos",
    "a secure shell client and server",
    "a web browser from Mozilla",
    "a tool to synchronise files over the network",
    "a database engine in a library",
]
QUERIES = ["compress files", "image editor", "text editor", "network file copy", "web", "audio"]


def corpus(n=len(TEXTS)):
    return [(f"doc{i:02}", TEXTS[i % len(TEXTS)] + f" number {i}", {"i": i} if i % 3 else None) for i in range(n)]


@pytest.fixture
def filled_db(tmp_path):
    with splaredb.open(tmp_path / "db", model=TINY) as db:
        with db.transaction() as txn:
            for k, t, m in corpus(40):
                txn.insert_text(k, t, metadata=m)
        yield db


def assert_equal(db, index):
    """The collection holds exactly the database's documents."""
    snap = db.snapshot()
    want = {d.key: fingerprint(d.vector, d.text, d.metadata) for d in snap.documents()}
    assert dict(index.fingerprints()) == want
    assert len(index) == len(want)
    keys = sorted(want)
    for d, got in zip(snap.documents(), index.get_many(keys)):
        assert got is not None and got.key == d.key and got.text == d.text and got.metadata == d.metadata
        assert got.vector.indices.tobytes() == d.vector.indices.tobytes()
        assert got.vector.values.tobytes() == d.vector.values.tobytes()


@pytest.mark.parametrize("engine", ENGINES)
def test_search_equals_database(engine, make_index, filled_db):
    idx = make_index(engine, model=TINY)
    assert idx.identity == CollectionIdentity.of_encoder(splaredb.Encoder(TINY))
    assert idx.upsert_texts(corpus(40), batch_size=16) == 40
    step = filled_db.info()["max_weight"] / 255
    for q in QUERIES:
        got = idx.search_text(q, k=5)
        exact = filled_db.search_text(q, k=40, rescore=True)[:5]  # the database's f32 top-5
        assert [h.key for h in got] == [h.key for h in exact]
        for g, e in zip(got, exact):
            assert g.score == pytest.approx(e.score, rel=1e-5)
        # The database's own (8-bit) scores stay within the quantization bound of the engine's.
        qv = idx.encoder.encode_query(q)
        bound = float(qv.values.sum()) * step / 2 + 1e-5
        quantized = {h.key: h.score for h in filled_db.search_text(q, k=40)}
        for g in got:
            assert abs(quantized[g.key] - g.score) <= bound
    run = idx.search_batch({"a": QUERIES[0], "blank": "  "}, k=3)
    assert run["blank"] == {} and list(run["a"]) == [h.key for h in idx.search_text(QUERIES[0], k=3)]
    assert idx.search_text(QUERIES[0], k=0) == []
    full = idx.search_text(QUERIES[1], k=2, with_documents=True)
    assert all(h.text and h.vector.nnz for h in full)


@pytest.mark.parametrize("engine", ENGINES)
def test_documents_round_trip(engine, make_index):
    idx = make_index(engine, model=TINY)
    idx.upsert_text("a", "lz4 compresses files", metadata={"tags": ["x", "y"], "n": 1.5})
    idx.upsert("b", {3: 0.5, 7: 0.25}, text=None, metadata=[1, "two"])
    idx.upsert("c", ([1, 2], [0.125, 0.5]), text="", metadata="just a string")
    a, b, c, none = idx.get_many(["a", "b", "c", "zz"])
    assert a.text == "lz4 compresses files" and a.metadata == {"tags": ["x", "y"], "n": 1.5}
    assert a.vector.values.tobytes() == idx.encoder.encode_document("lz4 compresses files").values.tobytes()
    assert b.text is None and b.metadata == [1, "two"] and b.vector.to_dict() == {3: 0.5, 7: 0.25}
    assert c.text == "" and c.metadata == "just a string"
    assert none is None
    assert len(idx) == 3 and "a" in idx and "zz" not in idx
    idx.upsert_text("a", "an image viewer")
    assert idx.get("a").text == "an image viewer" and idx.get("a").metadata is None
    idx.delete("a")
    idx.delete("never-there")
    assert len(idx) == 2 and idx.get("a") is None


@pytest.mark.parametrize("engine", ENGINES)
def test_model_identity_is_recorded_and_checked(engine, make_index, default_model):
    idx = make_index(engine, model=TINY)
    idx.upsert_text("a", "lz4 compresses files")
    idx.close()
    again = make_index(engine, model=TINY)
    assert again.identity.model_name == "tiny-bert" and len(again) == 1
    again.close()
    with pytest.raises(splaredb.ModelMismatchError, match="tiny-bert"):
        make_index(engine, model=default_model)
    with pytest.raises(splaredb.ModelMismatchError):
        make_index(engine, model=splaredb.Encoder(default_model))
    # Vectors only: no model loaded, the recorded identity still guards writes.
    bare = make_index(engine, model=None)
    assert bare.encoder is None and bare.identity.model_name == "tiny-bert"
    with pytest.raises(splaredb.NoEncoderError):
        bare.search_text("x")
    with pytest.raises(splaredb.InvalidVectorError, match="outside the dimension"):
        bare.upsert("v", {bare.dims: 0.5})


@pytest.mark.parametrize("engine", ENGINES)
def test_application_vector_collections(engine, make_index):
    with pytest.raises(splaredb.InvalidOptionsError, match="dims and max_weight"):
        make_index(engine, name="v1", model=None)
    idx = make_index(engine, name="v2", model=None, dims=100, max_weight=2.0)
    idx.upsert("x", {1: 1.0, 99: 2.0})
    assert [h.key for h in idx.search({99: 1.0})] == ["x"]
    idx.close()
    with pytest.raises(splaredb.ModelMismatchError, match="application vectors"):
        make_index(engine, name="v2", model=TINY)
    with pytest.raises(splaredb.DimensionLimitError):
        make_index(engine, name="v3", model=None, dims=2**32 + 1, max_weight=1.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_input_is_refused_before_anything_is_written(engine, make_index):
    idx = make_index(engine, model=TINY)
    items = [(f"k{i}", "some text") for i in range(5)] + [(b"\xff\xfe", "bad key")]
    with pytest.raises(splaredb.InvalidKeyError, match="UTF-8"):
        idx.upsert_texts(items, batch_size=2)
    with pytest.raises(splaredb.EmptyTextError):
        idx.upsert_texts([("a", "fine"), ("b", "   ")])
    with pytest.raises(splaredb.InvalidKeyError):
        idx.upsert_text("", "x")
    with pytest.raises(splaredb.InvalidKeyError, match="reserved"):
        idx.upsert_text("\x1fsplaredb:sync", "x")
    for bad in ({1: float("nan")}, {1: -0.5}, {idx.dims: 0.1}, {1: idx.identity.max_weight * 2}):
        with pytest.raises(splaredb.InvalidVectorError):
            idx.upsert("v", bad)
    with pytest.raises(splaredb.InvalidVectorError):
        idx.search({1: float("inf")})
    assert len(idx) == 0
    if engine == "milvus":
        with pytest.raises(splaredb.DocumentTooLargeError, match="65535"):
            idx.upsert("long", {1: 0.5}, text="x" * 70_000)
        with pytest.raises(splaredb.DocumentTooLargeError):
            idx.upsert("long", {1: 0.5}, metadata={"x": "y" * 70_000})
        assert len(idx) == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failure_after_some_batches_reports_what_landed(engine, make_index, monkeypatch):
    idx = make_index(engine, model=TINY)
    real = idx._write
    calls = []

    def flaky(rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise splaredb.EngineError("injected: connection reset")
        real(rows)

    monkeypatch.setattr(idx, "_write", flaky)
    with pytest.raises(splaredb.PartialWriteError) as e:
        idx.upsert_texts(corpus(10), batch_size=4)
    assert e.value.written == 4 and isinstance(e.value.__cause__, splaredb.EngineError)
    monkeypatch.setattr(idx, "_write", real)
    assert len(idx) == 4


def test_unreachable_engines_are_typed_errors(tmp_path):
    need("pymilvus")
    need("qdrant_edge")
    with pytest.raises(splaredb.EngineUnavailableError, match="127.0.0.1:1"):
        MilvusIndex("http://127.0.0.1:1", "docs", model=None, dims=10, max_weight=1.0, timeout=2)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(splaredb.EngineUnavailableError):
        QdrantIndex(blocker / "shard", model=None, dims=10, max_weight=1.0)
    with pytest.raises(splaredb.CollectionNotFoundError):
        QdrantIndex(tmp_path / "missing", model=None, create=False)


def test_collections_not_made_by_splaredb_are_refused(tmp_path, monkeypatch):
    need("pymilvus")
    need("qdrant_edge")
    from pymilvus import DataType, MilvusClient
    import qdrant_edge as q

    monkeypatch.chdir(tmp_path)
    client = MilvusClient("foreign.db")
    schema = client.create_schema(auto_id=False, description="someone else's")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.SPARSE_FLOAT_VECTOR)
    ip = client.prepare_index_params()
    ip.add_index(field_name="v", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection("theirs", schema=schema, index_params=ip)
    client.close()
    with pytest.raises(splaredb.CollectionFormatError, match="not made by splaredb"):
        MilvusIndex("foreign.db", "theirs", model=None)
    shard = q.EdgeShard.create(str(tmp_path / "qforeign"), q.EdgeConfig(sparse_vectors={"s": q.EdgeSparseVectorParams()}))
    shard.close()
    with pytest.raises(splaredb.CollectionFormatError, match="identity"):
        QdrantIndex(tmp_path / "qforeign", model=None)


@pytest.mark.parametrize("engine", ENGINES)
def test_sync_full_incremental_and_resumed(engine, make_index, filled_db, tmp_path):
    db = filled_db
    ident = CollectionIdentity.of_database(db)
    idx = make_index(engine, model=None, identity=ident)
    r = sync(db, idx, batch_size=8)
    assert (r.documents, r.upserted, r.deleted, r.unchanged, r.up_to_date) == (40, 40, 0, 0, False)
    assert_equal(db, idx)
    again = sync(db, idx)
    assert again.up_to_date and again.upserted == 0
    # Updates, deletes and inserts: only they are sent.
    with db.transaction() as txn:
        for i in range(0, 10):
            txn.upsert_text(f"doc{i:02}", f"changed text {i}", metadata={"v": 2})
        for i in range(30, 35):
            txn.delete(f"doc{i:02}")
        for i in range(3):
            txn.insert_text(f"new{i}", f"a new document {i}")
    r = sync(db, idx, batch_size=8)
    assert (r.upserted, r.deleted, r.unchanged) == (13, 5, 25) and r.seq == db.snapshot().seq
    assert_equal(db, idx)
    # Interrupted midway, then run again: it ends equal, sending only what had not landed.
    with db.transaction() as txn:
        for i in range(10, 30):
            txn.upsert_text(f"doc{i:02}", f"second change {i}")
    seen = []

    def stop_after_one_batch(p):
        seen.append(p)
        if p.phase == "upsert":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sync(db, idx, batch_size=8, progress=stop_after_one_batch)
    state = idx.read_sync_state()
    assert state["seq"] < db.snapshot().seq
    r = sync(db, idx, batch_size=8)
    assert (r.upserted, r.unchanged) == (12, len(db) - 12)
    assert_equal(db, idx)
    # A write to the collection that is not a sync's makes the next sync compare again and repair it.
    idx.close()
    direct = make_index(engine, model=TINY)
    direct.delete("doc00")
    direct.upsert_text("intruder", "not in the database")
    r = sync(db, direct)
    assert not r.up_to_date and (r.upserted, r.deleted) == (1, 1)
    assert_equal(db, direct)


@pytest.mark.parametrize("engine", ENGINES)
def test_sync_refuses_another_models_collection(engine, make_index, filled_db):
    idx = make_index(engine, model=None, dims=7, max_weight=1.0)
    with pytest.raises(splaredb.ModelMismatchError):
        sync(filled_db, idx)
    assert len(idx) == 0
    idx.close()
    with pytest.raises(splaredb.ModelMismatchError):
        make_index(engine, model=None, identity=CollectionIdentity.of_database(filled_db))


def test_sync_command_line(tmp_path, filled_db):
    need("pymilvus")
    need("qdrant_edge")
    path = filled_db.path
    filled_db.close()
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "splaredb.cluster", *args], cwd=tmp_path, capture_output=True, text=True
    )
    for target in ["milvus-lite:cli.db", f"qdrant-edge:{tmp_path / 'cli-shard'}"]:
        r = run("sync", path, target, "--collection", "packages")
        assert r.returncode == 0, r.stderr
        assert "synced commit" in r.stdout and "40 sent" in r.stdout and "sync: upsert 40/40" in r.stderr
        r = run("sync", path, target, "--collection", "packages", "--quiet")
        assert r.returncode == 0 and "up to date" in r.stdout
        r = run("info", target, "--collection", "packages")
        info = json.loads(r.stdout)
        assert info["documents"] == 40 and info["identity"]["model"]["name"] == "tiny-bert"
        assert info["last_sync"]["documents"] == 40
    r = run("sync", path, "redis://nowhere")
    assert r.returncode == 1 and "InvalidOptionsError" in r.stderr
    r = run("sync", str(tmp_path / "no-such-db"), "milvus-lite:x.db")
    assert r.returncode == 1 and "NotFoundError" in r.stderr
    r = run("info", "milvus-lite:cli.db", "--collection", "absent")
    assert r.returncode == 1 and "CollectionNotFoundError" in r.stderr


@pytest.mark.parametrize("flavor", ["opensearch", "opensearch-seismic", "elasticsearch"])
def test_bulk_export_format(tmp_path, filled_db, flavor):
    with filled_db.transaction() as txn:
        txn.upsert("zero", {1: 0.0, 2: 0.5})  # a zero weight: those engines reject it
    report = export_bulk(filled_db, tmp_path / flavor, flavor=flavor, index="pkgs", docs_per_file=16)
    assert report.documents == 41 and len(report.files) == 3 and report.dropped_weights == 1
    body = json.loads(open(report.mapping).read())
    props = body["mappings"]["properties"]
    meta = body["mappings"]["_meta"]["splaredb"]
    assert meta["model"]["name"] == "tiny-bert" and meta["dims"] == filled_db.dims
    want_type = {"opensearch": "rank_features", "opensearch-seismic": "sparse_vector", "elasticsearch": "sparse_vector"}
    assert props["vector"]["type"] == want_type[flavor] and props["key"]["type"] == "keyword"
    if flavor == "opensearch-seismic":
        assert body["settings"]["index"]["sparse"] is True
        method = props["vector"]["method"]
        assert method["name"] == "seismic"
        assert method["parameters"]["quantization_ceiling_ingest"] == meta["max_weight"]
    if flavor == "elasticsearch":
        assert props["vector"]["index_options"] == {"prune": False}
    docs = {d.key: d for d in filled_db.snapshot().documents()}
    seen = []
    for path in report.files:
        lines = open(path, encoding="utf-8").read().splitlines()
        assert len(lines) % 2 == 0
        for action, source in zip(lines[0::2], lines[1::2]):
            a, s = json.loads(action), json.loads(source)
            assert list(a) == ["index"] and a["index"]["_index"] == "pkgs"
            key = a["index"]["_id"]
            assert s["key"] == key
            d = docs[key]
            assert s.get("text") == d.text and s.get("metadata") == d.metadata
            assert all(isinstance(f, str) and f.isdigit() for f in s["vector"])
            want = {str(int(i)): float(w) for i, w in zip(d.vector.indices, d.vector.values) if w > 0}
            assert set(s["vector"]) == set(want)
            for f, w in s["vector"].items():
                assert w > 0 and np.float32(w) == np.float32(want[f])  # f32 weights survive the text form
            seen.append(key)
    assert sorted(seen) == sorted(docs)


def test_bulk_export_refuses_dimensions_beyond_opensearch(tmp_path):
    with splaredb.open(tmp_path / "wide", model=None, dims=2**31 + 5) as db:
        with db.transaction() as txn:
            txn.insert("a", {2**31 + 1: 0.5})
        export_bulk(db, tmp_path / "ok", flavor="opensearch")  # rank_features: string keys, no limit
        with pytest.raises(splaredb.DimensionLimitError, match="2147483647"):
            export_bulk(db, tmp_path / "no", flavor="opensearch-seismic")
    with pytest.raises(splaredb.InvalidOptionsError):
        cluster.mapping("solr", CollectionIdentity(None, 10, 1.0))


def test_open_target_creates_with_the_database_identity(tmp_path, filled_db, monkeypatch):
    need("pymilvus")
    monkeypatch.chdir(tmp_path)
    with open_target(filled_db, "milvus-lite:t.db", "c") as idx:
        assert idx.identity == CollectionIdentity.of_database(filled_db) and idx.encoder is None
    with pytest.raises(splaredb.InvalidOptionsError, match="unknown target"):
        open_target(filled_db, "elastic://x")


def test_the_shell_runs_the_bridge(tmp_path, filled_db):
    """``splaredb sync`` (the Rust shell) hands over to this package's command line."""
    need("pymilvus")
    from conftest import rust_binary

    shell = rust_binary("SPLAREDB_BIN", "splaredb")
    path = filled_db.path
    filled_db.close()
    env = {**os.environ, "SPLAREDB_PYTHON": sys.executable}
    r = subprocess.run([shell, "sync", path, "milvus-lite:sh.db", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "synced commit" in r.stdout and "40 sent" in r.stdout
    r = subprocess.run([shell, "export-bulk", path, str(tmp_path / "bulk")], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / "bulk" / "bulk-00000.ndjson").exists()
    r = subprocess.run([shell, "sync", path, "nowhere://x"], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "unknown target" in r.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_a_closed_index_refuses_calls(engine, make_index):
    idx = make_index(engine, model=TINY)
    idx.upsert_text("a", "lz4 compresses files")
    idx.close()
    idx.close()
    for call in (lambda: idx.get("a"), lambda: len(idx), lambda: idx.search_text("x"), lambda: idx.delete("a")):
        with pytest.raises(splaredb.ClosedError):
            call()
