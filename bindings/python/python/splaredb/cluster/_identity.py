"""What a collection records of the model that made its vectors, and the fingerprint of a stored document."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .._native import __version__
from .._vectors import SparseVector
from ..errors import CollectionFormatError, ModelMismatchError

#: The identity record's format tag and version.
FORMAT = "splaredb-collection"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CollectionIdentity:
    """The model identity, dimension and maximum weight a collection was made with, as a splaredb database
    records its model: vectors of another model are meaningless against it, so a mismatch is refused.

    ``model`` is ``{name, weights_sha256, config_sha256}`` (None for a collection of application vectors).
    """

    model: Optional[Dict[str, str]]
    dims: int
    max_weight: float

    @classmethod
    def of_encoder(cls, encoder: Any) -> "CollectionIdentity":
        """The identity of vectors made by ``encoder`` (a :class:`splaredb.Encoder`)."""
        return cls(dict(encoder.identity), int(encoder.dims), float(encoder.max_weight))

    @classmethod
    def of_database(cls, db: Any) -> "CollectionIdentity":
        """The identity of a splaredb database's vectors (its recorded model, dims and max weight)."""
        info = db.info()
        return cls(db.model, int(info["dims"]), float(info["max_weight"]))

    @property
    def model_name(self) -> Optional[str]:
        """The model's name, or None."""
        return self.model["name"] if self.model else None

    def to_json(self) -> str:
        """The record as stored with a collection."""
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "model": self.model,
                "dims": self.dims,
                "max_weight": self.max_weight,
                "splaredb": __version__,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str, where: str) -> "CollectionIdentity":
        """Parses a stored record; ``where`` names the collection in errors."""
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise CollectionFormatError(f"{where}: the splaredb identity record is not JSON ({e})") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise CollectionFormatError(f"{where}: not a splaredb collection (no identity record)")
        if raw.get("version") != FORMAT_VERSION:
            raise CollectionFormatError(
                f"{where}: identity record version {raw.get('version')!r}; this splaredb reads {FORMAT_VERSION}"
            )
        model = raw.get("model")
        try:
            if model is not None:
                model = {k: str(model[k]) for k in ("name", "weights_sha256", "config_sha256")}
            return cls(model, int(raw["dims"]), float(raw["max_weight"]))
        except (KeyError, TypeError, ValueError) as e:
            raise CollectionFormatError(f"{where}: damaged identity record ({e!r})") from None

    def check_model(self, other: "CollectionIdentity", where: str) -> None:
        """Raises :class:`splaredb.ModelMismatchError` unless ``other`` has the same model and dimension (a
        collection of application vectors accepts any vectors of its dimension)."""
        if other.dims != self.dims:
            raise ModelMismatchError(
                f"{where} holds vectors of dimension {self.dims} ({self._describe()}), not {other.dims} "
                f"({other._describe()})"
            )
        if self.model is not None and other.model is not None and other.model != self.model:
            raise ModelMismatchError(
                f"{where} was made with model {self._describe()}, not {other._describe()}: its vectors are not "
                "comparable; use that model, or another collection"
            )
        if (self.model is None) != (other.model is None):
            raise ModelMismatchError(
                f"{where} was made with {self._describe()}; it cannot take {other._describe()}"
            )

    def _describe(self) -> str:
        if self.model is None:
            return "application vectors (no model)"
        m = self.model
        return f"{m['name']} (weights {m['weights_sha256'][:12]}, config {m['config_sha256'][:12]})"


def fingerprint(vector: SparseVector, text: Optional[str], metadata: Any) -> str:
    """A 128-bit digest of a document's stored content (vector at full precision, text, metadata): what a sync
    compares to find the documents that changed."""
    h = hashlib.blake2b(digest_size=16)
    ids = vector.indices.astype("<u4", copy=False)
    weights = vector.values.astype("<f4", copy=False)
    h.update(len(ids).to_bytes(8, "little"))
    h.update(ids.tobytes())
    h.update(weights.tobytes())
    for part in (text, None if metadata is None else json.dumps(metadata, sort_keys=True, separators=(",", ":"))):
        if part is None:
            h.update(b"\x00")
        else:
            data = part.encode("utf-8")
            h.update(b"\x01" + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()

