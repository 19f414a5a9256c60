"""The Python package and the Rust tools agree: the same hits as the Rust shell on the same database, and
search_batch fed to pytrec_eval gives the nDCG@10 splaredb-eval reports on beir-mini."""

import json
import subprocess

import pytest
import pytrec_eval

import splaredb
from conftest import REPO, rust_binary


@pytest.fixture(scope="module")
def beir_db(tmp_path_factory, default_model, beir_mini):
    path = tmp_path_factory.mktemp("parity") / "db"
    with splaredb.open(path, model=default_model) as db:
        report = db.import_jsonl(beir_mini / "corpus.jsonl", progress=False)
        assert report.documents == 24
        db.compact()
    return path


def test_same_hits_as_the_rust_shell(beir_db, default_model):
    binary = rust_binary("SPLAREDB_BIN", "splaredb")
    queries = ["compress files quickly with lz4", "view pictures and photos", "synchronize clock with time servers"]
    with splaredb.open(beir_db, model=default_model, read_only=True) as db:
        for q in queries:
            mine = db.search_text(q, k=10)
            out = subprocess.run(
                [str(binary), "-readonly", "-json", str(beir_db), f".search --k 10 {q}"],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            ).stdout
            rust = json.loads(out)
            assert [h.key for h in mine] == [r["key"] for r in rust], q
            for h, r in zip(mine, rust):
                assert abs(h.score - r["score"]) <= 5e-4, (q, h, r)


def read_beir(root):
    queries = {}
    for line in (root / "queries.jsonl").read_text().splitlines():
        obj = json.loads(line)
        queries[str(obj["_id"])] = obj["text"]
    qrels = {}
    for n, line in enumerate((root / "qrels" / "test.tsv").read_text().splitlines()):
        if n == 0:
            continue
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    return queries, qrels


def test_ndcg_matches_splaredb_eval(beir_db, beir_mini, default_model, tmp_path):
    queries, qrels = read_beir(beir_mini)
    # splaredb-eval evaluates the judged queries with at least one relevant document.
    judged = {q: rels for q, rels in qrels.items() if any(g > 0 for g in rels.values())}
    with splaredb.open(beir_db, model=default_model, read_only=True) as db:
        run = db.search_batch({q: queries[q] for q in judged}, k=10)
    scores = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10"}).evaluate(run)
    mine = sum(s["ndcg_cut_10"] for s in scores.values()) / len(judged)

    binary = rust_binary("SPLAREDB_EVAL_BIN", "splaredb-eval")
    out = tmp_path / "eval.json"
    subprocess.run(
        [str(binary), "run", "--dataset", str(beir_mini), "--system", "splaredb", "--model", default_model,
         "--work", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    report = json.loads(out.read_text())
    assert report["queries"] == len(judged)
    assert abs(mine - report["ndcg_at_10"]) <= 1e-4, (mine, report["ndcg_at_10"])
