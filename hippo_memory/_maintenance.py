"""Maintenance of every partition: consolidation, supersession, forgetting by date, export."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import _consolidation
from ._engine import Engine
from ._errors import InvalidInputError, StoreError
from ._export import export_records
from ._partition import Partition
from ._types import ConsolidationReport, Namespace
from ._validation import TimeLike, to_epoch, validate_namespace

__all__ = ["Maintenance"]


class Maintenance(Engine):
    """The engine's maintenance operations (the base of :class:`~hippo_memory.HippoMemory`)."""

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
        """Offline consolidation ("sleep") of every partition: replay, decay, forget, merge, compact.

        Each partition's pass plans on a snapshot without holding its lock, so recall
        keeps answering, then commits in one transaction (see ``docs/consolidation.md``).
        On a shared store a partition that another process is consolidating is left to
        it, not waited for (counted in ``skipped_partitions``).

        Args:
            now: The time the pass runs at (default: :attr:`clock`).
            replay: Replay the memories that matter most and are fading.
            replay_budget: Memories replayed per partition (default ``HippoConfig.replay_budget``).
            decay: Decay association strengths and forget memories weaker than ``forget_below``.
            merge: Merge near-duplicates of one namespace (``HippoConfig.merge_similarity``).
            compact: Rewrite vector files without dead rows: ``None`` once
                ``compact_dead_fraction`` of the rows are dead, ``True`` always, ``False`` never.
            full: Compare all pairs for duplicates, not only memories written since the last pass.

        Raises:
            InvalidInputError: bad ``now`` or ``replay_budget``.
        """
        when = to_epoch(now, "now")
        reports = []
        for key in self.storage.partition_keys(None):
            store = self.storage.partition(key)
            if store is None:
                continue
            # A shared store: another process consolidating this partition does it for both.
            with store.consolidation_lock() as held:
                if not held:
                    skipped = _consolidation.merge_reports([], self.clock() if when is None else when)
                    reports.append(dataclasses.replace(skipped, skipped_partitions=1))
                    continue
                reports.append(
                    self._retry(
                        lambda key=key: _consolidation.consolidate(  # type: ignore[misc]
                            self._required(key),
                            now=when,
                            replay=replay,
                            replay_budget=replay_budget,
                            decay=decay,
                            merge=merge,
                            compact_files=compact,
                            full=full,
                        )
                    )
                )
        return _consolidation.merge_reports(reports, self.clock() if when is None else when)

    def supersede(self, old: str, new: str) -> None:
        """Record that memory ``new`` replaces ``old`` (same namespace); ``old`` is hidden from recall.

        Raises:
            MemoryNotFoundError: an id does not exist.
            InvalidInputError: ``old == new``, a circular supersession, or two namespaces.
        """
        self._check_open()

        def record() -> None:
            part, old_slot = self._locate_one(old)
            other, new_slot = self._locate_one(new)
            if other is not part or part.slot_ns[old_slot] != part.slot_ns[new_slot]:
                raise InvalidInputError("a memory can only supersede one of its own namespace")
            _consolidation.supersede(part, old, new)

        self._retry(record)

    def forget_before(self, before: TimeLike, *, namespace: Sequence[str] | None = None) -> int:
        """Forget every memory dated before ``before`` (its ``timestamp``, else when it was stored).

        Returns:
            How many memories were forgotten.
        """
        cut = to_epoch(before, "before")
        if cut is None:
            raise InvalidInputError("before must be a date")
        prefix = None if namespace is None else validate_namespace(namespace)
        return sum(
            self._retry(lambda key=key: _consolidation.forget_before(self._required(key), cut, prefix))  # type: ignore[misc]
            for key in self.storage.partition_keys(prefix)
        )

    def export_jsonl(
        self,
        path: str | os.PathLike[str],
        namespace: Sequence[str] | None = None,
        *,
        include_superseded: bool = False,
    ) -> int:
        """Write the memories as JSON lines (``id``, ``text``, ``namespace``, ``metadata``, times,
        lifecycle fields and ``cues``); expired ones are left out, superseded ones unless asked for.
        The file is replaced atomically.

        Returns:
            How many memories were written.
        """
        prefix = None if namespace is None else validate_namespace(namespace)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for part in self._each_partition(prefix):
                    for record in export_records(part, prefix, include_superseded):
                        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                        written += 1
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return written

    def _required(self, key: Namespace) -> Partition:
        part = self._partition(key)
        if part is None:
            raise StoreError(f"partition {key!r} disappeared")
        return part

    def _each_partition(self, prefix: Namespace | None) -> Iterator[Partition]:
        for key in self.storage.partition_keys(prefix):
            part = self._partition(key)
            if part is not None:
                yield part
