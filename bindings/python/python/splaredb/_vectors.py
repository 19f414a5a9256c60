"""Sparse vectors in Python: what splaredb accepts and what it returns."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np

from .errors import InvalidVectorError

_U32_MAX = 2**32 - 1


class SparseVector(NamedTuple):
    """A sparse vector over SAE latents: ``indices`` (``uint32``, ascending) and ``values`` (``float32``).

    It is also an ``(ids, weights)`` pair, so it can be passed wherever a vector is accepted.
    """

    indices: np.ndarray
    values: np.ndarray

    @property
    def nnz(self) -> int:
        """Number of non-zero entries."""
        return int(self.indices.shape[0])

    def to_dict(self) -> Dict[int, float]:
        """``{latent: weight}``."""
        return {int(i): float(w) for i, w in zip(self.indices, self.values)}

    def dot(self, other: "VectorLike") -> float:
        """Sparse dot product with another vector."""
        ids, weights = _arrays(other)
        common, a, b = np.intersect1d(self.indices, ids, assume_unique=True, return_indices=True)
        del common
        return float(np.dot(self.values[a].astype(np.float64), weights[b].astype(np.float64)))

    @classmethod
    def _from_bytes(cls, ids: bytes, weights: bytes) -> "SparseVector":
        return cls(np.frombuffer(ids, dtype="<u4"), np.frombuffer(weights, dtype="<f4"))


#: What splaredb accepts as a sparse vector: ``{latent: weight}``, an ``(ids, weights)`` pair of sequences or
#: numpy arrays (a :class:`SparseVector` is one), or a one-row ``scipy.sparse`` matrix.
VectorLike = Union[Mapping[int, float], Tuple[Any, Any], SparseVector, Any]


def _is_scipy_sparse(v: Any) -> bool:
    return hasattr(v, "tocsr") and hasattr(v, "shape") and hasattr(v, "nnz")


def _arrays(vector: VectorLike) -> Tuple[np.ndarray, np.ndarray]:
    """Latent ids (``uint32``) and weights (``float32``), sorted by latent."""
    if isinstance(vector, Mapping):
        items = sorted(vector.items())
        raw_ids: Any = [k for k, _ in items]
        raw_weights: Any = [w for _, w in items]
    elif _is_scipy_sparse(vector):
        if len(vector.shape) != 2 or vector.shape[0] != 1:
            raise InvalidVectorError(f"a scipy sparse vector must have one row, not shape {tuple(vector.shape)}")
        row = vector.tocsr(copy=True)
        row.sum_duplicates()
        row.eliminate_zeros()
        raw_ids, raw_weights = row.indices, row.data
    elif isinstance(vector, (tuple, list)) and len(vector) == 2:
        raw_ids, raw_weights = vector
    else:
        raise TypeError(
            "a sparse vector is a {latent: weight} dict, an (ids, weights) pair or a one-row scipy.sparse "
            f"matrix, not {type(vector).__name__}"
        )
    ids = np.asarray(raw_ids)
    if ids.size == 0:
        ids = ids.astype(np.int64)
    if ids.ndim != 1:
        raise InvalidVectorError(f"latent ids must be one-dimensional, not of shape {ids.shape}")
    if not (np.issubdtype(ids.dtype, np.integer) and not np.issubdtype(ids.dtype, np.bool_)):
        raise InvalidVectorError(f"latent ids must be integers, not {ids.dtype}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) > _U32_MAX):
        bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise InvalidVectorError(f"latent id {bad} is outside 0..{_U32_MAX}")
    try:
        weights = np.asarray(raw_weights, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidVectorError(f"weights must be numbers: {e}") from None
    if weights.ndim != 1:
        raise InvalidVectorError(f"weights must be one-dimensional, not of shape {weights.shape}")
    ids = ids.astype("<u4")
    if ids.shape == weights.shape and ids.size > 1 and np.any(ids[1:] < ids[:-1]):
        order = np.argsort(ids, kind="stable")
        ids, weights = ids[order], weights[order]
    return ids, weights.astype("<f4")


def _to_bytes(vector: VectorLike) -> Tuple[bytes, bytes]:
    ids, weights = _arrays(vector)
    return ids.tobytes(), weights.tobytes()


class CsrMatrix:
    """Encoded texts, one row each, in compressed sparse row form (``indptr``, ``indices``, ``data``) as numpy
    arrays; :meth:`to_scipy` gives a ``scipy.sparse.csr_matrix``. Rows are :class:`SparseVector` when indexed or
    iterated."""

    __slots__ = ("indptr", "indices", "data", "shape")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: Tuple[int, int]):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.shape = shape

    @classmethod
    def _from_bytes(cls, parts: Tuple[bytes, bytes, bytes], dims: int) -> "CsrMatrix":
        indptr = np.frombuffer(parts[0], dtype="<i8")
        indices = np.frombuffer(parts[1], dtype="<i4")
        data = np.frombuffer(parts[2], dtype="<f4")
        return cls(indptr, indices, data, (int(indptr.shape[0]) - 1, dims))

    @property
    def nnz(self) -> int:
        """Stored non-zeros."""
        return int(self.data.shape[0])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, row: int) -> SparseVector:
        if row < 0:
            row += self.shape[0]
        if not 0 <= row < self.shape[0]:
            raise IndexError(f"row {row} of a matrix of {self.shape[0]} rows")
        a, b = int(self.indptr[row]), int(self.indptr[row + 1])
        return SparseVector(self.indices[a:b].astype("<u4"), self.data[a:b])

    def __iter__(self) -> Iterator[SparseVector]:
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        return f"CsrMatrix(shape={self.shape}, nnz={self.nnz})"

    def to_scipy(self) -> Any:
        """This matrix as ``scipy.sparse.csr_matrix`` (needs scipy: ``pip install splaredb[scipy]``)."""
        try:
            import scipy.sparse
        except ImportError:
            raise ImportError("CsrMatrix.to_scipy needs scipy (pip install scipy)") from None
        return scipy.sparse.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    def to_dicts(self) -> List[Dict[int, float]]:
        """Each row as ``{latent: weight}``."""
        return [row.to_dict() for row in self]


def _labelled(vector: SparseVector, labels: Mapping[int, str], top: Optional[int]) -> List[Tuple[int, float, Optional[str]]]:
    order = np.lexsort((vector.indices, -vector.values))
    if top is not None:
        order = order[:top]
    return [(int(vector.indices[i]), float(vector.values[i]), labels.get(int(vector.indices[i]))) for i in order]
