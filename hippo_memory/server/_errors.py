"""The errors a service adds to the engine's tree, and the one map from an error to an HTTP status.

::

    HippoMemoryError
    ├── AuthenticationError (PermissionError)    401: no key, or an unknown or revoked one
    ├── PermissionDeniedError (PermissionError)  403: the key lacks the scope, or the namespace is outside its prefix
    └── InvalidInputError
        └── PayloadTooLargeError                 413: the request body is over the server's limit

This module imports nothing heavy: :mod:`hippo_memory.client` uses it too.
"""

from __future__ import annotations

from .._errors import (
    EncoderError,
    EncoderMismatchError,
    HippoMemoryError,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
    StoreVersionError,
)

__all__ = ["AuthenticationError", "PayloadTooLargeError", "PermissionDeniedError", "status_for"]


class AuthenticationError(HippoMemoryError, PermissionError):
    """The request carried no API key, or one the server does not know (or revoked)."""


class PermissionDeniedError(HippoMemoryError, PermissionError):
    """The key lacks the scope, or the namespace lies outside the key's prefix."""


class PayloadTooLargeError(InvalidInputError):
    """The request body is larger than the server accepts."""


# Most specific first: the first class the error is an instance of decides.
_STATUS: tuple[tuple[type[HippoMemoryError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (PayloadTooLargeError, 413),
    (InvalidInputError, 422),
    (NotFoundError, 404),
    (StoreLockedError, 409),
    (StoreClosedError, 503),
    (StoreCorruptedError, 500),
    (StoreVersionError, 500),
    (EncoderMismatchError, 500),
    (StoreError, 503),
    (EncoderError, 500),
    (MissingDependencyError, 500),
)


def status_for(exc: HippoMemoryError) -> int:
    """The HTTP status of an engine or service error (500 for anything unforeseen)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500
