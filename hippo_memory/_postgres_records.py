"""The records and cues of recently recalled memories, kept in RAM so a warm recall of them needs no query.

A recall reads its hits' records and cues from the database (one statement per
partition with hits); on PostgreSQL that statement is a network round trip, most of
what a warm recall waits for once the catalogue check is answered by the change feed
(:mod:`._postgres_feed`). :class:`RecordCache` keeps what such reads returned, per
partition, least recently used first out, within a byte budget.

It is exact, not eventually consistent: every entry of a partition is dropped
whenever the partition changes, by this process (at the end of each of its write
transactions, commit or rollback) or by another one (when this process catches up
with, or reloads, the partition). A read that raced such a change is not kept: each
partition has a generation, read before the query and checked when the rows are
put. Reads inside a write transaction bypass the cache (they may see uncommitted rows).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from ._storage import CueRecord, MemoryRecord

__all__ = ["Entry", "RecordCache"]

Entry = tuple[MemoryRecord, list[CueRecord]]
"""A memory's record with its cues in row order."""
_OVERHEAD = 400  # bytes of Python objects around one entry's strings (tuple, record, lists, dict slots)


def entry_bytes(entry: Entry) -> int:
    """An estimate of the RAM one entry holds (its strings plus a fixed overhead per object)."""
    record, cues = entry
    strings = len(record.id) + len(record.namespace) + len(record.text) + len(record.metadata)
    strings += len(record.session or "")
    return _OVERHEAD + strings + sum(len(cue.text) + len(cue.kind) + 100 for cue in cues)


class RecordCache:
    """LRU of ``(partition_id, slot) -> (record, cues)`` within ``budget_bytes``; thread-safe.

    Attributes:
        hits: Slots answered from RAM so far.
        misses: Slots that had to be read.
        nbytes: Estimated bytes held.
    """

    def __init__(self, budget_bytes: int) -> None:
        self._budget = budget_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int], tuple[Entry, int]] = OrderedDict()
        self._slots: dict[int, set[int]] = {}
        self._generations: dict[int, int] = {}
        self.hits = 0
        self.misses = 0
        self.nbytes = 0

    def generation(self, pid: int) -> int:
        """Partition ``pid``'s generation: read it before a query whose rows :meth:`put` will keep."""
        with self._lock:
            return self._generations.get(pid, 0)

    def get(self, pid: int, slots: Sequence[int]) -> tuple[dict[int, Entry], list[int]]:
        """The cached entries of ``slots`` and the slots that are not cached (in the given order)."""
        found: dict[int, Entry] = {}
        missing: list[int] = []
        with self._lock:
            entries = self._entries
            for slot in slots:
                held = entries.get((pid, slot))
                if held is None:
                    missing.append(slot)
                else:
                    entries.move_to_end((pid, slot))
                    found[slot] = held[0]
            self.hits += len(found)
            self.misses += len(missing)
        return found, missing

    def put(self, pid: int, generation: int, read: Mapping[int, Entry]) -> None:
        """Keep rows read at ``generation`` (nothing, if the partition changed since)."""
        if self._budget <= 0:
            return
        with self._lock:
            if self._generations.get(pid, 0) != generation:
                return
            slots = self._slots.setdefault(pid, set())
            for slot, entry in read.items():
                size = entry_bytes(entry)
                old = self._entries.pop((pid, slot), None)
                if old is not None:
                    self.nbytes -= old[1]
                self._entries[(pid, slot)] = (entry, size)
                self.nbytes += size
                slots.add(slot)
            while self.nbytes > self._budget and self._entries:
                (old_pid, old_slot), (_, size) = self._entries.popitem(last=False)
                self.nbytes -= size
                self._slots[old_pid].discard(old_slot)

    def invalidate(self, pid: int) -> None:
        """Drop every entry of partition ``pid`` and advance its generation (it changed)."""
        with self._lock:
            self._generations[pid] = self._generations.get(pid, 0) + 1
            for slot in self._slots.pop(pid, ()):
                held = self._entries.pop((pid, slot), None)
                if held is not None:
                    self.nbytes -= held[1]

    def clear(self) -> None:
        with self._lock:
            for pid in list(self._slots):
                self._generations[pid] = self._generations.get(pid, 0) + 1
            self._entries.clear()
            self._slots.clear()
            self.nbytes = 0
