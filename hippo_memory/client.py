"""Clients of ``hippo-memory serve``: :class:`HippoClient` and :class:`AsyncHippoClient`.

They mirror :class:`~hippo_memory.HippoMemory`: the same method names, arguments and
return types (``Memory``, ``RecallResult``, ``Chain``, ``ConsolidationReport`` rebuilt
from the JSON), and the same ``HippoMemoryError`` subclasses, raised from the class
name in the server's error body. Code written against an embedded memory runs against
a server by swapping the object::

    >>> from hippo_memory.client import HippoClient                      # doctest: +SKIP
    >>> mem = HippoClient("http://127.0.0.1:8765", api_key="hm_...")     # doctest: +SKIP
    >>> mem.recall("Where does Alice live?", namespace=("users", "alice"))  # doctest: +SKIP

Reads (``get``, ``recall``, ``recall_chain``, ``list``, ``namespaces``, ``stats``) are
retried with exponential backoff on connection errors and 502/503/504; writes never
are, since a lost response cannot tell whether the write happened. Failures to reach
the server raise :class:`ServiceUnavailableError` (a ``StoreError``).

Beyond the engine's tree, a server can answer ``AuthenticationError`` (401),
``PermissionDeniedError`` (403) and ``PayloadTooLargeError`` (413); an unexpected
answer raises :class:`ServerError`.

What differs from the engine, on purpose (``tests/test_server_parity.py`` pins it):
``close`` closes the connection pool, not the store; ``export_jsonl`` writes the file
on the caller's machine; ``config`` is the server's, fetched once (``await
AsyncHippoClient.get_config()``); ``encoder`` and ``partition_key`` are not served.
Vectors travel as JSON float32 values. With a key bound to a prefix, ids are the key's
own (:mod:`hippo_memory.server._ids`): a chosen id never collides with another tenant's.
Needs ``httpx`` (``pip install 'hippo-memory[server]'``).
"""

from __future__ import annotations

import asyncio
import builtins
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from . import _client_calls as calls
from ._async import AsyncMemoryMixin
from ._config import HippoConfig
from ._errors import MissingDependencyError, StoreError
from ._grouping import GroupHit, GroupMethod
from ._items import MemoryInput
from ._types import Chain, ConsolidationReport, Memory, Namespace, RecallResult
from ._validation import DEFAULT_NAMESPACE, TimeLike
from .server._errors import ServerError, raise_for_response

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("HippoClient needs httpx: pip install 'hippo-memory[server]'") from exc

__all__ = ["AsyncHippoClient", "HippoClient", "ServerError", "ServiceUnavailableError"]

T = TypeVar("T")
_RETRY_STATUS = frozenset({502, 503, 504})


class ServiceUnavailableError(StoreError):
    """The server could not be reached (connection refused, timed out, or it kept answering 502/503/504)."""


# ---------------------------------------------------------------------------- clients
class HippoClient(AsyncMemoryMixin):
    """A :class:`~hippo_memory.HippoMemory` served by ``hippo-memory serve``, over HTTP.

    Like the engine it has ``a*`` twins (worker threads) and a :attr:`config`, so every adapter takes either.

    Args:
        base_url: The server, e.g. ``"http://127.0.0.1:8765"``.
        api_key: A key from ``hippo-memory keys create`` (none for a server without keys).
        timeout: Seconds per request.
        retries: Extra attempts of a read after a connection error or 502/503/504.
        backoff: First retry delay in seconds; doubled each attempt, jittered, at most 5 s.
        transport: An ``httpx`` transport (tests pass ``httpx.MockTransport`` or an ASGI one).
        headers: Extra headers sent with every request.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8765",
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=base_url, headers=calls._headers(api_key, headers), timeout=timeout, transport=transport
        )
        self._config: HippoConfig | None = None

    @property
    def config(self) -> HippoConfig:
        """The server engine's settings (``GET /v1/config``), fetched on first use."""
        if self._config is None:
            self._config = self._send(calls._config())
        return self._config

    def _send(self, call: calls._Call[T]) -> T:
        attempts = 1 + (self.retries if call.idempotent else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(call.method, call.path, json=call.body)
            except httpx.TransportError as exc:
                if last:
                    raise ServiceUnavailableError(f"cannot reach {self._http.base_url}: {exc}") from exc
            else:
                if response.status_code not in _RETRY_STATUS or last:
                    raise_for_response(response)
                    return call.parse(response.json())
            time.sleep(calls._delay(attempt, self.backoff))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- writing -----------------------------------------------------------------
    def remember(
        self,
        text: str,
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] = (),
        session: str | None = None,
        id: str | None = None,
        salience: float | bool | None = None,
        ttl: float | None = None,
        supersedes: str | None = None,
    ) -> str:
        """See :meth:`HippoMemory.remember`."""
        return self._send(
            calls._remember(text, namespace, metadata, timestamp, cues, session, id, salience, ttl, supersedes)
        )

    def remember_many(
        self,
        items: Iterable[str | MemoryInput],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
    ) -> builtins.list[str]:
        """See :meth:`HippoMemory.remember_many`."""
        return self._send(calls._remember_many(items, namespace, session, metadata, timestamp))

    def associate(self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False) -> None:
        """See :meth:`HippoMemory.associate`."""
        self._send(calls._associate(source, target, strength, bidirectional))

    def update(
        self,
        id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] | None = None,
    ) -> Memory:
        """See :meth:`HippoMemory.update`."""
        return self._send(calls._update(id, text, metadata, timestamp, cues))

    def forget(self, ids: str | Sequence[str]) -> int:
        """See :meth:`HippoMemory.forget`."""
        return self._send(calls._forget(ids))

    def supersede(self, old: str, new: str) -> None:
        """See :meth:`HippoMemory.supersede`."""
        self._send(calls._supersede(old, new))

    def forget_namespace(self, namespace: Sequence[str]) -> int:
        """See :meth:`HippoMemory.forget_namespace` (the namespace must lie under the key's prefix)."""
        return self._send(calls._forget_namespace(namespace))

    def forget_before(self, before: TimeLike, *, namespace: Sequence[str] | None = None) -> int:
        """See :meth:`HippoMemory.forget_before` (no namespace: all the key may write)."""
        return self._send(calls._forget_before(before, namespace))

    # -- reading -----------------------------------------------------------------
    def get(self, id: str) -> Memory:
        """See :meth:`HippoMemory.get`."""
        return self._send(calls._get(id))

    def list(
        self,
        namespace: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[Memory]:
        """See :meth:`HippoMemory.list` (at most 10,000 memories per call)."""
        return self._send(calls._list(namespace, filter, limit, offset, newest_first))

    def namespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """See :meth:`HippoMemory.namespaces`."""
        return self._send(calls._namespaces(prefix, max_depth))

    def recall(
        self,
        query: str,
        *,
        namespace: Sequence[str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
        min_score: float | None = None,
        reference_time: TimeLike | None = None,
    ) -> RecallResult:
        """See :meth:`HippoMemory.recall`."""
        return self._send(
            calls._recall(
                query, namespace, k, filter, since, until, include_superseded, min_similarity, min_score, reference_time
            )
        )

    def recall_chain(
        self,
        query: str,
        *,
        hops: int = 3,
        namespace: Sequence[str] | None = None,
        min_strength: float | None = None,
        filter: Mapping[str, Any] | None = None,
        vector: npt.NDArray[np.float32] | None = None,
        reference_time: TimeLike | None = None,
    ) -> Chain:
        """See :meth:`HippoMemory.recall_chain`."""
        return self._send(calls._recall_chain(query, hops, namespace, min_strength, filter, vector, reference_time))

    def recall_groups(
        self,
        query: str,
        *,
        group_by: str,
        k: int = 5,
        namespace: Sequence[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        depth: int | None = None,
        method: GroupMethod = "max",
        vector: npt.NDArray[np.float32] | None = None,
        reference_time: TimeLike | None = None,
    ) -> builtins.list[GroupHit]:
        """See :meth:`HippoMemory.recall_groups`."""
        call = calls._recall_groups(
            query, group_by, k, namespace, filter, since, until, depth, method, vector, reference_time
        )
        return self._send(call)

    def count(self, namespace: Sequence[str] | None = None) -> int:
        """See :meth:`HippoMemory.count` (no namespace: all the key may read)."""
        return self._send(calls._count(namespace))

    def associations(self, id: str) -> builtins.list[tuple[str, float]]:
        """See :meth:`HippoMemory.associations`."""
        return self._send(calls._associations(id))

    def recall_vector(
        self,
        vector: npt.NDArray[np.float32],
        *,
        query: str = "",
        namespace: Sequence[str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
        min_score: float | None = None,
        reference_time: TimeLike | None = None,
    ) -> RecallResult:
        """See :meth:`HippoMemory.recall_vector` (the vector travels as JSON float32 values)."""
        call = calls._recall_vector(
            vector,
            query,
            namespace,
            k,
            filter,
            since,
            until,
            include_superseded,
            min_similarity,
            min_score,
            reference_time,
        )
        return self._send(call)

    def export_jsonl(
        self, path: str | os.PathLike[str], namespace: Sequence[str] | None = None, *, include_superseded: bool = False
    ) -> int:
        """See :meth:`HippoMemory.export_jsonl`; the file is written here, on the client's machine."""
        return calls._write_jsonl(path, self._send(calls._export(namespace, include_superseded)))

    def stats(self) -> dict[str, Any]:
        """See :meth:`HippoMemory.stats` (a key bound to a prefix sees only its own counts)."""
        return self._send(calls._stats())

    def consolidate(
        self,
        *,
        now: TimeLike | None = None,
        replay: bool = True,
        replay_budget: int | None = None,
        decay: bool = True,
        merge: bool = True,
        compact: bool | None = None,
        full: bool = False,
    ) -> ConsolidationReport:
        """See :meth:`HippoMemory.consolidate` (needs an admin key for the whole store)."""
        return self._send(calls._consolidate(now, replay, replay_budget, decay, merge, compact, full))

    def close(self) -> None:
        """Close the connection pool (the server's memory stays open)."""
        self._http.close()

    def __enter__(self) -> HippoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HippoClient({str(self._http.base_url)!r})"


class AsyncHippoClient:
    """:class:`HippoClient` for asyncio: the same methods as coroutines.

    The ``a``-prefixed names of :class:`~hippo_memory.HippoMemory`'s async twins
    (``arecall``, ``aremember``, ...) are aliases, so code written for either works.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8765",
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=calls._headers(api_key, headers), timeout=timeout, transport=transport
        )
        self._config: HippoConfig | None = None

    async def get_config(self) -> HippoConfig:
        """The server engine's settings (``GET /v1/config``), fetched on first use (``HippoClient.config``)."""
        if self._config is None:
            self._config = await self._send(calls._config())
        return self._config

    async def _send(self, call: calls._Call[T]) -> T:
        attempts = 1 + (self.retries if call.idempotent else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._http.request(call.method, call.path, json=call.body)
            except httpx.TransportError as exc:
                if last:
                    raise ServiceUnavailableError(f"cannot reach {self._http.base_url}: {exc}") from exc
            else:
                if response.status_code not in _RETRY_STATUS or last:
                    raise_for_response(response)
                    return call.parse(response.json())
            await asyncio.sleep(calls._delay(attempt, self.backoff))
        raise AssertionError("unreachable")  # pragma: no cover

    async def remember(
        self,
        text: str,
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] = (),
        session: str | None = None,
        id: str | None = None,
        salience: float | bool | None = None,
        ttl: float | None = None,
        supersedes: str | None = None,
    ) -> str:
        """See :meth:`HippoMemory.remember`."""
        call = calls._remember(text, namespace, metadata, timestamp, cues, session, id, salience, ttl, supersedes)
        return await self._send(call)

    async def remember_many(
        self,
        items: Iterable[str | MemoryInput],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
    ) -> builtins.list[str]:
        """See :meth:`HippoMemory.remember_many`."""
        return await self._send(calls._remember_many(items, namespace, session, metadata, timestamp))

    async def associate(self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False) -> None:
        """See :meth:`HippoMemory.associate`."""
        await self._send(calls._associate(source, target, strength, bidirectional))

    async def update(
        self,
        id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] | None = None,
    ) -> Memory:
        """See :meth:`HippoMemory.update`."""
        return await self._send(calls._update(id, text, metadata, timestamp, cues))

    async def forget(self, ids: str | Sequence[str]) -> int:
        """See :meth:`HippoMemory.forget`."""
        return await self._send(calls._forget(ids))

    async def supersede(self, old: str, new: str) -> None:
        """See :meth:`HippoMemory.supersede`."""
        await self._send(calls._supersede(old, new))

    async def forget_namespace(self, namespace: Sequence[str]) -> int:
        """See :meth:`HippoMemory.forget_namespace` (the namespace must lie under the key's prefix)."""
        return await self._send(calls._forget_namespace(namespace))

    async def forget_before(self, before: TimeLike, *, namespace: Sequence[str] | None = None) -> int:
        """See :meth:`HippoMemory.forget_before` (no namespace: all the key may write)."""
        return await self._send(calls._forget_before(before, namespace))

    async def get(self, id: str) -> Memory:
        """See :meth:`HippoMemory.get`."""
        return await self._send(calls._get(id))

    async def list(
        self,
        namespace: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[Memory]:
        """See :meth:`HippoMemory.list` (at most 10,000 memories per call)."""
        return await self._send(calls._list(namespace, filter, limit, offset, newest_first))

    async def namespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """See :meth:`HippoMemory.namespaces`."""
        return await self._send(calls._namespaces(prefix, max_depth))

    async def recall(
        self,
        query: str,
        *,
        namespace: Sequence[str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
        min_score: float | None = None,
        reference_time: TimeLike | None = None,
    ) -> RecallResult:
        """See :meth:`HippoMemory.recall`."""
        return await self._send(
            calls._recall(
                query, namespace, k, filter, since, until, include_superseded, min_similarity, min_score, reference_time
            )
        )

    async def recall_chain(
        self,
        query: str,
        *,
        hops: int = 3,
        namespace: Sequence[str] | None = None,
        min_strength: float | None = None,
        filter: Mapping[str, Any] | None = None,
        vector: npt.NDArray[np.float32] | None = None,
        reference_time: TimeLike | None = None,
    ) -> Chain:
        """See :meth:`HippoMemory.recall_chain`."""
        return await self._send(
            calls._recall_chain(query, hops, namespace, min_strength, filter, vector, reference_time)
        )

    async def recall_groups(
        self,
        query: str,
        *,
        group_by: str,
        k: int = 5,
        namespace: Sequence[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        depth: int | None = None,
        method: GroupMethod = "max",
        vector: npt.NDArray[np.float32] | None = None,
        reference_time: TimeLike | None = None,
    ) -> builtins.list[GroupHit]:
        """See :meth:`HippoMemory.recall_groups`."""
        call = calls._recall_groups(
            query, group_by, k, namespace, filter, since, until, depth, method, vector, reference_time
        )
        return await self._send(call)

    async def count(self, namespace: Sequence[str] | None = None) -> int:
        """See :meth:`HippoMemory.count` (no namespace: all the key may read)."""
        return await self._send(calls._count(namespace))

    async def associations(self, id: str) -> builtins.list[tuple[str, float]]:
        """See :meth:`HippoMemory.associations`."""
        return await self._send(calls._associations(id))

    async def recall_vector(
        self,
        vector: npt.NDArray[np.float32],
        *,
        query: str = "",
        namespace: Sequence[str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
        min_score: float | None = None,
        reference_time: TimeLike | None = None,
    ) -> RecallResult:
        """See :meth:`HippoMemory.recall_vector` (the vector travels as JSON float32 values)."""
        call = calls._recall_vector(
            vector,
            query,
            namespace,
            k,
            filter,
            since,
            until,
            include_superseded,
            min_similarity,
            min_score,
            reference_time,
        )
        return await self._send(call)

    async def export_jsonl(
        self, path: str | os.PathLike[str], namespace: Sequence[str] | None = None, *, include_superseded: bool = False
    ) -> int:
        """See :meth:`HippoMemory.export_jsonl`; the file is written here, on the client's machine."""
        return calls._write_jsonl(path, await self._send(calls._export(namespace, include_superseded)))

    async def stats(self) -> dict[str, Any]:
        """See :meth:`HippoMemory.stats`."""
        return await self._send(calls._stats())

    async def consolidate(
        self,
        *,
        now: TimeLike | None = None,
        replay: bool = True,
        replay_budget: int | None = None,
        decay: bool = True,
        merge: bool = True,
        compact: bool | None = None,
        full: bool = False,
    ) -> ConsolidationReport:
        """See :meth:`HippoMemory.consolidate`."""
        return await self._send(calls._consolidate(now, replay, replay_budget, decay, merge, compact, full))

    aremember = remember
    aremember_many = remember_many
    aassociate = associate
    aupdate = update
    aforget = forget
    aget = get
    alist = list
    anamespaces = namespaces
    arecall = recall
    arecall_vector = recall_vector
    arecall_chain = recall_chain
    aconsolidate = consolidate
    asupersede = supersede
    aforget_namespace = forget_namespace
    aforget_before = forget_before
    acount = count
    arecall_groups = recall_groups
    aexport_jsonl = export_jsonl

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHippoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncHippoClient({str(self._http.base_url)!r})"
