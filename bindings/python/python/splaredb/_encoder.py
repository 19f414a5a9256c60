"""The SPLARE encoder: texts to sparse vectors over SAE latents."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

from . import _native
from ._vectors import CsrMatrix, SparseVector, VectorLike, _arrays, _labelled


def _texts(texts: Sequence[str], what: str) -> List[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} takes a list of texts; for one text use the singular method")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"text #{i} is {type(t).__name__}, not str")
    return out


class Encoder:
    """A SPLARE model: a transformer backbone and a sparse autoencoder whose latents are the dimensions of
    the vectors, as a sentence-transformers ``SparseEncoder`` is used.

    ``model`` is a name in the model cache (``$SPLAREDB_HOME/models``, filled by ``tools/setup-models.sh``) or a
    model directory. Encoding releases the GIL.

    >>> enc = splaredb.Encoder("splare-e5-small-ft")                # doctest: +SKIP
    >>> m = enc.encode_documents(["a fast compression tool", "an image viewer"])
    >>> m.shape, m.to_scipy()                                      # CSR, rows = texts
    """

    def __init__(
        self,
        model: str = _native.DEFAULT_MODEL,
        *,
        device: str = "auto",
        precision: str = "auto",
        batch_size: Optional[int] = None,
    ) -> None:
        self._native = _native.Encoder(str(model), device, precision, batch_size)
        self._labels: Optional[Dict[int, str]] = None

    @classmethod
    def _wrap(cls, native: "_native.Encoder") -> "Encoder":
        enc = cls.__new__(cls)
        enc._native = native
        enc._labels = None
        return enc

    @property
    def name(self) -> str:
        """The model's name (``splare.json``)."""
        return self._native.name

    @property
    def path(self) -> str:
        """The model directory."""
        return self._native.path

    @property
    def dims(self) -> int:
        """Number of latents: the vectors' dimension."""
        return self._native.dims

    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda:0``)."""
        return self._native.device

    @property
    def precision(self) -> str:
        """The precision that runs (``f32``, ``bf16``, ...)."""
        return self._native.precision

    @property
    def max_weight(self) -> float:
        """The largest document weight the model produces."""
        return self._native.max_weight

    @property
    def top_k(self) -> Tuple[int, int]:
        """Non-zeros kept per query and per document."""
        return self._native.top_k

    @property
    def identity(self) -> Dict[str, str]:
        """``{name, weights_sha256, config_sha256}``: what a database records of its model."""
        return self._native.identity()

    def labels(self) -> Dict[int, str]:
        """Latent labels shipped with the model (``labels.tsv``): ``{latent: words}``."""
        if self._labels is None:
            self._labels = self._native.labels()
        return dict(self._labels)

    def encode_queries(self, texts: Sequence[str]) -> CsrMatrix:
        """Encodes texts as queries (query prefix, query top-k). A blank text gives an empty row."""
        parts = self._native.encode(_texts(texts, "encode_queries"), True)
        return CsrMatrix._from_bytes(parts, self.dims)

    def encode_documents(self, texts: Sequence[str]) -> CsrMatrix:
        """Encodes texts as documents (document prefix, document top-k). A blank text gives an empty row."""
        parts = self._native.encode(_texts(texts, "encode_documents"), False)
        return CsrMatrix._from_bytes(parts, self.dims)

    def encode_query(self, text: str) -> SparseVector:
        """One query."""
        return self.encode_queries([text])[0]

    def encode_document(self, text: str) -> SparseVector:
        """One document."""
        return self.encode_documents([text])[0]

    def decode(self, vector: Union[VectorLike, str], top: Optional[int] = None) -> List[Tuple[int, float, Optional[str]]]:
        """``(latent, weight, label)`` for a vector's entries, strongest first (``top``: only that many). A
        ``str`` is encoded as a query first. Labels come from the model's ``labels.tsv`` (None where a latent
        has none)."""
        v = self.encode_query(vector) if isinstance(vector, str) else SparseVector(*_arrays(vector))
        if self._labels is None:
            self._labels = self._native.labels()
        return _labelled(v, self._labels, top)

    def __repr__(self) -> str:
        return f"Encoder({self.name!r}, dims={self.dims}, device={self.device!r}, precision={self.precision!r})"
