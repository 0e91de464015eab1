"""The operations of the service, confined to the caller's namespace prefix and scopes.

REST endpoints and MCP tools both call :class:`Service`; nothing else touches the
engine. Confinement rules:

* a namespace given for a write must lie under the key's prefix, else
  :class:`PermissionDeniedError` (403), and the engine is never asked;
* a namespace given for a read (recall, chain, list, namespaces) that is shorter than
  the prefix, or none, is clipped to the prefix; one beside it is a 403;
* an id (get, update, forget, associate, supersedes) is looked up and answered
  ``MemoryNotFoundError`` (404) when its memory lies outside the prefix, exactly as if
  it did not exist.
"""

from __future__ import annotations

import builtins
import functools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from .._errors import MemoryNotFoundError
from .._memory import HippoMemory, MemoryInput
from .._types import Chain, ConsolidationReport, Memory, Namespace, RecallResult
from .._validation import validate_namespace
from ._errors import PermissionDeniedError
from ._keys import Principal, Scope
from ._models import (
    MAX_LIST,
    AssociateRequest,
    ConsolidateRequest,
    ListRequest,
    MemoryItem,
    NamespacesRequest,
    RecallChainRequest,
    RecallRequest,
    RememberManyRequest,
    RememberRequest,
    UpdateRequest,
)

__all__ = ["Service"]

P = ParamSpec("P")
R = TypeVar("R")


def _under(namespace: Namespace, prefix: Namespace) -> bool:
    return namespace[: len(prefix)] == prefix


def _limited(method: Callable[P, R]) -> Callable[P, R]:
    """Run an engine operation only while holding one of the service's engine slots."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0]._slots:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


class Service:
    """Tenant-confined operations over one :class:`HippoMemory`.

    Args:
        memory: The engine.
        max_concurrency: Engine calls running at once (default: the CPU count, at most
            8). The engine is CPU-bound and uses all cores per call; letting every
            request thread in at once oversubscribes the cores and multiplies latency,
            so the others wait their turn here instead.
    """

    def __init__(self, memory: HippoMemory, *, max_concurrency: int | None = None) -> None:
        self.memory = memory
        self.max_concurrency = max_concurrency or min(8, os.cpu_count() or 1)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)

    # -- confinement --------------------------------------------------------------
    @staticmethod
    def require(who: Principal, scope: Scope) -> None:
        if not who.allows(scope):
            raise PermissionDeniedError(f"this API key lacks the {scope!r} scope")

    @staticmethod
    def inside(who: Principal, namespace: Sequence[str]) -> Namespace:
        """``namespace`` validated and checked to lie under the key's prefix (for writes)."""
        ns = validate_namespace(namespace)
        if not _under(ns, who.prefix):
            raise PermissionDeniedError(f"namespace {'/'.join(ns)!r} is outside this API key's prefix")
        return ns

    @staticmethod
    def clip(who: Principal, namespace: Sequence[str] | None) -> Namespace | None:
        """A read's namespace narrowed to the key's prefix (``None`` stays ``None`` only for the whole store)."""
        if namespace is None:
            return who.prefix or None
        ns = validate_namespace(namespace)
        if _under(ns, who.prefix):
            return ns
        if _under(who.prefix, ns):
            return who.prefix
        raise PermissionDeniedError(f"namespace {'/'.join(ns)!r} is outside this API key's prefix")

    def owned(self, who: Principal, id: str) -> Memory:
        """The memory ``id`` if it lies under the prefix; otherwise not found, as if absent."""
        memory = self.memory.get(id)
        if not _under(memory.namespace, who.prefix):
            raise MemoryNotFoundError(f"no memory with id {id!r}")
        return memory

    # -- writes -------------------------------------------------------------------
    @_limited
    def remember(self, who: Principal, req: RememberRequest) -> str:
        self.require(who, "write")
        ns = self.inside(who, req.namespace)
        if req.supersedes is not None:
            self.owned(who, req.supersedes)
        return self.memory.remember(
            req.text,
            namespace=ns,
            metadata=req.metadata,
            timestamp=req.timestamp,
            cues=req.cues,
            session=req.session,
            id=req.id,
            salience=req.salience,
            ttl=req.ttl,
            supersedes=req.supersedes,
        )

    @_limited
    def remember_many(self, who: Principal, req: RememberManyRequest) -> builtins.list[str]:
        self.require(who, "write")
        default_ns = self.inside(who, req.namespace)
        items: builtins.list[str | MemoryInput] = []
        for item in req.items:
            if isinstance(item, str):
                items.append(item)
                continue
            items.append(self._item(who, item))
        return self.memory.remember_many(
            items, namespace=default_ns, session=req.session, metadata=req.metadata, timestamp=req.timestamp
        )

    def _item(self, who: Principal, item: MemoryItem) -> MemoryInput:
        spec: dict[str, Any] = item.model_dump(exclude_none=True)
        if item.namespace is not None:
            spec["namespace"] = self.inside(who, item.namespace)
        if item.supersedes is not None:
            self.owned(who, item.supersedes)
        return spec  # type: ignore[return-value]

    @_limited
    def associate(self, who: Principal, req: AssociateRequest) -> None:
        self.require(who, "write")
        self.owned(who, req.source)
        self.owned(who, req.target)
        self.memory.associate(req.source, req.target, strength=req.strength, bidirectional=req.bidirectional)

    @_limited
    def update(self, who: Principal, id: str, req: UpdateRequest) -> Memory:
        self.require(who, "write")
        self.owned(who, id)
        return self.memory.update(id, text=req.text, metadata=req.metadata, timestamp=req.timestamp, cues=req.cues)

    @_limited
    def forget(self, who: Principal, ids: Sequence[str]) -> int:
        self.require(who, "write")
        for memory_id in ids:
            self.owned(who, memory_id)
        return self.memory.forget(list(ids))

    # -- reads --------------------------------------------------------------------
    @_limited
    def get(self, who: Principal, id: str) -> Memory:
        self.require(who, "read")
        return self.owned(who, id)

    @_limited
    def recall(self, who: Principal, req: RecallRequest) -> RecallResult:
        self.require(who, "read")
        return self.memory.recall(
            req.query,
            namespace=self.clip(who, req.namespace),
            k=req.k,
            filter=req.filter,
            since=req.since,
            until=req.until,
            include_superseded=req.include_superseded,
            min_similarity=req.min_similarity,
        )

    @_limited
    def recall_chain(self, who: Principal, req: RecallChainRequest) -> Chain:
        self.require(who, "read")
        return self.memory.recall_chain(
            req.query,
            hops=req.hops,
            namespace=self.clip(who, req.namespace),
            min_strength=req.min_strength,
            filter=req.filter,
        )

    @_limited
    def list(self, who: Principal, req: ListRequest) -> builtins.list[Memory]:
        self.require(who, "read")
        return self.memory.list(
            self.clip(who, req.namespace),
            filter=req.filter,
            limit=MAX_LIST if req.limit is None else req.limit,
            offset=req.offset,
            newest_first=req.newest_first,
        )

    @_limited
    def namespaces(self, who: Principal, req: NamespacesRequest) -> builtins.list[Namespace]:
        self.require(who, "read")
        return self.memory.namespaces(self.clip(who, req.prefix), max_depth=req.max_depth)

    @_limited
    def stats(self, who: Principal) -> dict[str, Any]:
        """The engine's stats for an admin key on the whole store; a tenant sees only its own counts."""
        self.require(who, "read")
        if who.allows("admin") and not who.prefix:
            return self.memory.stats()
        prefix = who.prefix or None
        return {
            "memories": self.memory.count(prefix),
            "namespaces": len(self.memory.namespaces(prefix)),
            "prefix": list(who.prefix),
        }

    @_limited
    def consolidate(self, who: Principal, req: ConsolidateRequest) -> ConsolidationReport:
        """Store-wide maintenance: only an admin key for the whole store."""
        self.require(who, "admin")
        if who.prefix:
            raise PermissionDeniedError("consolidate runs over the whole store: it needs an admin key without prefix")
        return self.memory.consolidate(
            now=req.now,
            replay=req.replay,
            replay_budget=req.replay_budget,
            decay=req.decay,
            merge=req.merge,
            compact=req.compact,
            full=req.full,
        )

    def ready(self) -> bool:
        try:
            self.memory.count()
        except Exception:
            return False
        return True
