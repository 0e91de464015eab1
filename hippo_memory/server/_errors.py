"""The errors a service adds to the engine's tree, and the one map from an error to an HTTP status.

::

    HippoMemoryError
    ├── AuthenticationError (PermissionError)    401: no key, or an unknown or revoked one
    ├── PermissionDeniedError (PermissionError)  403: the key lacks the scope, or the namespace is outside its prefix
    ├── InvalidInputError
    │   └── PayloadTooLargeError                 413: the request body is over the server's limit
    └── ServerError (RuntimeError)               a client got an error answer it does not know

This module imports nothing heavy: :mod:`hippo_memory.client` uses it too, to turn an
error answer back into its exception (:func:`error_from_answer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _errors as _engine_errors
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

if TYPE_CHECKING:  # the client's answers; the server itself does not need httpx
    import httpx

__all__ = [
    "AuthenticationError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ServerError",
    "error_from_answer",
    "raise_for_response",
    "status_for",
]


class AuthenticationError(HippoMemoryError, PermissionError):
    """The request carried no API key, or one the server does not know (or revoked)."""


class PermissionDeniedError(HippoMemoryError, PermissionError):
    """The key lacks the scope, or the namespace lies outside the key's prefix."""


class PayloadTooLargeError(InvalidInputError):
    """The request body is larger than the server accepts."""


class ServerError(HippoMemoryError, RuntimeError):
    """The server answered with an error this client does not know (its status and body in the message)."""


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


_BY_NAME: dict[str, type[HippoMemoryError]] = {
    cls.__name__: cls
    for cls in (
        *(getattr(_engine_errors, name) for name in _engine_errors.__all__),
        AuthenticationError,
        PermissionDeniedError,
        PayloadTooLargeError,
        ServerError,
    )
    if isinstance(cls, type) and issubclass(cls, HippoMemoryError)
}


def error_from_answer(status: int, body: Any) -> HippoMemoryError:
    """The exception an error answer stands for: the class its body names, else :class:`ServerError`.

    Args:
        status: The HTTP status.
        body: The decoded JSON body (``{"error": <class name>, "message": ...}``), or the raw text.
    """
    try:
        name, message = str(body["error"]), str(body["message"])
    except (KeyError, TypeError, IndexError):
        name, message = "", str(body)[:500]
    cls = _BY_NAME.get(name)
    if cls is None:
        return ServerError(f"HTTP {status} {name}: {message}".replace("  ", " "))
    return cls(message)


def raise_for_response(response: httpx.Response) -> None:
    """The one place a client turns a server's error answer into a ``HippoMemoryError``."""
    if not response.is_success:
        try:
            body = response.json()
        except ValueError:
            body = response.text
        raise error_from_answer(response.status_code, body)
