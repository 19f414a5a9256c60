"""The encoder from Python: the same vectors as the Rust encoder (the fixtures' transformers goldens, which the
Rust tests check too, and the `splaredb model encode` command on the default model), as CSR arrays."""

import json
import subprocess

import numpy as np
import pytest

import splaredb
from conftest import REPO, TINY, rust_binary


def test_matches_the_golden_vectors_in_f32():
    golden = json.loads((TINY / "golden.json").read_text())
    enc = splaredb.Encoder(TINY, device="cpu", precision="f32")
    assert enc.precision == "f32" and enc.device == "cpu"
    for case in golden["text_cases"]:
        m = enc.encode_queries([case["text"]]) if case["kind"] == "query" else enc.encode_documents([case["text"]])
        row = m[0]
        assert row.indices.tolist() == case["indices"], case["name"]
        np.testing.assert_allclose(row.values, case["values"], atol=1e-4, err_msg=case["name"])


def test_csr_layout_and_scipy(tiny_encoder):
    texts = ["a fast compression tool", "", "an image viewer", "   "]
    m = tiny_encoder.encode_documents(texts)
    assert m.shape == (4, tiny_encoder.dims) and len(m) == 4
    assert m.indptr.dtype == np.int64 and m.indices.dtype == np.int32 and m.data.dtype == np.float32
    assert m[1].nnz == 0 and m[3].nnz == 0 and m[0].nnz == tiny_encoder.top_k[1]
    s = m.to_scipy()
    assert s.shape == m.shape and s.nnz == m.nnz
    np.testing.assert_array_equal(s[2].toarray()[0][m[2].indices], m[2].values)
    assert m.to_dicts()[0] == m[0].to_dict()
    one = tiny_encoder.encode_document("a fast compression tool")
    assert one.to_dict() == m[0].to_dict()
    q = tiny_encoder.encode_queries(texts[:1])
    assert q[0].nnz == tiny_encoder.top_k[0]
    with pytest.raises(TypeError, match="list of texts"):
        tiny_encoder.encode_queries("one string")
    with pytest.raises(TypeError, match="not str"):
        tiny_encoder.encode_documents(["ok", 3])


def test_batching_does_not_change_vectors(tiny_encoder):
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(40)]
    together = tiny_encoder.encode_documents(texts)
    small = splaredb.Encoder(TINY, batch_size=3)
    apart = small.encode_documents(texts)
    np.testing.assert_array_equal(together.indptr, apart.indptr)
    np.testing.assert_array_equal(together.indices, apart.indices)
    np.testing.assert_allclose(together.data, apart.data, rtol=1e-5, atol=1e-6)


def test_decode(tiny_encoder):
    v = tiny_encoder.encode_query("a fast compression tool")
    rows = tiny_encoder.decode(v, top=3)
    assert len(rows) == 3
    assert [w for _, w, _ in rows] == sorted((w for _, w, _ in rows), reverse=True)
    assert rows[0][0] == int(v.indices[np.argmax(v.values)])
    assert tiny_encoder.decode("a fast compression tool", top=3) == rows


def test_identity_matches_what_a_database_records(tiny_encoder, db):
    assert db.model == tiny_encoder.identity


def test_parity_with_the_rust_command_on_the_default_model(default_model):
    binary = rust_binary("SPLAREDB_BIN", "splaredb")
    enc = splaredb.Encoder(default_model)
    for text, query in [("how to compress files quickly", True), ("An image viewer for the desktop.", False)]:
        args = [str(binary), "model", "encode", default_model, text] + (["--query"] if query else [])
        out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=REPO).stdout.splitlines()
        rust = {int(line.split("\t")[0]): float(line.split("\t")[1]) for line in out[1:]}
        mine = (enc.encode_query(text) if query else enc.encode_document(text)).to_dict()
        assert set(mine) == set(rust)
        for latent, w in rust.items():
            assert abs(mine[latent] - w) <= 5e-5, (latent, mine[latent], w)
