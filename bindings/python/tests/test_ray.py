"""splaredb.ray on a real local Ray cluster of 2 CPUs. Skipped when ray is missing, unless
SPLAREDB_REQUIRE_CLUSTER=1 (CI sets it)."""

import json
import os
import sys

import numpy as np
import pytest

import splaredb
from conftest import TINY

if os.environ.get("SPLAREDB_REQUIRE_CLUSTER") != "1":
    pytest.importorskip("ray")
import ray  # noqa: E402

import splaredb.ray as sray  # noqa: E402

DOCS = [
    {"_id": f"d{i:03}", "text": f"document {i} about {'compression' if i % 2 else 'images'} and {i * 7 % 13} things"}
    for i in range(48)
]


@pytest.fixture(scope="module")
def cluster():
    # A loaded 2-core CI machine can take longer than Ray's default wait for its node to register.
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as e:  # noqa: BLE001 - the node's start timed out on a loaded machine: once more
        print(f"ray.init failed ({e}); starting the local cluster again", file=sys.stderr)
        ray.shutdown()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def same(a, b):
    return a.indices.tobytes() == b.indices.tobytes() and a.values.tobytes() == b.values.tobytes()


def test_encode_corpus_is_identical_to_the_encoder_and_resumes(cluster, tmp_path, tiny_encoder):
    out = tmp_path / "vectors"
    r = sray.encode_corpus(DOCS, out, str(TINY), num_workers=2, shard_size=10)
    assert (r.documents, r.shards, r.resumed, r.workers) == (48, 5, 0, 2)
    ident = json.loads((out / "identity.json").read_text())
    assert ident["model"] == tiny_encoder.identity and ident["dims"] == tiny_encoder.dims
    got = list(sray.read_encoded(out))
    direct = tiny_encoder.encode_documents([d["text"] for d in DOCS])
    assert [g.key for g in got] == [d["_id"] for d in DOCS]
    assert all(same(g.vector, direct[i]) for i, g in enumerate(got))
    assert [g.text for g in got] == [d["text"] for d in DOCS]
    # A shard lost (an interrupted run): the rerun encodes only it.
    (out / "part-00003.parquet").unlink()
    r = sray.encode_corpus(DOCS, out, str(TINY), num_workers=2, shard_size=10)
    assert (r.resumed, r.documents) == (4, 48)
    assert all(same(g.vector, direct[i]) for i, g in enumerate(sray.read_encoded(out)))
    with pytest.raises(splaredb.InvalidOptionsError, match="shard_size"):
        sray.encode_corpus(DOCS, out, str(TINY), shard_size=7)


def test_encoded_vectors_load_into_a_database(cluster, tmp_path, tiny_encoder):
    out = tmp_path / "vectors"
    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps({**d, "metadata": {"n": i}}) + "\n" for i, d in enumerate(DOCS)))
    sray.encode_corpus(src, out, str(TINY), num_workers=1, shard_size=16)
    with splaredb.open(tmp_path / "db", model=TINY) as db:
        assert sray.load_encoded(db, out, batch_size=20) == 48
        assert len(db) == 48
        d = db.get("d005")
        assert same(d.vector, tiny_encoder.encode_document(DOCS[5]["text"])) and d.metadata == {"n": 5}
        with db.transaction() as txn:
            txn.insert_text("native", DOCS[7]["text"])
        assert same(db.get("native").vector, db.get("d007").vector)
    with splaredb.open(tmp_path / "other", model=None, dims=tiny_encoder.dims + 1) as other:
        with pytest.raises(splaredb.ModelMismatchError):
            sray.load_encoded(other, out)


def test_map_batches_udf(cluster, tiny_encoder):
    ds = ray.data.from_items([{"id": d["_id"], "text": d["text"]} for d in DOCS[:20]])
    rows = sray.encode_dataset(ds, str(TINY), num_workers=2, batch_size=6).take_all()
    by_id = {r["id"]: r for r in rows}
    direct = tiny_encoder.encode_documents([d["text"] for d in DOCS[:20]])
    for i, d in enumerate(DOCS[:20]):
        r = by_id[d["_id"]]
        v = splaredb.SparseVector(np.asarray(r["indices"], "<u4"), np.asarray(r["values"], "<f4"))
        assert same(v, direct[i])


def test_bad_input(cluster, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b"}\n')
    with pytest.raises(splaredb.InvalidOptionsError, match="bad.jsonl:2"):
        sray.encode_corpus(bad, tmp_path / "o", str(TINY))
    with pytest.raises(splaredb.EngineError):
        sray.encode_corpus(DOCS[:3], tmp_path / "o2", str(tmp_path / "no-model"))
    with pytest.raises(splaredb.InvalidOptionsError, match="identity.json"):
        list(sray.read_encoded(tmp_path))
