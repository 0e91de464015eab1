"""The operations of the service, confined to the caller's namespace prefix and scopes.

REST endpoints and MCP tools both call :class:`Service`; nothing else touches the
engine. Confinement rules:

* a namespace given for a write must lie under the key's prefix, else
  :class:`PermissionDeniedError` (403), and the engine is never asked;
* a namespace given for a read (recall, chain, list, namespaces) that is shorter than
  the prefix, or none, is clipped to the prefix; one beside it is a 403;
* an id (get, update, forget, associate, supersede, associations) is looked up and
  answered ``MemoryNotFoundError`` (404) when its memory lies outside the prefix,
  exactly as if it did not exist;
* ids live in the key's own id space (:class:`~hippo_memory.server._ids.IdScope`): an
  id a tenant chooses cannot collide with another tenant's, so "already exists" never
  tells of a memory outside the prefix, and every id in an answer or an error message
  is shown as the key sees it.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from .._errors import HippoMemoryError, InvalidInputError, MemoryNotFoundError
from .._grouping import GroupHit
from .._memory import HippoMemory, MemoryInput
from .._types import Chain, ConsolidationReport, Memory, Namespace, RecallResult
from .._validation import validate_namespace
from ._errors import PermissionDeniedError
from ._ids import IdScope
from ._keys import Principal, Scope
from ._models import (
    MAX_LIST,
    AssociateRequest,
    AssociationsRequest,
    ConsolidateRequest,
    CountRequest,
    ExportRequest,
    ForgetBeforeRequest,
    ForgetNamespaceRequest,
    ListRequest,
    MemoryItem,
    NamespacesRequest,
    RecallChainRequest,
    RecallGroupsRequest,
    RecallRequest,
    RecallVectorRequest,
    RememberManyRequest,
    RememberRequest,
    SupersedeRequest,
    UpdateRequest,
)

__all__ = ["Service"]

P = ParamSpec("P")
R = TypeVar("R")


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _vector(values: Sequence[float]) -> npt.NDArray[np.float32]:
    """A query vector from JSON numbers: float32 ``(d,)``.

    Raises:
        InvalidInputError: a value is not finite or does not fit a float32.
    """
    wide = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(wide)) or np.any(np.abs(wide) > _FLOAT32_MAX):
        raise InvalidInputError("vector values must be finite numbers within the float32 range")
    return wide.astype(np.float32)


def _under(namespace: Namespace, prefix: Namespace) -> bool:
    return namespace[: len(prefix)] == prefix


def _served(method: Callable[Concatenate[Service, Principal, P], R]) -> Callable[Concatenate[Service, Principal, P], R]:
    """Run an engine operation holding one of the service's engine slots; error messages show ids as the key sees them."""

    @functools.wraps(method)
    def wrapper(self: Service, who: Principal, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._slots:
            try:
                return method(self, who, *args, **kwargs)
            except HippoMemoryError as exc:
                if who.prefix and exc.args:
                    exc.args = (IdScope(who.prefix).message(str(exc.args[0])), *exc.args[1:])
                raise

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
        """The memory ``id`` names for this key, as stored (its stored id); not found when outside the prefix.

        The message is the one an id nobody holds gets: nothing tells a memory of
        another tenant from a missing one.
        """
        if isinstance(id, str):
            for stored in IdScope(who.prefix).candidates(id):
                try:
                    memory = self.memory.get(stored)
                except MemoryNotFoundError:
                    continue
                if _under(memory.namespace, who.prefix):
                    return memory
        raise MemoryNotFoundError(f"no memory with id {id!r}")

    # -- writes -------------------------------------------------------------------
    @_served
    def remember(self, who: Principal, req: RememberRequest) -> str:
        self.require(who, "write")
        ns = self.inside(who, req.namespace)
        ids = IdScope(who.prefix)
        supersedes = None if req.supersedes is None else self.owned(who, req.supersedes).id
        return ids.shown(
            self.memory.remember(
                req.text,
                namespace=ns,
                metadata=req.metadata,
                timestamp=req.timestamp,
                cues=req.cues,
                session=req.session,
                id=None if req.id is None else ids.stored(req.id),
                salience=req.salience,
                ttl=req.ttl,
                supersedes=supersedes,
            )
        )

    @_served
    def remember_many(self, who: Principal, req: RememberManyRequest) -> builtins.list[str]:
        self.require(who, "write")
        # The batch's default namespace matters only to items without their own: a
        # batch whose items all name one under the prefix may leave it at "default".
        if all(not isinstance(item, str) and item.namespace is not None for item in req.items):
            default_ns = validate_namespace(req.namespace)
        else:
            default_ns = self.inside(who, req.namespace)
        items: builtins.list[str | MemoryInput] = []
        for item in req.items:
            if isinstance(item, str):
                items.append(item)
                continue
            items.append(self._item(who, item))
        stored = self.memory.remember_many(
            items, namespace=default_ns, session=req.session, metadata=req.metadata, timestamp=req.timestamp
        )
        return IdScope(who.prefix).shown_ids(stored)

    def _item(self, who: Principal, item: MemoryItem) -> MemoryInput:
        spec: dict[str, Any] = item.model_dump(exclude_none=True)
        if item.namespace is not None:
            spec["namespace"] = self.inside(who, item.namespace)
        if item.id is not None:
            spec["id"] = IdScope(who.prefix).stored(item.id)
        if item.supersedes is not None:
            spec["supersedes"] = self.owned(who, item.supersedes).id
        return spec  # type: ignore[return-value]

    @_served
    def associate(self, who: Principal, req: AssociateRequest) -> None:
        self.require(who, "write")
        source, target = self.owned(who, req.source).id, self.owned(who, req.target).id
        self.memory.associate(source, target, strength=req.strength, bidirectional=req.bidirectional)

    @_served
    def supersede(self, who: Principal, req: SupersedeRequest) -> None:
        self.require(who, "write")
        self.memory.supersede(self.owned(who, req.old).id, self.owned(who, req.new).id)

    @_served
    def update(self, who: Principal, id: str, req: UpdateRequest) -> Memory:
        self.require(who, "write")
        stored = self.owned(who, id).id
        updated = self.memory.update(
            stored, text=req.text, metadata=req.metadata, timestamp=req.timestamp, cues=req.cues
        )
        return IdScope(who.prefix).memory(updated)

    @_served
    def forget(self, who: Principal, ids: Sequence[str]) -> int:
        self.require(who, "write")
        return self.memory.forget([self.owned(who, memory_id).id for memory_id in ids])

    @_served
    def forget_namespace(self, who: Principal, req: ForgetNamespaceRequest) -> int:
        self.require(who, "write")
        return self.memory.forget_namespace(self.inside(who, req.namespace))

    @_served
    def forget_before(self, who: Principal, req: ForgetBeforeRequest) -> int:
        """Without a namespace: everything the key may write (its prefix, or the whole store)."""
        self.require(who, "write")
        namespace = (who.prefix or None) if req.namespace is None else self.inside(who, req.namespace)
        return self.memory.forget_before(req.before, namespace=namespace)

    # -- reads --------------------------------------------------------------------
    @_served
    def get(self, who: Principal, id: str) -> Memory:
        self.require(who, "read")
        return IdScope(who.prefix).memory(self.owned(who, id))

    @_served
    def associations(self, who: Principal, req: AssociationsRequest) -> builtins.list[tuple[str, float]]:
        """Outgoing links of a memory; targets outside the prefix (links learnt by a wider key) are left out."""
        self.require(who, "read")
        links = self.memory.associations(self.owned(who, req.id).id)
        ids = IdScope(who.prefix)
        if not who.prefix:
            return links
        out = []
        for target, strength in links:
            try:
                visible = _under(self.memory.get(target).namespace, who.prefix)
            except MemoryNotFoundError:
                visible = False
            if visible:
                out.append((ids.shown(target), strength))
        return out

    @_served
    def recall(self, who: Principal, req: RecallRequest) -> RecallResult:
        self.require(who, "read")
        result = self.memory.recall(
            req.query,
            namespace=self.clip(who, req.namespace),
            k=req.k,
            filter=req.filter,
            since=req.since,
            until=req.until,
            include_superseded=req.include_superseded,
            min_similarity=req.min_similarity,
            min_score=req.min_score,
            reference_time=req.reference_time,
        )
        return IdScope(who.prefix).result(result)

    @_served
    def recall_vector(self, who: Principal, req: RecallVectorRequest) -> RecallResult:
        self.require(who, "read")
        result = self.memory.recall_vector(
            _vector(req.vector),
            query=req.query,
            namespace=self.clip(who, req.namespace),
            k=req.k,
            filter=req.filter,
            since=req.since,
            until=req.until,
            include_superseded=req.include_superseded,
            min_similarity=req.min_similarity,
            min_score=req.min_score,
            reference_time=req.reference_time,
        )
        return IdScope(who.prefix).result(result)

    @_served
    def recall_groups(self, who: Principal, req: RecallGroupsRequest) -> builtins.list[GroupHit]:
        self.require(who, "read")
        groups = self.memory.recall_groups(
            req.query,
            group_by=req.group_by,
            k=req.k,
            namespace=self.clip(who, req.namespace),
            filter=req.filter,
            since=req.since,
            until=req.until,
            depth=req.depth,
            method=req.method,
            vector=None if req.vector is None else _vector(req.vector),
            reference_time=req.reference_time,
        )
        ids = IdScope(who.prefix)
        return [g._replace(hits=ids.result_hits(g.hits)) for g in groups]

    @_served
    def recall_chain(self, who: Principal, req: RecallChainRequest) -> Chain:
        self.require(who, "read")
        chain = self.memory.recall_chain(
            req.query,
            hops=req.hops,
            namespace=self.clip(who, req.namespace),
            min_strength=req.min_strength,
            filter=req.filter,
            vector=None if req.vector is None else _vector(req.vector),
            reference_time=req.reference_time,
        )
        return IdScope(who.prefix).chain(chain)

    @_served
    def list(self, who: Principal, req: ListRequest) -> builtins.list[Memory]:
        self.require(who, "read")
        found = self.memory.list(
            self.clip(who, req.namespace),
            filter=req.filter,
            limit=MAX_LIST if req.limit is None else req.limit,
            offset=req.offset,
            newest_first=req.newest_first,
        )
        ids = IdScope(who.prefix)
        return [ids.memory(m) for m in found]

    @_served
    def count(self, who: Principal, req: CountRequest) -> int:
        self.require(who, "read")
        return self.memory.count(self.clip(who, req.namespace))

    @_served
    def export(self, who: Principal, req: ExportRequest) -> builtins.list[dict[str, Any]]:
        """The records :meth:`HippoMemory.export_jsonl` writes, for the client to write where it likes."""
        self.require(who, "read")
        namespace = self.clip(who, req.namespace)
        ids = IdScope(who.prefix)
        with tempfile.TemporaryDirectory(prefix="hippo-export-") as tmp:
            path = Path(tmp) / "export.jsonl"
            self.memory.export_jsonl(path, namespace, include_superseded=req.include_superseded)
            with path.open(encoding="utf-8") as lines:
                return [ids.record(json.loads(line)) for line in lines if line.strip()]

    @_served
    def namespaces(self, who: Principal, req: NamespacesRequest) -> builtins.list[Namespace]:
        self.require(who, "read")
        return self.memory.namespaces(self.clip(who, req.prefix), max_depth=req.max_depth)

    @_served
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

    @_served
    def config(self, who: Principal) -> dict[str, Any]:
        """The engine's :class:`~hippo_memory.HippoConfig` as JSON: any key that may read (it holds no data)."""
        self.require(who, "read")
        return self.memory.config.model_dump(mode="json")

    @_served
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
