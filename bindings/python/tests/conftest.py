"""Shared fixtures: the tiny BERT model of tests/fixtures (fast, for the API tests), the default model from the
model cache (for parity with the Rust tools), and the Rust binaries the parity tests compare against."""

import os
import pathlib
import shutil

import pytest

import splaredb

REPO = pathlib.Path(__file__).resolve().parents[3]
TINY = REPO / "tests" / "fixtures" / "tiny-bert"
BEIR_MINI = REPO / "tests" / "fixtures" / "beir-mini"


def rust_binary(env: str, name: str) -> pathlib.Path:
    """A binary of the workspace: $env when set (it must then exist), else target/release/<name> (the test is
    skipped when it was not built; CI sets the variables, so there it always runs)."""
    if os.environ.get(env):
        path = pathlib.Path(os.environ[env])
        assert path.is_file(), f"{env}={path} does not exist"
        return path
    path = REPO / "target" / "release" / name
    if not path.is_file():
        pytest.skip(f"{name} is not built (cargo build --release) and {env} is not set")
    return path


def default_model_installed() -> bool:
    try:
        splaredb.Encoder(splaredb.DEFAULT_MODEL)
        return True
    except splaredb.EncoderError:
        return False


@pytest.fixture
def db(tmp_path):
    """A new database with the tiny model."""
    with splaredb.open(tmp_path / "db", model=TINY) as d:
        yield d


@pytest.fixture(scope="session")
def tiny_encoder():
    return splaredb.Encoder(TINY)


@pytest.fixture(scope="session")
def default_model():
    if os.environ.get("SPLAREDB_REQUIRE_MODELS") != "1" and not default_model_installed():
        pytest.skip(f"{splaredb.DEFAULT_MODEL} is not installed (tools/setup-models.sh)")
    return splaredb.DEFAULT_MODEL


@pytest.fixture(scope="session")
def beir_mini(tmp_path_factory):
    """A copy of the beir-mini fixture (corpus, queries, qrels)."""
    dst = tmp_path_factory.mktemp("beir") / "beir-mini"
    shutil.copytree(BEIR_MINI, dst)
    return dst
