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
answer raises :class:`ServerError`. ``recall_chain`` takes no ``vector`` (queries are
encoded by the server).

Needs ``httpx`` (``pip install 'hippo-memory[server]'``).
"""

from __future__ import annotations

import asyncio
import builtins
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

from . import _errors
from ._errors import HippoMemoryError, MissingDependencyError, StoreError
from ._types import (
    Chain,
    ChainHop,
    ConsolidationReport,
    Cue,
    HitDiagnostics,
    Memory,
    Namespace,
    RecallHit,
    RecallResult,
)
from ._validation import DEFAULT_NAMESPACE, TimeLike
from .server import _errors as _service_errors

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("HippoClient needs httpx: pip install 'hippo-memory[server]'") from exc

__all__ = ["AsyncHippoClient", "HippoClient", "ServerError", "ServiceUnavailableError"]

T = TypeVar("T")
_RETRY_STATUS = frozenset({502, 503, 504})


class ServiceUnavailableError(StoreError):
    """The server could not be reached (connection refused, timed out, or it kept answering 502/503/504)."""


class ServerError(HippoMemoryError, RuntimeError):
    """The server answered with an error this client does not know (its status and body in the message)."""


_ERROR_CLASSES: dict[str, type[HippoMemoryError]] = {
    name: cls
    for module in (_errors, _service_errors)
    for name in module.__all__
    if isinstance(cls := getattr(module, name), type) and issubclass(cls, HippoMemoryError)
}


def _raise_for(response: httpx.Response) -> None:
    """The one place a server's error answer becomes a ``HippoMemoryError``."""
    if response.is_success:
        return
    try:
        body = response.json()
        name, message = str(body["error"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        name, message = "", response.text[:500]
    cls = _ERROR_CLASSES.get(name)
    if cls is None:
        raise ServerError(f"HTTP {response.status_code} {name}: {message}".replace("  ", " "))
    raise cls(message)


# ---------------------------------------------------------------------------- requests (shared by both clients)
@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    method: str
    path: str
    body: Any
    parse: Callable[[Any], T]
    idempotent: bool = False


def _time(value: TimeLike | None) -> float | str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _ns(namespace: Sequence[str] | None) -> list[str] | None:
    return None if namespace is None else list(namespace)


def _opt_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _memory(d: Mapping[str, Any]) -> Memory:
    return Memory(
        id=d["id"],
        text=d["text"],
        namespace=tuple(d["namespace"]),
        metadata=d["metadata"],
        timestamp=_opt_time(d["timestamp"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        session=d["session"],
        cues=tuple(Cue(c["text"], c["kind"]) for c in d["cues"]),
        salience=d["salience"],
        novelty=d["novelty"],
        strength=d["strength"],
        access_count=d["access_count"],
        expires_at=_opt_time(d["expires_at"]),
        superseded_by=d["superseded_by"],
        merged_from=tuple(d["merged_from"]),
    )


def _recall_result(d: Mapping[str, Any]) -> RecallResult:
    hits = []
    for h in d["hits"]:
        g = h["diagnostics"]
        diagnostics = HitDiagnostics(
            similarity=g["similarity"],
            candidate_rank=g["candidate_rank"],
            attention=g["attention"],
            cues_matched=g["cues_matched"],
            best_cue=Cue(g["best_cue"]["text"], g["best_cue"]["kind"]),
            lexical_rank=g["lexical_rank"],
        )
        hits.append(RecallHit(_memory(h["memory"]), h["score"], h["rank"], diagnostics))
    namespace = None if d["namespace"] is None else tuple(d["namespace"])
    return RecallResult(d["query"], namespace, tuple(hits), d["n_candidates"], d["backend"], dict(d["timings_ms"]))


def _chain(d: Mapping[str, Any]) -> Chain:
    hops = tuple(ChainHop(h["hop"], _memory(h["memory"]), h["score"], h["overlap"]) for h in d["hops"])
    return Chain(d["query"], hops, d["stop_reason"])


def _report(d: Mapping[str, Any]) -> ConsolidationReport:
    return ConsolidationReport(**{**d, "started_at": datetime.fromisoformat(d["started_at"])})


def _item(item: Any) -> Any:
    if isinstance(item, str) or not isinstance(item, Mapping):
        return item
    out = dict(item)
    if "timestamp" in out:
        out["timestamp"] = _time(out["timestamp"])
    for key in ("namespace", "cues"):
        if out.get(key) is not None and not isinstance(out[key], str):
            out[key] = list(out[key])
    return out


def _remember(
    text: str,
    namespace: Sequence[str],
    metadata: Mapping[str, Any] | None,
    timestamp: TimeLike | None,
    cues: Sequence[str],
    session: str | None,
    id: str | None,
    salience: float | bool | None,
    ttl: float | None,
    supersedes: str | None,
) -> _Call[str]:
    body = {
        "text": text,
        "namespace": _ns(namespace),
        "metadata": None if metadata is None else dict(metadata),
        "timestamp": _time(timestamp),
        "cues": list(cues),
        "session": session,
        "id": id,
        "salience": salience,
        "ttl": ttl,
        "supersedes": supersedes,
    }
    return _Call("POST", "/v1/memories", body, lambda d: str(d["id"]))


def _remember_many(
    items: Iterable[Any],
    namespace: Sequence[str],
    session: str | None,
    metadata: Mapping[str, Any] | None,
    timestamp: TimeLike | None,
) -> _Call[builtins.list[str]]:
    body = {
        "items": [_item(i) for i in items],
        "namespace": _ns(namespace),
        "session": session,
        "metadata": None if metadata is None else dict(metadata),
        "timestamp": _time(timestamp),
    }
    return _Call("POST", "/v1/memories/batch", body, lambda d: [str(i) for i in d["ids"]])


def _recall(
    query: str,
    namespace: Sequence[str] | None,
    k: int,
    filter: Mapping[str, Any] | None,
    since: TimeLike | None,
    until: TimeLike | None,
    include_superseded: bool,
    min_similarity: float | None,
) -> _Call[RecallResult]:
    body = {
        "query": query,
        "namespace": _ns(namespace),
        "k": k,
        "filter": None if filter is None else dict(filter),
        "since": _time(since),
        "until": _time(until),
        "include_superseded": include_superseded,
        "min_similarity": min_similarity,
    }
    return _Call("POST", "/v1/recall", body, _recall_result, idempotent=True)


def _recall_chain(
    query: str, hops: int, namespace: Sequence[str] | None, min_strength: float | None, filter: Mapping[str, Any] | None
) -> _Call[Chain]:
    body = {
        "query": query,
        "hops": hops,
        "namespace": _ns(namespace),
        "min_strength": min_strength,
        "filter": None if filter is None else dict(filter),
    }
    return _Call("POST", "/v1/recall_chain", body, _chain, idempotent=True)


def _associate(source: str, target: str, strength: float, bidirectional: bool) -> _Call[None]:
    body = {"source": source, "target": target, "strength": strength, "bidirectional": bidirectional}
    return _Call("POST", "/v1/associate", body, lambda d: None)


def _path_id(id: str) -> str:
    if not isinstance(id, str) or not id:
        raise _errors.MemoryNotFoundError(f"no memory with id {id!r}")
    return "/v1/memories/" + quote(id, safe="")


def _get(id: str) -> _Call[Memory]:
    return _Call("GET", _path_id(id), None, _memory, idempotent=True)


def _update(
    id: str,
    text: str | None,
    metadata: Mapping[str, Any] | None,
    timestamp: TimeLike | None,
    cues: Sequence[str] | None,
) -> _Call[Memory]:
    body = {
        "text": text,
        "metadata": None if metadata is None else dict(metadata),
        "timestamp": _time(timestamp),
        "cues": None if cues is None else list(cues),
    }
    return _Call("PATCH", _path_id(id), body, _memory)


def _forget(ids: str | Sequence[str]) -> _Call[int]:
    id_list = [ids] if isinstance(ids, str) else list(ids)
    return _Call("POST", "/v1/forget", {"ids": id_list}, lambda d: int(d["forgotten"]))


def _list(
    namespace: Sequence[str] | None,
    filter: Mapping[str, Any] | None,
    limit: int | None,
    offset: int,
    newest_first: bool,
) -> _Call[builtins.list[Memory]]:
    body = {
        "namespace": _ns(namespace),
        "filter": None if filter is None else dict(filter),
        "limit": limit,
        "offset": offset,
        "newest_first": newest_first,
    }
    return _Call("POST", "/v1/list", body, lambda d: [_memory(m) for m in d], idempotent=True)


def _namespaces(prefix: Sequence[str] | None, max_depth: int | None) -> _Call[builtins.list[Namespace]]:
    body = {"prefix": _ns(prefix), "max_depth": max_depth}
    return _Call("POST", "/v1/namespaces", body, lambda d: [tuple(ns) for ns in d["namespaces"]], idempotent=True)


def _stats() -> _Call[dict[str, Any]]:
    return _Call("GET", "/v1/stats", None, lambda d: cast(dict[str, Any], d), idempotent=True)


def _consolidate(
    now: TimeLike | None,
    replay: bool,
    replay_budget: int | None,
    decay: bool,
    merge: bool,
    compact: bool | None,
    full: bool,
) -> _Call[ConsolidationReport]:
    body = {
        "now": _time(now),
        "replay": replay,
        "replay_budget": replay_budget,
        "decay": decay,
        "merge": merge,
        "compact": compact,
        "full": full,
    }
    return _Call("POST", "/v1/consolidate", body, _report)


def _headers(api_key: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    out = {"user-agent": "hippo-memory-client", **(headers or {})}
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


def _delay(attempt: int, backoff: float) -> float:
    return float(min(backoff * (2**attempt), 5.0) * (0.5 + random.random() / 2))


# ---------------------------------------------------------------------------- clients
class HippoClient:
    """A :class:`~hippo_memory.HippoMemory` served by ``hippo-memory serve``, over HTTP.

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
            base_url=base_url, headers=_headers(api_key, headers), timeout=timeout, transport=transport
        )

    def _send(self, call: _Call[T]) -> T:
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
                    _raise_for(response)
                    return call.parse(response.json())
            time.sleep(_delay(attempt, self.backoff))
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
        return self._send(_remember(text, namespace, metadata, timestamp, cues, session, id, salience, ttl, supersedes))

    def remember_many(
        self,
        items: Iterable[Any],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
    ) -> builtins.list[str]:
        """See :meth:`HippoMemory.remember_many`."""
        return self._send(_remember_many(items, namespace, session, metadata, timestamp))

    def associate(self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False) -> None:
        """See :meth:`HippoMemory.associate`."""
        self._send(_associate(source, target, strength, bidirectional))

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
        return self._send(_update(id, text, metadata, timestamp, cues))

    def forget(self, ids: str | Sequence[str]) -> int:
        """See :meth:`HippoMemory.forget`."""
        return self._send(_forget(ids))

    # -- reading -----------------------------------------------------------------
    def get(self, id: str) -> Memory:
        """See :meth:`HippoMemory.get`."""
        return self._send(_get(id))

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
        return self._send(_list(namespace, filter, limit, offset, newest_first))

    def namespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """See :meth:`HippoMemory.namespaces`."""
        return self._send(_namespaces(prefix, max_depth))

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
    ) -> RecallResult:
        """See :meth:`HippoMemory.recall`."""
        return self._send(_recall(query, namespace, k, filter, since, until, include_superseded, min_similarity))

    def recall_chain(
        self,
        query: str,
        *,
        hops: int = 3,
        namespace: Sequence[str] | None = None,
        min_strength: float | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> Chain:
        """See :meth:`HippoMemory.recall_chain`."""
        return self._send(_recall_chain(query, hops, namespace, min_strength, filter))

    def stats(self) -> dict[str, Any]:
        """See :meth:`HippoMemory.stats` (a key bound to a prefix sees only its own counts)."""
        return self._send(_stats())

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
        return self._send(_consolidate(now, replay, replay_budget, decay, merge, compact, full))

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
            base_url=base_url, headers=_headers(api_key, headers), timeout=timeout, transport=transport
        )

    async def _send(self, call: _Call[T]) -> T:
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
                    _raise_for(response)
                    return call.parse(response.json())
            await asyncio.sleep(_delay(attempt, self.backoff))
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
        call = _remember(text, namespace, metadata, timestamp, cues, session, id, salience, ttl, supersedes)
        return await self._send(call)

    async def remember_many(
        self,
        items: Iterable[Any],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
    ) -> builtins.list[str]:
        """See :meth:`HippoMemory.remember_many`."""
        return await self._send(_remember_many(items, namespace, session, metadata, timestamp))

    async def associate(self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False) -> None:
        """See :meth:`HippoMemory.associate`."""
        await self._send(_associate(source, target, strength, bidirectional))

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
        return await self._send(_update(id, text, metadata, timestamp, cues))

    async def forget(self, ids: str | Sequence[str]) -> int:
        """See :meth:`HippoMemory.forget`."""
        return await self._send(_forget(ids))

    async def get(self, id: str) -> Memory:
        """See :meth:`HippoMemory.get`."""
        return await self._send(_get(id))

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
        return await self._send(_list(namespace, filter, limit, offset, newest_first))

    async def namespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """See :meth:`HippoMemory.namespaces`."""
        return await self._send(_namespaces(prefix, max_depth))

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
    ) -> RecallResult:
        """See :meth:`HippoMemory.recall`."""
        return await self._send(_recall(query, namespace, k, filter, since, until, include_superseded, min_similarity))

    async def recall_chain(
        self,
        query: str,
        *,
        hops: int = 3,
        namespace: Sequence[str] | None = None,
        min_strength: float | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> Chain:
        """See :meth:`HippoMemory.recall_chain`."""
        return await self._send(_recall_chain(query, hops, namespace, min_strength, filter))

    async def stats(self) -> dict[str, Any]:
        """See :meth:`HippoMemory.stats`."""
        return await self._send(_stats())

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
        return await self._send(_consolidate(now, replay, replay_budget, decay, merge, compact, full))

    aremember = remember
    aremember_many = remember_many
    aassociate = associate
    aupdate = update
    aforget = forget
    aget = get
    alist = list
    anamespaces = namespaces
    arecall = recall
    arecall_chain = recall_chain
    aconsolidate = consolidate

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHippoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncHippoClient({str(self._http.base_url)!r})"
