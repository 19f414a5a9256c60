#!/usr/bin/env bash
# Builds the Python package from source in a fresh virtual environment and runs its tests (pytest), then the
# BEIR example on the beir-mini fixture. The parity tests compare with the Rust shell and splaredb-eval, built
# here in release mode, on the default model (tools/setup-models.sh installs it). The cluster extras (pymilvus +
# milvus-lite 2.5.1, qdrant-edge-py, ray) are installed too: the bridge's tests run against those real engines.
#
#   bindings/python/run-tests.sh [VENV_DIR]      (default: target/python-venv, recreated)
set -euo pipefail
# An explicit VENV_DIR is relative to the caller's directory; the default to the repository's. Either is made
# absolute, since the tests run from another directory.
venv="${1:-}"
[ -z "$venv" ] || [[ "$venv" = /* ]] || venv="$PWD/$venv"
cd "$(dirname "$0")/../.."
[ -n "$venv" ] || venv="$PWD/target/python-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "./bindings/python[cluster]" pytest scipy pytrec-eval-terrier
cargo build --release --quiet -p splaredb-cli -p splaredb-eval
export SPLAREDB_BIN="$PWD/target/release/splaredb" SPLAREDB_EVAL_BIN="$PWD/target/release/splaredb-eval"
export SPLAREDB_REQUIRE_MODELS=1 SPLAREDB_REQUIRE_CLUSTER=1
# Run from outside the source tree so the installed package (not bindings/python/python) is imported.
(cd bindings/python/tests && "$venv/bin/python" -m pytest -q -p no:cacheprovider .)
"$venv/bin/python" examples/python/beir_eval.py tests/fixtures/beir-mini
