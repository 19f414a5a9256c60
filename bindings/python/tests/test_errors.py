"""Every bad input gives its typed exception, with a message naming the key, file or latent; nothing is
written by a failed call."""

import math
import pathlib

import numpy as np
import pytest

import splaredb
from conftest import TINY

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_hierarchy():
    for name in splaredb.errors.__all__:
        assert issubclass(getattr(splaredb, name), splaredb.Error)
    assert issubclass(splaredb.InvalidVectorError, ValueError)
    assert issubclass(splaredb.IoError, OSError)
    assert issubclass(splaredb.ClosedError, splaredb.MisuseError)
    assert issubclass(splaredb.UnsupportedVersionError, splaredb.CorruptError)


@pytest.mark.parametrize(
    "vector, message",
    [
        ({300: 1.0}, "latent 300 is out of range"),
        ({1: -1.0}, "negative"),
        ({1: math.nan}, "not finite"),
        ({1: math.inf}, "not finite"),
        ({1: 100.0}, "exceeds"),
        (([1, 1], [1.0, 2.0]), "more than once"),
        (([1, 2], [1.0]), "2 latent ids but 1 weights"),
        (([1.5], [1.0]), "must be integers"),
        (([-1], [1.0]), "outside"),
        (({}), "empty"),
        ((["a"], [1.0]), "must be integers"),
        (([1], ["x"]), "must be numbers"),
    ],
)
def test_invalid_vectors(db, vector, message):
    with db.transaction() as txn:
        with pytest.raises(splaredb.InvalidVectorError, match=message):
            txn.insert("k", vector)
        assert "k" not in txn
    if message not in ("exceeds", "empty"):  # document-only limits
        with pytest.raises(splaredb.InvalidVectorError, match=message):
            db.search(vector)


def test_vector_types(db):
    with pytest.raises(TypeError, match="sparse vector"):
        db.search("not a vector")
    with pytest.raises(splaredb.InvalidVectorError, match="one row"):
        import scipy.sparse

        db.search(scipy.sparse.csr_matrix(np.ones((2, 3))))


def test_keys(db):
    with db.transaction() as txn:
        with pytest.raises(splaredb.InvalidKeyError, match="must not be empty"):
            txn.insert_text("", "text")
        with pytest.raises(splaredb.InvalidKeyError, match="longer than the limit"):
            txn.insert("x" * (splaredb.MAX_KEY_LEN + 1), {1: 1.0})
        with pytest.raises(TypeError, match="str or bytes"):
            txn.insert_text(5, "text")
        txn.insert_text("dup", "text")
        with pytest.raises(splaredb.DuplicateKeyError, match='"dup"'):
            txn.insert("dup", {1: 1.0})


def test_texts_and_metadata(db):
    with db.transaction() as txn:
        with pytest.raises(splaredb.EmptyTextError, match='"blank"'):
            txn.insert_text("blank", " \n\t")
        with pytest.raises(splaredb.DocumentTooLargeError, match='"big"'):
            txn.insert_text("big", "x" * (splaredb.MAX_TEXT_LEN + 1))
        with pytest.raises(TypeError, match="not JSON-serialisable"):
            txn.insert_text("meta", "text", metadata={"f": object()})
        with pytest.raises(TypeError, match="not str"):
            txn.insert_text("t", b"bytes are not text")
        with pytest.raises(splaredb.DocumentTooLargeError, match="metadata"):
            txn.insert("m", {1: 1.0}, metadata="x" * splaredb.MAX_METADATA_LEN)
    assert len(db) == 0


def test_options(tmp_path, db):
    with pytest.raises(splaredb.InvalidOptionsError, match="query_cut"):
        db.search_text("x", exact=False, query_cut=1.5)
    with pytest.raises(ValueError, match="durability"):
        splaredb.open(tmp_path / "x", model=None, dims=8, durability="sometimes")
    with pytest.raises(ValueError, match="k must be"):
        db.search_text("x", k=-1)
    with pytest.raises(splaredb.InvalidOptionsError, match="dims"):
        splaredb.open(tmp_path / "nodims", model=None)
    with pytest.raises(ValueError, match="precision"):
        splaredb.Encoder(TINY, precision="fp3")


def test_missing_things(tmp_path):
    with pytest.raises(splaredb.NotFoundError, match="no splaredb database"):
        splaredb.open(tmp_path / "absent", model=None, create=False)
    with pytest.raises(splaredb.EncoderError, match="no model"):
        splaredb.Encoder("no-such-model")
    with pytest.raises(splaredb.EncoderError, match="missing file"):
        splaredb.Encoder(tmp_path)


def test_model_mismatch_read_only_no_encoder(tmp_path):
    path = tmp_path / "db"
    with splaredb.open(path, model=TINY) as db:
        with db.transaction() as txn:
            txn.insert_text("a", "some text")
    with pytest.raises(splaredb.ModelMismatchError, match="tiny-bert"):
        splaredb.open(path, model=REPO / "tests" / "fixtures" / "tiny-xlmr")
    with splaredb.open(path, model=None) as vec:
        with pytest.raises(splaredb.NoEncoderError):
            vec.search_text("some text")
        assert len(vec.search({1: 1.0}, k=1)) <= 1
    with splaredb.open(path, model=TINY, read_only=True) as ro:
        assert ro.search_text("some text", k=1)[0].key == "a"
        with pytest.raises(splaredb.ReadOnlyError):
            ro.transaction()


def test_closed_handle_and_released_snapshot(tmp_path):
    db = splaredb.open(tmp_path / "db", model=TINY)
    snap = db.snapshot()
    db.close()
    for call in [lambda: db.search({1: 1.0}), lambda: len(db), lambda: db.info(), db.checkpoint, db.transaction]:
        with pytest.raises(splaredb.ClosedError, match="is closed"):
            call()
    assert snap.search({1: 1.0}) == []  # a snapshot outlives its handle
    snap.release()
    with pytest.raises(splaredb.MisuseError, match="released"):
        snap.search({1: 1.0})


def test_corrupt_segment(tmp_path):
    path = tmp_path / "db"
    with splaredb.open(path, model=TINY) as db:
        with db.transaction() as txn:
            for i in range(10):
                txn.insert_text(f"d{i}", f"text {i}")
        db.checkpoint()
    (seg,) = [p for p in path.iterdir() if p.suffix == ".seg"]
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    with pytest.raises(splaredb.CorruptError, match=seg.name):
        splaredb.open(path, model=TINY)


def test_import_jsonl_bad_lines_write_nothing(db, tmp_path):
    cases = {
        "notjson": ('{"id": "a", "text": "ok"}\n{oops\n', ":2: not JSON"),
        "noid": ('{"text": "no id"}\n', ':1: missing "id"'),
        "notext": ('{"id": "a"}\n', ':1: missing "text"'),
        "array": ("[1, 2]\n", ":1: a line is a JSON object"),
    }
    for name, (content, message) in cases.items():
        p = tmp_path / f"{name}.jsonl"
        p.write_text(content)
        with pytest.raises(ValueError, match=f"{name}.jsonl{message}"):
            db.import_jsonl(p, progress=False)
    assert len(db) == 0
    with pytest.raises(FileNotFoundError):
        db.import_jsonl(tmp_path / "absent.jsonl")
    with pytest.raises(TypeError, match="document #0"):
        db.import_documents([42])


def test_io_error_names_the_file(tmp_path):
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("x")
    with pytest.raises(splaredb.IoError, match="plain-file") as info:
        splaredb.open(not_a_dir, model=None, dims=8)
    assert isinstance(info.value, OSError)
