"""The hippo-memory exception tree.

Every error the library raises on purpose derives from :class:`HippoMemoryError`,
and every leaf also subclasses the matching built-in so that callers who catch
``ValueError`` or ``KeyError`` keep working::

    HippoMemoryError
    ├── InvalidInputError (ValueError)
    │   ├── EmptyTextError
    │   ├── TextTooLongError
    │   ├── InvalidNamespaceError
    │   ├── InvalidFilterError
    │   ├── InvalidVectorError        (NaN/inf or wrong shape from an encoder)
    │   └── InvalidConfigError
    ├── NotFoundError (KeyError)
    │   ├── MemoryNotFoundError
    │   └── NamespaceNotFoundError
    ├── StoreError (OSError)
    │   ├── StoreCorruptedError       (damaged or foreign files)
    │   ├── StoreVersionError         (written by an incompatible format version)
    │   ├── StoreLockedError          (another process holds the store)
    │   ├── EncoderMismatchError      (store written with another encoder)
    │   └── StoreClosedError
    ├── EncoderError (RuntimeError)   (the encoder could not be loaded or failed)
    └── MissingDependencyError (ImportError)

Bad input never changes stored state: validation happens before any write.
"""

from __future__ import annotations

__all__ = [
    "EmptyTextError",
    "EncoderError",
    "EncoderMismatchError",
    "HippoMemoryError",
    "InvalidConfigError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidNamespaceError",
    "InvalidVectorError",
    "MemoryNotFoundError",
    "MissingDependencyError",
    "NamespaceNotFoundError",
    "NotFoundError",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreError",
    "StoreLockedError",
    "StoreVersionError",
    "TextTooLongError",
]


class HippoMemoryError(Exception):
    """Base class of every error raised by hippo-memory."""


class InvalidInputError(HippoMemoryError, ValueError):
    """An argument was rejected before anything was written."""


class EmptyTextError(InvalidInputError):
    """A memory, cue or query text was empty, blank or not a string."""


class TextTooLongError(InvalidInputError):
    """A text exceeded ``HippoConfig.max_text_chars``."""


class InvalidNamespaceError(InvalidInputError):
    """A namespace was not a non-empty tuple of non-empty strings without periods."""


class InvalidFilterError(InvalidInputError):
    """A metadata filter used an unknown operator or a non-JSON value."""


class InvalidVectorError(InvalidInputError):
    """An encoder returned NaN/inf values or an array of the wrong shape or dtype."""


class InvalidConfigError(InvalidInputError):
    """A configuration value is out of range."""


class NotFoundError(HippoMemoryError, KeyError):
    """Something that was asked for by name does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class MemoryNotFoundError(NotFoundError):
    """No memory with the given id exists."""


class NamespaceNotFoundError(NotFoundError):
    """No memory is stored under the given namespace (or below it)."""


class StoreError(HippoMemoryError, OSError):
    """The on-disk store could not be opened, read or written."""


class StoreCorruptedError(StoreError):
    """The store's files are damaged, truncated or not a hippo-memory store."""


class StoreVersionError(StoreError):
    """The store was written by an incompatible on-disk format version."""


class StoreLockedError(StoreError):
    """Another process has the store open for writing."""


class EncoderMismatchError(StoreError):
    """The store was written with an encoder of another name or dimension."""


class StoreClosedError(StoreError):
    """The memory was used after :meth:`HippoMemory.close`."""


class EncoderError(HippoMemoryError, RuntimeError):
    """The encoder could not be loaded or failed while encoding."""


class MissingDependencyError(HippoMemoryError, ImportError):
    """An optional dependency is missing; the message says which extra installs it."""
