"""Async twins of :class:`~hippo_memory.HippoMemory`'s methods, with the full signatures.

Each twin runs its sync method in a worker thread (``asyncio.to_thread``): the
engine's work is CPU-bound numpy/torch and SQLite, which release the GIL, so an
event loop stays responsive. The twins share the sync methods' code entirely.
"""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._grouping import GroupHit, GroupMethod
from ._items import MemoryInput
from ._types import Chain, ConsolidationReport, Memory, Namespace, RecallResult
from ._validation import DEFAULT_NAMESPACE, TimeLike

__all__ = ["AsyncMemoryMixin"]


class AsyncMemoryMixin:
    """``a*`` twins of the engine's I/O methods (mixed into :class:`~hippo_memory.HippoMemory`)."""

    if TYPE_CHECKING:  # the sync methods the twins run, implemented by HippoMemory

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
        ) -> str: ...
        def remember_many(
            self,
            items: Iterable[str | MemoryInput],
            *,
            namespace: Sequence[str] = DEFAULT_NAMESPACE,
            session: str | None = None,
            metadata: Mapping[str, Any] | None = None,
            timestamp: TimeLike | None = None,
        ) -> builtins.list[str]: ...
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
        ) -> RecallResult: ...
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
        ) -> RecallResult: ...
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
        ) -> builtins.list[GroupHit]: ...
        def recall_chain(
            self,
            query: str,
            *,
            hops: int = 3,
            namespace: Sequence[str] | None = None,
            min_strength: float | None = None,
            filter: Mapping[str, Any] | None = None,
            reference_time: TimeLike | None = None,
        ) -> Chain: ...
        def associate(
            self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False
        ) -> None: ...
        def get(self, id: str) -> Memory: ...
        def update(
            self,
            id: str,
            *,
            text: str | None = None,
            metadata: Mapping[str, Any] | None = None,
            timestamp: TimeLike | None = None,
            cues: Sequence[str] | None = None,
        ) -> Memory: ...
        def forget(self, ids: str | Sequence[str]) -> int: ...
        def forget_namespace(self, namespace: Sequence[str]) -> int: ...
        def list(
            self,
            namespace: Sequence[str] | None = None,
            *,
            filter: Mapping[str, Any] | None = None,
            limit: int | None = None,
            offset: int = 0,
            newest_first: bool = False,
        ) -> builtins.list[Memory]: ...
        def count(self, namespace: Sequence[str] | None = None) -> int: ...
        def namespaces(
            self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
        ) -> builtins.list[Namespace]: ...
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
        ) -> ConsolidationReport: ...
        def supersede(self, old: str, new: str) -> None: ...
        def forget_before(self, before: TimeLike, *, namespace: Sequence[str] | None = None) -> int: ...
        def export_jsonl(
            self,
            path: str | os.PathLike[str],
            namespace: Sequence[str] | None = None,
            *,
            include_superseded: bool = False,
        ) -> int: ...

    async def aremember(
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
        """Async twin of :meth:`~hippo_memory.HippoMemory.remember`."""
        return await asyncio.to_thread(
            lambda: self.remember(
                text,
                namespace=namespace,
                metadata=metadata,
                timestamp=timestamp,
                cues=cues,
                session=session,
                id=id,
                salience=salience,
                ttl=ttl,
                supersedes=supersedes,
            )
        )

    async def aremember_many(
        self,
        items: Iterable[str | MemoryInput],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
    ) -> builtins.list[str]:
        """Async twin of :meth:`~hippo_memory.HippoMemory.remember_many`."""
        batch = builtins.list(items)
        return await asyncio.to_thread(
            lambda: self.remember_many(
                batch, namespace=namespace, session=session, metadata=metadata, timestamp=timestamp
            )
        )

    async def arecall(
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
        """Async twin of :meth:`~hippo_memory.HippoMemory.recall`."""
        return await asyncio.to_thread(
            lambda: self.recall(
                query,
                namespace=namespace,
                k=k,
                filter=filter,
                since=since,
                until=until,
                include_superseded=include_superseded,
                min_similarity=min_similarity,
                min_score=min_score,
                reference_time=reference_time,
            )
        )

    async def arecall_vector(
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
        """Async twin of :meth:`~hippo_memory.HippoMemory.recall_vector`."""
        return await asyncio.to_thread(
            lambda: self.recall_vector(
                vector,
                query=query,
                namespace=namespace,
                k=k,
                filter=filter,
                since=since,
                until=until,
                include_superseded=include_superseded,
                min_similarity=min_similarity,
                min_score=min_score,
                reference_time=reference_time,
            )
        )

    async def arecall_groups(
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
        """Async twin of :meth:`~hippo_memory.HippoMemory.recall_groups`."""
        return await asyncio.to_thread(
            lambda: self.recall_groups(
                query,
                group_by=group_by,
                k=k,
                namespace=namespace,
                filter=filter,
                since=since,
                until=until,
                depth=depth,
                method=method,
                vector=vector,
                reference_time=reference_time,
            )
        )

    async def arecall_chain(
        self,
        query: str,
        *,
        hops: int = 3,
        namespace: Sequence[str] | None = None,
        min_strength: float | None = None,
        filter: Mapping[str, Any] | None = None,
        reference_time: TimeLike | None = None,
    ) -> Chain:
        """Async twin of :meth:`~hippo_memory.HippoMemory.recall_chain`."""
        return await asyncio.to_thread(
            lambda: self.recall_chain(
                query,
                hops=hops,
                namespace=namespace,
                min_strength=min_strength,
                filter=filter,
                reference_time=reference_time,
            )
        )

    async def aassociate(self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False) -> None:
        """Async twin of :meth:`~hippo_memory.HippoMemory.associate`."""
        await asyncio.to_thread(lambda: self.associate(source, target, strength=strength, bidirectional=bidirectional))

    async def aget(self, id: str) -> Memory:
        """Async twin of :meth:`~hippo_memory.HippoMemory.get`."""
        return await asyncio.to_thread(self.get, id)

    async def aupdate(
        self,
        id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] | None = None,
    ) -> Memory:
        """Async twin of :meth:`~hippo_memory.HippoMemory.update`."""
        return await asyncio.to_thread(
            lambda: self.update(id, text=text, metadata=metadata, timestamp=timestamp, cues=cues)
        )

    async def aforget(self, ids: str | Sequence[str]) -> int:
        """Async twin of :meth:`~hippo_memory.HippoMemory.forget`."""
        return await asyncio.to_thread(self.forget, ids)

    async def aforget_namespace(self, namespace: Sequence[str]) -> int:
        """Async twin of :meth:`~hippo_memory.HippoMemory.forget_namespace`."""
        return await asyncio.to_thread(self.forget_namespace, namespace)

    async def alist(
        self,
        namespace: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[Memory]:
        """Async twin of :meth:`~hippo_memory.HippoMemory.list`."""
        return await asyncio.to_thread(
            lambda: self.list(namespace, filter=filter, limit=limit, offset=offset, newest_first=newest_first)
        )

    async def acount(self, namespace: Sequence[str] | None = None) -> int:
        """Async twin of :meth:`~hippo_memory.HippoMemory.count`."""
        return await asyncio.to_thread(self.count, namespace)

    async def anamespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """Async twin of :meth:`~hippo_memory.HippoMemory.namespaces`."""
        return await asyncio.to_thread(lambda: self.namespaces(prefix, max_depth=max_depth))

    async def aconsolidate(
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
        """Async twin of :meth:`~hippo_memory.HippoMemory.consolidate`."""
        return await asyncio.to_thread(
            lambda: self.consolidate(
                now=now,
                replay=replay,
                replay_budget=replay_budget,
                decay=decay,
                merge=merge,
                compact=compact,
                full=full,
            )
        )

    async def asupersede(self, old: str, new: str) -> None:
        """Async twin of :meth:`~hippo_memory.HippoMemory.supersede`."""
        await asyncio.to_thread(self.supersede, old, new)

    async def aforget_before(self, before: TimeLike, *, namespace: Sequence[str] | None = None) -> int:
        """Async twin of :meth:`~hippo_memory.HippoMemory.forget_before`."""
        return await asyncio.to_thread(lambda: self.forget_before(before, namespace=namespace))

    async def aexport_jsonl(
        self,
        path: str | os.PathLike[str],
        namespace: Sequence[str] | None = None,
        *,
        include_superseded: bool = False,
    ) -> int:
        """Async twin of :meth:`~hippo_memory.HippoMemory.export_jsonl`."""
        return await asyncio.to_thread(
            lambda: self.export_jsonl(path, namespace, include_superseded=include_superseded)
        )
