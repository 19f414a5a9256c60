"""splaredb: an embedded on-disk database for learned sparse retrieval (SPLARE: sparse-autoencoder latents).

>>> import splaredb
>>> with splaredb.open("my-db") as db:                              # doctest: +SKIP
...     with db.transaction() as txn:
...         txn.insert_text("doc-1", "A fast compression tool", metadata={"lang": "en"})
...     hits = db.search_text("compress files", k=10)

The engine and the encoder are the Rust crate ``splaredb``; this package is a thin layer over them. Errors are
the classes of :mod:`splaredb.errors`, all subclasses of :class:`splaredb.Error`.
"""

from ._native import DEFAULT_MODEL, MAX_KEY_LEN, MAX_METADATA_LEN, MAX_TEXT_LEN, __version__
from ._database import (
    APPROXIMATE_QUERY_CUT,
    DEFAULT_CANDIDATES,
    Database,
    Document,
    Hit,
    ImportProgress,
    ImportReport,
    Key,
    Snapshot,
    Transaction,
    open,
)
from ._encoder import Encoder
from ._hub import model_presets, pull_model
from ._vectors import CsrMatrix, SparseVector, VectorLike
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

__all__ = [
    "open",
    "Database",
    "Transaction",
    "Snapshot",
    "Document",
    "Hit",
    "ImportReport",
    "ImportProgress",
    "Encoder",
    "pull_model",
    "model_presets",
    "SparseVector",
    "CsrMatrix",
    "VectorLike",
    "Key",
    "DEFAULT_MODEL",
    "APPROXIMATE_QUERY_CUT",
    "DEFAULT_CANDIDATES",
    "MAX_KEY_LEN",
    "MAX_TEXT_LEN",
    "MAX_METADATA_LEN",
    "__version__",
    *_errors_all,
]
