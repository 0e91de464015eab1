"""Compaction: rewriting a partition's vector file and index without dead rows."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from ._faults import fault as _fault

if TYPE_CHECKING:
    from ._index import CueIndex
    from ._partition import Partition

__all__ = ["compact", "maybe_reclaim"]

_RECLAIM_MIN_ROWS = 1024


# ---------------------------------------------------------------------------- compaction
def compact(
    memory: Partition, *, force: bool = False, dead_fraction: float | None = None
) -> tuple[int, int, float] | None:
    """Rewrite the vector file and the index without dead rows (one pass at a time).

    The live rows of a snapshot are written to the next generation's file and a new
    index is built from them without the lock; under the lock the rows added since
    are appended, rows deleted since are marked dead, and one transaction remaps the
    row numbers and names the new file. The old file is deleted after the commit.

    Returns:
        ``(rows_before, rows_after, seconds_locked)``, or ``None`` when there was too
        little dead space (below ``dead_fraction``, by default
        ``HippoConfig.compact_dead_fraction``) and not ``force``.
    """
    with memory.life.pass_lock:
        return _compact(memory, force=force, dead_fraction=dead_fraction)


def maybe_reclaim(memory: Partition) -> bool:
    """Compact a partition whose dead rows passed ``HippoConfig.reclaim_dead_fraction``.

    Called after updates and forgets, so a store that is rewritten in place does not
    grow until the next :meth:`~hippo_memory.HippoMemory.consolidate`. Skipped when a
    consolidation or compaction pass is running (it reclaims the rows itself) and for
    partitions of fewer than ``_RECLAIM_MIN_ROWS`` rows, where dead rows cost nothing.

    Returns:
        Whether the partition was compacted.
    """
    fraction = memory.config.reclaim_dead_fraction
    index = memory.index
    if fraction is None or index.n_rows < _RECLAIM_MIN_ROWS or index.n_rows - index.n_alive < fraction * index.n_rows:
        return False
    if not memory.life.pass_lock.acquire(blocking=False):
        return False
    try:
        return _compact(memory, force=False, dead_fraction=fraction) is not None
    finally:
        memory.life.pass_lock.release()


def _compact(memory: Partition, *, force: bool, dead_fraction: float | None = None) -> tuple[int, int, float] | None:

    locked = 0.0
    with memory.lock:
        t = time.perf_counter()
        memory.check_open()
        index = memory.index
        n0 = index.n_rows
        alive0 = index.alive(np.arange(n0))
        vectors = index.all_vectors
        name = memory.store.next_vectors_name()
        locked += time.perf_counter() - t
    dead = n0 - int(alive0.sum())
    threshold = memory.config.compact_dead_fraction if dead_fraction is None else dead_fraction
    if n0 == 0 or dead == 0 or (not force and dead < threshold * n0):
        return None
    live_rows = np.flatnonzero(alive0).astype(np.int64)
    kept = np.ascontiguousarray(vectors[live_rows])
    memory.store.write_vector_file(name, kept)
    _fault("compact:written")
    fresh: CueIndex = memory.new_index()
    fresh.add(kept, index.owners(live_rows), rebuild=False)
    fresh.refresh()
    with memory.lock:
        t = time.perf_counter()
        memory.check_open()
        store = memory.store
        index = memory.index
        n1 = index.n_rows
        mapping = np.full(n1, -1, dtype=np.int64)
        mapping[live_rows] = np.arange(live_rows.size)
        if n1 > n0:  # rows written while the file was being copied
            delta = np.arange(n0, n1)
            mapping[delta] = live_rows.size + np.arange(delta.size)
            store.write_vector_file(name, index.vectors(delta), first_row=live_rows.size)
            fresh.add(index.vectors(delta), index.owners(delta), alive=index.alive(delta))
        died = live_rows[~index.alive(live_rows)]
        if died.size:
            fresh.remove(mapping[died])
        n_new = live_rows.size + (n1 - n0)
        _fault("compact:remapped")
        with memory.transaction():
            moved = np.flatnonzero(mapping != np.arange(n1))
            moved = moved[mapping[moved] >= 0]
            store.remap_rows(list(zip(moved.tolist(), mapping[moved].tolist(), strict=True)))
            store.commit_vectors_name(name)
            store.commit_rows(n_new)
        _fault("compact:committed")
        store.switch_vectors(name, n_new)
        live_slots = np.flatnonzero(memory.slot_ns[: len(memory.slot_id)] >= 0)
        memory.slot_rows[live_slots, 0] = mapping[memory.slot_rows[live_slots, 0]]
        memory.index = fresh
        memory.persist_ivf()
        locked += time.perf_counter() - t
    return n0, n_new, locked
