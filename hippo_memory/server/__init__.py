"""hippo-memory as a service: a FastAPI app (REST and MCP over streamable HTTP) with API keys.

Example:
    >>> from hippo_memory.server import create_app          # doctest: +SKIP
    >>> app = create_app("./mem", keys="./mem.keys.json")   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8765)

Needs ``pip install 'hippo-memory[server]'``. The names load lazily, so
``hippo_memory.server._keys`` and ``._errors`` import without FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._errors import AuthenticationError, PayloadTooLargeError, PermissionDeniedError
    from ._keys import ApiKey, KeyStore, Principal

__all__ = [
    "ApiKey",
    "AuthenticationError",
    "KeyStore",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Principal",
    "create_app",
]

_LAZY = {
    "create_app": "._app",
    "AuthenticationError": "._errors",
    "PayloadTooLargeError": "._errors",
    "PermissionDeniedError": "._errors",
    "ApiKey": "._keys",
    "KeyStore": "._keys",
    "Principal": "._keys",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hippo_memory.server' has no attribute {name!r}")
    import importlib

    if module == "._app":
        try:
            import fastapi  # noqa: F401
        except ImportError as exc:
            from .._errors import MissingDependencyError

            raise MissingDependencyError(
                "the server needs FastAPI and uvicorn: pip install 'hippo-memory[server]'"
            ) from exc
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
