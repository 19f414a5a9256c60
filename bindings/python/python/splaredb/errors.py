"""The exceptions splaredb raises.

Every error of the engine is a subclass of :class:`Error` (as every ``sqlite3`` error is a subclass of
``sqlite3.Error``), one class per kind of ``splaredb::Error`` in the Rust crate. Messages name the file, key or
latent involved. Errors that are also bad arguments subclass :class:`ValueError` too, and I/O errors
:class:`OSError`, so generic handlers catch them.
"""

from __future__ import annotations

__all__ = [
    "Error",
    "IoError",
    "CorruptError",
    "UnsupportedVersionError",
    "InvalidVectorError",
    "DuplicateKeyError",
    "InvalidKeyError",
    "DocumentTooLargeError",
    "InvalidOptionsError",
    "LockedError",
    "BusyError",
    "ReadOnlyError",
    "NotFoundError",
    "PoisonedError",
    "EncoderError",
    "EmptyTextError",
    "NoEncoderError",
    "ModelMismatchError",
    "UnstableError",
    "MisuseError",
    "ClosedError",
    "EngineError",
    "EngineUnavailableError",
    "CollectionNotFoundError",
    "CollectionFormatError",
    "DimensionLimitError",
    "PartialWriteError",
    "HubError",
    "HubAccessError",
    "HubNotFoundError",
    "HubUnreachableError",
    "ChecksumError",
    "IncompatibleModelError",
]


class Error(Exception):
    """Base class of every splaredb error."""


class IoError(Error, OSError):
    """An operating-system I/O call failed on a file of the database (the message names the file and the
    operation)."""


class CorruptError(Error):
    """A file of the database fails a checksum or structural check (the message names the file and offset)."""


class UnsupportedVersionError(CorruptError):
    """A file was written by an incompatible version of splaredb."""


class InvalidVectorError(Error, ValueError):
    """A sparse vector is invalid: unsorted or duplicate latents, a latent out of range, a negative, non-finite
    or too large weight, or ids and weights of different lengths."""


class DuplicateKeyError(Error):
    """``insert`` was given a key that already exists (``upsert`` replaces instead)."""


class InvalidKeyError(Error, ValueError):
    """A key is empty or longer than ``splaredb.MAX_KEY_LEN`` bytes."""


class DocumentTooLargeError(Error, ValueError):
    """A document's text or metadata is over the engine's limit."""


class InvalidOptionsError(Error, ValueError):
    """Options disagree with the database on disk or with each other."""


class LockedError(Error):
    """Another process (or another open handle in this one) holds the database's write lock."""


class BusyError(Error):
    """A write transaction is already open on this database (``transaction(wait=False)``)."""


class ReadOnlyError(Error):
    """A write on a database opened read-only."""


class NotFoundError(Error):
    """There is no database at the path and ``create=False``."""


class PoisonedError(Error):
    """An earlier I/O failure stopped writes; close and reopen the database."""


class EncoderError(Error):
    """A model could not be loaded, or encoding failed."""


class EmptyTextError(Error, ValueError):
    """A text to store encodes to an empty vector (empty, whitespace only, or no active latent)."""


class NoEncoderError(Error):
    """A text operation on a database opened without a model (``model=None``)."""


class ModelMismatchError(Error):
    """The database holds vectors of another model than the one it was opened with."""


class UnstableError(Error):
    """A read-only handle could not read a consistent state while a writer kept changing the files."""


class MisuseError(Error):
    """The API was used out of order: a finished transaction, a second transaction on one thread."""


class ClosedError(MisuseError):
    """The database handle is closed."""


# --- the cluster bridge (splaredb.cluster, splaredb.ray) ------------------------------------------------------


class EngineError(Error):
    """A cluster engine (Milvus, Qdrant, Ray) failed or refused an operation. The message names the engine,
    the collection and the operation; ``__cause__`` is the engine client's own exception."""


class EngineUnavailableError(EngineError, ConnectionError):
    """A cluster engine could not be reached (no server at the address, a path that cannot be opened, a
    client package that is not installed)."""


class CollectionNotFoundError(EngineError):
    """The collection does not exist and ``create=False``."""


class CollectionFormatError(EngineError):
    """A collection exists but was not made by splaredb (it has no identity record, or one this version
    cannot read), or its creation was interrupted before the identity was written."""


class DimensionLimitError(Error, ValueError):
    """A model's dimension (its number of latents) is beyond what an engine or export format accepts."""


class PartialWriteError(EngineError):
    """A batched write failed after some batches had landed. ``written`` is how many documents the engine
    acknowledged before the failure; the rest were not written. A sync that fails this way is resumed by
    running it again."""

    def __init__(self, message: str, written: int) -> None:
        super().__init__(message)
        #: Documents the engine acknowledged before the failure.
        self.written = written


class HubError(Error):
    """Pulling a model from the Hugging Face Hub failed (:func:`splaredb.pull_model`)."""


class HubAccessError(HubError, PermissionError):
    """The Hub refused access (HTTP 401/403): the repository is gated or private; the message says what to do
    about the token."""


class HubNotFoundError(HubError, LookupError):
    """A repository, revision or file the model needs is not on the Hub (the message names it)."""


class HubUnreachableError(HubError, ConnectionError):
    """The Hub (or the mirror ``HF_ENDPOINT`` names) could not be reached, or a download was interrupted; a
    later pull resumes it."""


class ChecksumError(HubError):
    """A downloaded file does not have the checksum the Hub announced; it was removed."""


class IncompatibleModelError(HubError, ValueError):
    """The parts of a model do not fit together (an SAE's width and the backbone's hidden size, the layer and
    the backbone's depth)."""
