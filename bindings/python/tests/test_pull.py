"""splaredb.pull_model against a local Hugging Face Hub mirror (an HTTP server on 127.0.0.1 serving the two
endpoints the client uses, from the tiny fixture models laid out as repositories): the pulled model encodes as
the fixture does, and the Hub's refusals become the exceptions of splaredb.errors."""

import hashlib
import http.server
import json
import threading

import pytest

import splaredb
from conftest import REPO

XLMR = REPO / "tests" / "fixtures" / "tiny-xlmr"


def _files(directory, prefix=""):
    out = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            rel = p.relative_to(directory).as_posix()
            out[f"{prefix}/{rel}" if prefix else rel] = p.read_bytes()
    return out


class Mirror:
    """Repositories in memory, served with commits, ETags (SHA-256) and ranges as the Hub serves them."""

    def __init__(self):
        self.repos = {}
        self.gated = {}
        self.requests = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _error(self, status, code):
                body = json.dumps({"error": code}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                mirror.requests.append(self.path)
                if self.path.startswith("/api/models/"):
                    repo, _, rev = self.path[len("/api/models/"):].partition("/revision/")
                    file = None
                else:
                    repo, _, rest = self.path[1:].partition("/resolve/")
                    rev, _, file = rest.partition("/")
                if repo in mirror.gated:
                    return self._error(mirror.gated[repo], "GatedRepo")
                r = mirror.repos.get(repo)
                if r is None or rev not in ("main", r["commit"]):
                    return self._error(404, "RepositoryNotFound")
                if file is None:
                    body = json.dumps({"sha": r["commit"], "siblings": [{"rfilename": f} for f in r["files"]]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    return self.wfile.write(body)
                data = r["files"].get(file)
                if data is None:
                    return self._error(404, "EntryNotFound")
                start, end = 0, len(data) - 1
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes="):
                    a, _, b = rng[6:].partition("-")
                    start, end = int(a), (int(b) if b else len(data) - 1)
                body = data[start : end + 1]
                self.send_response(206)
                self.send_header("x-repo-commit", r["commit"])
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, repo, files):
        commit = hashlib.sha1(json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode())
        self.repos[repo] = {"commit": commit.hexdigest(), "files": files}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror():
    m = Mirror()
    m.add("test/tiny-xlmr", {f: (XLMR / f).read_bytes() for f in ("config.json", "tokenizer.json", "model.safetensors")})
    m.add("test/tiny-xlmr-saes", _files(XLMR / "sae", "blocks.2.hook_resid_post"))
    yield m
    m.close()


def _pull(mirror, tmp_path, **kw):
    args = dict(
        backbone="test/tiny-xlmr",
        sae="test/tiny-xlmr-saes:blocks.2.hook_resid_post",
        sae_layout="sae_lens",
        name="tiny-xlmr",
        layer=3,
        pooling="all",
        top_k_query=8,
        top_k_document=32,
        max_length=16,
        out=tmp_path / "models" / "tiny-xlmr",
        endpoint=mirror.url,
        cache_dir=tmp_path / "hf",
        progress=False,
    )
    args.update(kw)
    return splaredb.pull_model(**args)


def test_a_pulled_model_encodes_like_the_fixture_and_opens_a_database(mirror, tmp_path):
    result = _pull(mirror, tmp_path)
    assert not result["up_to_date"] and result["files"] == 5 and result["bytes"] > 0
    assert [c[0] for c in result["commits"]] == ["backbone", "sae"]
    assert all(len(c[3]) == 40 for c in result["commits"])
    path = result["path"]
    assert (path / "pull.json").is_file() and (path / "sae" / "cfg.json").is_file()
    texts = ["the quick brown fox", "Strategie und strategy"]
    pulled, fixture = splaredb.Encoder(path), splaredb.Encoder(XLMR)
    for t in texts:
        assert pulled.encode_document(t).to_dict() == fixture.encode_document(t).to_dict()
    with splaredb.open(tmp_path / "db", model=path) as db:
        with db.transaction() as txn:
            txn.insert_text("a", "the quick brown fox")
        assert db.search_text("quick fox", k=1)[0].key == "a"
    assert _pull(mirror, tmp_path)["up_to_date"]


def test_hub_refusals_are_typed(mirror, tmp_path):
    mirror.gated["test/tiny-xlmr"] = 401
    with pytest.raises(splaredb.HubAccessError, match="HF_TOKEN") as e:
        _pull(mirror, tmp_path)
    assert isinstance(e.value, PermissionError)
    mirror.gated.clear()
    with pytest.raises(splaredb.HubNotFoundError, match="cfg.json"):
        _pull(mirror, tmp_path, sae="test/tiny-xlmr-saes:elsewhere")
    with pytest.raises(splaredb.HubNotFoundError, match="no-such"):
        _pull(mirror, tmp_path, backbone="test/no-such")
    with pytest.raises(splaredb.IncompatibleModelError, match="has 3 layers"):
        _pull(mirror, tmp_path, layer=7)
    with pytest.raises(splaredb.HubUnreachableError):
        _pull(mirror, tmp_path, endpoint="http://127.0.0.1:1")
    with pytest.raises(splaredb.InvalidOptionsError, match="not a repository id"):
        _pull(mirror, tmp_path, backbone="a/b/c")
    with pytest.raises(splaredb.InvalidOptionsError, match="setup-models.sh"):
        splaredb.pull_model(splaredb.DEFAULT_MODEL)
    with pytest.raises(ValueError, match="not an activation"):
        _pull(mirror, tmp_path, sae_activation="gelu")
    with pytest.raises(ValueError, match="sae_layout"):
        splaredb.pull_model(backbone="a/b", name="x", sae="a/s:p")
    assert not (tmp_path / "models" / "tiny-xlmr").exists()


def test_presets_are_listed():
    names = [p["name"] for p in splaredb.model_presets()]
    assert "splare-llama3.1-8b-l26" in names and "splare-gemma2-2b-l16" in names
    assert all(p["gated"] for p in splaredb.model_presets())
