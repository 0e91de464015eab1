"""What an adapter takes as its memory: :class:`MemoryBackend`, an engine or a client alike.

Re-exported by :mod:`hippo_memory.integration`, where adapters import it from. The
protocol is static only (not ``runtime_checkable``): on Python 3.11 an ``isinstance``
check of a protocol evaluates every member on the instance, and a client's ``config``
is fetched from the server; :func:`as_memory_backend` checks without reading anything.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Protocol, cast

import numpy as np
import numpy.typing as npt
from pydantic import PlainValidator

# The package's public names, as in hippo_memory.integration.
from hippo_memory import (
    Chain,
    HippoConfig,
    InvalidConfigError,
    Memory,
    MemoryInput,
    Namespace,
    RecallResult,
)

__all__ = [
    "ACCEPTED_MEMORIES",
    "MemoryBackend",
    "MemoryBackendField",
    "NotAMemoryBackendError",
    "as_memory_backend",
]

_TimeLike = datetime | float | int | str  # what the engine's time arguments take


class MemoryBackend(Protocol):
    """What the adapters call: :class:`~hippo_memory.HippoMemory` and :class:`~hippo_memory.HippoClient` both have it.

    A structural type, so an adapter written against it takes an embedded engine or
    a client of ``hippo-memory serve`` alike. The methods are the engine's (see
    :class:`~hippo_memory.HippoMemory` for their documentation); the ``a*`` twins
    run the sync call in a worker thread on both. ``config`` is the engine's
    settings (a client fetches the server's once). An adapter checks what it is
    given with :func:`as_memory_backend`, not with ``isinstance`` (a runtime check
    of a protocol would read a client's ``config`` over the network).
    """

    @property
    def config(self) -> HippoConfig: ...

    def remember(
        self,
        text: str,
        *,
        namespace: Sequence[str] = ...,
        metadata: Mapping[str, Any] | None = ...,
        timestamp: _TimeLike | None = ...,
        cues: Sequence[str] = ...,
        session: str | None = ...,
        id: str | None = ...,
        salience: float | bool | None = ...,
        ttl: float | None = ...,
        supersedes: str | None = ...,
    ) -> str: ...

    def remember_many(
        self,
        items: Iterable[str | MemoryInput],
        *,
        namespace: Sequence[str] = ...,
        session: str | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        timestamp: _TimeLike | None = ...,
    ) -> list[str]: ...

    def recall(
        self,
        query: str,
        *,
        namespace: Sequence[str] | None = ...,
        k: int = ...,
        filter: Mapping[str, Any] | None = ...,
        since: _TimeLike | None = ...,
        until: _TimeLike | None = ...,
        include_superseded: bool = ...,
        min_similarity: float | None = ...,
    ) -> RecallResult: ...

    def recall_chain(
        self,
        query: str,
        *,
        hops: int = ...,
        namespace: Sequence[str] | None = ...,
        min_strength: float | None = ...,
        filter: Mapping[str, Any] | None = ...,
        vector: npt.NDArray[np.float32] | None = ...,
    ) -> Chain: ...

    def recall_vector(
        self,
        vector: npt.NDArray[np.float32],
        *,
        query: str = ...,
        namespace: Sequence[str] | None = ...,
        k: int = ...,
        filter: Mapping[str, Any] | None = ...,
        since: _TimeLike | None = ...,
        until: _TimeLike | None = ...,
        include_superseded: bool = ...,
        min_similarity: float | None = ...,
    ) -> RecallResult: ...

    def get(self, id: str) -> Memory: ...

    def list(
        self,
        namespace: Sequence[str] | None = ...,
        *,
        filter: Mapping[str, Any] | None = ...,
        limit: int | None = ...,
        offset: int = ...,
        newest_first: bool = ...,
    ) -> builtins.list[Memory]: ...

    def namespaces(
        self, prefix: Sequence[str] | None = ..., *, max_depth: int | None = ...
    ) -> builtins.list[Namespace]: ...

    def count(self, namespace: Sequence[str] | None = ...) -> int: ...

    def update(
        self,
        id: str,
        *,
        text: str | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        timestamp: _TimeLike | None = ...,
        cues: Sequence[str] | None = ...,
    ) -> Memory: ...

    def forget(self, ids: str | Sequence[str]) -> int: ...

    def forget_namespace(self, namespace: Sequence[str]) -> int: ...

    async def aremember(
        self,
        text: str,
        *,
        namespace: Sequence[str] = ...,
        metadata: Mapping[str, Any] | None = ...,
        timestamp: _TimeLike | None = ...,
        cues: Sequence[str] = ...,
        session: str | None = ...,
        id: str | None = ...,
        salience: float | bool | None = ...,
        ttl: float | None = ...,
        supersedes: str | None = ...,
    ) -> str: ...

    async def aremember_many(
        self,
        items: Iterable[str | MemoryInput],
        *,
        namespace: Sequence[str] = ...,
        session: str | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        timestamp: _TimeLike | None = ...,
    ) -> builtins.list[str]: ...

    async def aget(self, id: str) -> Memory: ...

    async def aupdate(
        self,
        id: str,
        *,
        text: str | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        timestamp: _TimeLike | None = ...,
        cues: Sequence[str] | None = ...,
    ) -> Memory: ...

    async def aforget(self, ids: str | Sequence[str]) -> int: ...

    async def aforget_namespace(self, namespace: Sequence[str]) -> int: ...


ACCEPTED_MEMORIES: Final = "a hippo_memory.HippoMemory or a hippo_memory.HippoClient"
"""What :func:`as_memory_backend` accepts, as its error names it."""


class NotAMemoryBackendError(InvalidConfigError, TypeError):
    """An adapter was given, as its memory, something that is neither an engine nor a client."""


def as_memory_backend(memory: object, /) -> MemoryBackend:
    """``memory``, checked to have every member of :class:`MemoryBackend`.

    The check reads the class, never the instance, so a client's ``config`` is not
    fetched and nothing is sent to a server.

    Raises:
        NotAMemoryBackendError: ``memory`` lacks one of them (it is an
            :class:`~hippo_memory.InvalidConfigError`, hence a ``ValueError`` that
            pydantic reports as a ``ValidationError``, and a ``TypeError``).
    """
    missing = [name for name in _BACKEND_MEMBERS if not _has(memory, name)]
    if missing:
        raise NotAMemoryBackendError(
            f"memory must be {ACCEPTED_MEMORIES}, not {type(memory).__name__} (it lacks {', '.join(missing)})"
        )
    return cast(MemoryBackend, memory)


_BACKEND_MEMBERS: Final = tuple(sorted(n for n in vars(MemoryBackend) if not n.startswith("_")))


def _has(obj: object, name: str) -> bool:
    try:
        inspect.getattr_static(obj, name)
    except AttributeError:
        return False
    return True


MemoryBackendField = Annotated[MemoryBackend, PlainValidator(as_memory_backend)]
"""A pydantic field type for an adapter's memory: any :class:`MemoryBackend`, checked by :func:`as_memory_backend`."""
