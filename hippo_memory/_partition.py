"""A partition: the in-RAM state of the memories of one namespace (or namespace prefix).

Memories of different partitions never interact: each partition has its own
candidate index (cue vectors, their owners, IVF centroids), lexical index with its
own statistics, sparse codes and associations, lifecycle state, sessions and
speakers. Slots (memory numbers) and vector rows are partition-local.

:class:`Partition` is the small core object the stages work on (the write path,
recall, consolidation, the write policy); the facade
(:class:`~hippo_memory.HippoMemory`) only routes calls to partitions.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ._config import HippoConfig
from ._errors import MemoryNotFoundError, NamespaceNotFoundError, StoreClosedError, StoreCorruptedError
from ._filters import matches_filter
from ._hebbian import AssociativeMemory
from ._index import CueIndex
from ._lexical import LexicalIndex, window_document
from ._lifecycle import LifecycleState
from ._storage import CueRecord, LifecycleRecord, MemoryRecord, PartitionChanges, PartitionStorage
from ._temporal import TIME_CUES_KEY, time_cues_from_json
from ._types import Cue, Memory, Namespace
from ._validation import from_epoch

__all__ = ["Partition", "StalePartition"]

_log = logging.getLogger("hippo_memory.partition")


class _Diverged(Exception):
    """Changes read from the storage do not fit the in-RAM state: reload the partition in full."""


class StalePartition(Exception):
    """Another process committed to this partition since its state was read: catch up and retry.

    Raised by :meth:`Partition.transaction` before its block runs, so nothing of the
    write was stored; the caller leaves the in-RAM state as it was (undoing any change
    it made ahead of the transaction), and the engine catches it up in place
    (:meth:`Partition.catch_up`) before it retries the whole call.
    """

    def __init__(self, key: Namespace) -> None:
        super().__init__(f"partition {key!r} changed in another process")
        self.key = key


IntArray = npt.NDArray[np.int64]


class Partition:
    """The memories of one partition, loaded from its storage.

    Args:
        store: The partition's storage.
        config: Engine settings.
        dim: Encoder dimension ``d``.
        device: Torch device of the candidate index.
        clock: Epoch-seconds clock of the lifecycle.
        decisions: Write-policy counters shared by the memory's partitions.
        transaction: The storage's transaction context (writes of every partition share it).
        shared: Whether other processes may write this partition (a shared backend).

    Attributes:
        lock: Serialises changes to this partition (recall of other partitions never waits).
        seq: The storage change sequence this state reflects.
        catch_ups: How this state caught up with other processes' commits so far:
            ``"incremental"`` (the changes applied) and ``"full"`` (reloaded).
        last_reload: Why the last catch-up reloaded in full (``None`` before any did).
    """

    def __init__(
        self,
        store: PartitionStorage,
        *,
        config: HippoConfig,
        dim: int,
        device: torch.device,
        clock: Callable[[], float],
        decisions: dict[str, int],
        transaction: Callable[[], AbstractContextManager[None]],
        shared: bool = False,
    ) -> None:
        self.store = store
        self._storage_transaction = transaction
        self.shared = shared
        self.key: Namespace = store.key
        self.config = config
        self.dim = dim
        self.device = device
        self.clock = clock
        self.lock = threading.RLock()
        self.closed = False
        self._decisions = decisions
        self._writing = False
        self.catch_ups = {"incremental": 0, "full": 0}
        self.last_reload: str | None = None
        self._reset()

    # ------------------------------------------------------------------ loading
    def _reset(self) -> None:
        """An empty in-RAM state (filled by :meth:`load`)."""
        config = self.config
        decisions = self._decisions
        self.seq = -1
        self.index = self.new_index()
        self.life = LifecycleState(decisions)
        self.assoc = AssociativeMemory(config.code_dim, config.code_k, config.source_min_overlap)
        self.lexical = LexicalIndex(config.lexical_language)
        self.slot_id: list[str | None] = []
        self.slot_ns = np.zeros(0, dtype=np.int32)
        self.slot_time = np.zeros(0, dtype=np.float64)
        self.slot_rows = np.zeros((0, 2), dtype=np.int64)
        self.slot_speaker = np.zeros(0, dtype=np.int32)
        self.slot_spans: dict[int, npt.NDArray[np.float64]] = {}  # time cues (see _temporal), dated slots only
        self.speakers: list[str] = []
        self._speaker_index: dict[str, int] = {}
        self._speaker_pattern: re.Pattern[str] | None = None
        self.id_slot: dict[str, int] = {}
        self.namespaces: list[Namespace] = []
        self.ns_index: dict[Namespace, int] = {}
        self.ns_count: dict[int, int] = {}
        self.session_slots: dict[tuple[int, str], list[int]] = {}  # live slots of a session, ascending
        self.slot_session: dict[int, tuple[int, str]] = {}
        self.ivf_generation = 0
        self._persisted_centroids: npt.NDArray[np.float32] | None = None

    def reload(self) -> None:
        """Read the partition again from its storage, in place (the lock stays the same object)."""
        self.store.refresh()
        self._reset()
        self.load()

    def load(self) -> None:
        """Read the partition from its storage, verifying the records against the vector file.

        Nothing is written unless the partition loads cleanly; then the checksums of
        vector rows written before checksums existed are recorded and the vector files
        of other generations deleted. A shared backend's load only reads (it may run
        on a read replica): it seals nothing and leaves old generations to its
        compaction and consolidation, which delete them.

        Raises:
            StoreCorruptedError: the records refer to vector rows the file does not hold,
                a block of the file differs from its checksum, or a live row is not finite.
        """
        store = self.store
        self.seq = store.seq()
        rows = list(store.iter_memories())
        n_rows = store.n_rows
        alive = np.zeros(n_rows, dtype=bool)
        owner = np.full(n_rows, -1, dtype=np.int64)
        for row in rows:
            if row.row_start < 0 or row.row_start + row.row_count > n_rows:
                raise StoreCorruptedError(
                    f"partition {self.key!r}: memory {row.id!r} refers to vector rows that were never committed"
                )
            alive[row.row_start : row.row_start + row.row_count] = True
            owner[row.row_start : row.row_start + row.row_count] = row.slot
        vectors = store.load_vectors(self.dim)
        if vectors.shape[0] != n_rows and n_rows:
            raise StoreCorruptedError(f"partition {self.key!r}: the vector file does not hold {n_rows} rows")
        if vectors.size and not np.isfinite(vectors[alive]).all():
            raise StoreCorruptedError(f"partition {self.key!r}: the vector file holds non-finite values")
        self.index.add(vectors, owner, alive=alive, rebuild=False)
        for row in rows:
            self.install(row)
        self.index_lexical({row.slot: row.text for row in rows})
        for link in store.links():
            self.assoc.set_link(link.src, link.dst, link.strength)
        self.life.load(store, rows, self.id_slot, self.config.half_life_days * 86_400.0)
        generation = store.ivf_generation()
        self.ivf_generation = generation
        centroids = store.read_tensors(f"ivf-{generation}.safetensors") if generation else None
        if centroids is not None and self.index.wants_ivf():
            self.index.build_ivf(centroids["centroids"].astype(np.float32))
            self._persisted_centroids = self.index.ivf_centroids
        else:
            self.index.refresh()
        if not self.shared:
            store.seal_vectors()
            store.remove_stale_files()

    def new_index(self) -> CueIndex:
        """An empty candidate index configured like this partition's (also used by compaction)."""
        config = self.config
        return CueIndex(
            self.dim,
            kind=config.index,
            ivf_threshold=config.ivf_threshold,
            nprobe=config.ivf_nprobe,
            device=self.device,
        )

    def install(self, row: MemoryRecord) -> None:
        """Mirror a committed memory record in RAM (its vectors are already in the index)."""
        slot = row.slot
        ns = self.namespace_id(tuple(json.loads(row.namespace)))
        if slot >= len(self.slot_id):
            self.slot_id.extend([None] * (slot + 1 - len(self.slot_id)))
        if slot >= self.slot_ns.shape[0]:
            # Grow geometrically: slots arrive one by one and copying per slot is O(n^2).
            capacity = max(slot + 1, int(self.slot_ns.shape[0] * 1.5) + 64)
            grow = capacity - self.slot_ns.shape[0]
            self.slot_ns = np.concatenate([self.slot_ns, np.full(grow, -1, dtype=np.int32)])
            self.slot_time = np.concatenate([self.slot_time, np.full(grow, np.nan)])
            self.slot_rows = np.concatenate([self.slot_rows, np.zeros((grow, 2), dtype=np.int64)])
            self.slot_speaker = np.concatenate([self.slot_speaker, np.full(grow, -1, dtype=np.int32)])
        self.set_speaker(slot, row.metadata)
        self.set_time_cues(slot, row.metadata)
        self.slot_id[slot] = row.id
        self.slot_ns[slot] = ns
        self.slot_time[slot] = np.nan if row.timestamp is None else row.timestamp
        self.slot_rows[slot] = (row.row_start, row.row_count)
        self.id_slot[row.id] = slot
        self.ns_count[ns] = self.ns_count.get(ns, 0) + 1
        self.assoc.set_code(slot, np.frombuffer(row.code, dtype=np.uint16).astype(np.int64))
        if row.session is not None:
            members = self.session_slots.setdefault((ns, row.session), [])
            bisect.insort(members, slot)
            self.slot_session[slot] = (ns, row.session)

    # ------------------------------------------------------------------ catching up
    def catch_up(self) -> None:
        """Bring the state up to the storage's committed change sequence, only reading (call under :attr:`lock`).

        Applies the changes other processes committed since :attr:`seq`
        (:meth:`PartitionStorage.changes_since`); when the storage cannot list them
        (see :attr:`PartitionChanges.reload`) or they do not fit this state, reloads
        the partition in full. Counted in :attr:`catch_ups`.

        Raises:
            StoreError: the storage could not be read, or what it holds is damaged (the
                state is then empty or unchanged: the caller drops it and loads afresh).
        """
        changes = self.store.changes_since(self.seq, self.index.n_rows, self.dim)
        if changes.reload is None:
            try:
                self._apply(changes)
            except _Diverged as diverged:
                changes = changes._replace(reload=str(diverged))
            except BaseException:
                self._reset()  # half applied: empty, so nothing serves it (the caller reloads)
                raise
            else:
                self.catch_ups["incremental"] += 1
                return
        self.last_reload = changes.reload
        _log.debug("partition %r reloads in full: %s", self.key, changes.reload)
        self.reload()
        self.catch_ups["full"] += 1

    def _apply(self, changes: PartitionChanges) -> None:
        """Apply committed changes to the in-RAM state (index, lexical index, codes, links, lifecycle).

        Raises:
            _Diverged: the changes do not fit this state (reload in full; the state is
                then partly changed).
        """
        if changes.seq == self.seq:
            return
        if changes.first_row != self.index.n_rows:
            raise _Diverged("the vector rows held differ from the ones the changes follow")
        live = {slot for slot in changes.removed if slot < len(self.slot_id) and self.slot_id[slot] is not None}
        if live:
            self.drop_slots(sorted(live))
        self._append_rows(changes)
        texts: dict[int, str] = {}
        new_slots: list[MemoryRecord] = []
        for row in changes.memories:
            texts[row.slot] = row.text
            if row.slot < len(self.slot_id) and self.slot_id[row.slot] is not None:
                self._reinstall(row, changes.first_row)
            elif row.id in self.id_slot:
                raise _Diverged(f"memory {row.id!r} moved to slot {row.slot}")
            else:
                self.install(row)
                new_slots.append(row)
        self.index_lexical(texts)
        half_life = self.config.half_life_days * 86_400.0
        for row in new_slots:
            self.life.reset(row.slot, learned_at=float(row.created_at), stability=half_life)
        for record in changes.lifecycle:
            if record.slot < len(self.slot_id) and self.slot_id[record.slot] is not None:
                self._set_lifecycle(record)
        life = self.life
        life.next_expiry = float(life.expires_at.min()) if life.expires_at.size else math.inf
        if changes.link_sources is None:
            self.assoc.links.clear()
        else:
            for source in changes.link_sources:
                self.assoc.links.pop(source, None)
        for link in changes.links:
            self.assoc.set_link(link.src, link.dst, link.strength)
        if changes.aliases is not None:
            life.aliases = dict(changes.aliases)
        self._catch_up_ivf(changes.ivf_generation)
        self.store.rows_committed(changes.n_rows)
        self.seq = changes.seq

    def _append_rows(self, changes: PartitionChanges) -> None:
        """Add the vector rows committed since to the index; rows of no live memory are stored dead."""
        first, n_new = changes.first_row, changes.n_rows - changes.first_row
        if changes.vectors.shape[0] != n_new:
            raise StoreCorruptedError(f"partition {self.key!r}: the vector blocks do not hold {changes.n_rows} rows")
        owner = np.full(n_new, -1, dtype=np.int64)
        for row in changes.memories:
            end = row.row_start + row.row_count
            if row.row_start < 0 or end > changes.n_rows:
                raise StoreCorruptedError(
                    f"partition {self.key!r}: memory {row.id!r} refers to vector rows that were never committed"
                )
            if end > first:
                owner[max(row.row_start, first) - first : end - first] = row.slot
        if n_new == 0:
            return
        alive = owner >= 0
        if not np.isfinite(changes.vectors[alive]).all():
            raise StoreCorruptedError(f"partition {self.key!r}: the vector blocks hold non-finite values")
        self.index.add(changes.vectors, owner, alive=alive, rebuild=False)

    def _reinstall(self, row: MemoryRecord, first_row: int) -> None:
        """Mirror the new state of a memory held in RAM (an update: text, metadata, cues, code)."""
        slot = row.slot
        session = self.slot_session.get(slot)
        namespace = self.namespaces[int(self.slot_ns[slot])]
        if (
            self.slot_id[slot] != row.id
            or namespace != tuple(json.loads(row.namespace))
            or (session[1] if session else None) != row.session
        ):
            raise _Diverged(f"memory {row.id!r} changed its slot, namespace or session")
        start, count = (int(v) for v in self.slot_rows[slot])
        if (start, count) != (row.row_start, row.row_count):
            if row.row_count and row.row_start < first_row:
                raise _Diverged(f"memory {row.id!r} moved to vector rows held already")
            self.index.remove(np.arange(start, start + count))
        self.slot_rows[slot] = (row.row_start, row.row_count)
        self.slot_time[slot] = np.nan if row.timestamp is None else row.timestamp
        self.set_speaker(slot, row.metadata)
        self.set_time_cues(slot, row.metadata)
        self.assoc.set_code(slot, np.frombuffer(row.code, dtype=np.uint16).astype(np.int64))

    def _set_lifecycle(self, record: LifecycleRecord) -> None:
        """Mirror a memory's lifecycle row (as :meth:`LifecycleState.load` does); drops its unflushed accesses."""
        self.life.mirror(record, self.id_slot)
        self.life.dirty.discard(record.slot)

    def _catch_up_ivf(self, generation: int) -> None:
        """Use the IVF centroids another process persisted, as a load would."""
        index = self.index
        if generation == self.ivf_generation and index.wants_ivf() == (index.ivf_centroids is not None):
            return
        self.ivf_generation = generation
        centroids = self.store.read_tensors(f"ivf-{generation}.safetensors") if generation else None
        if centroids is not None and index.wants_ivf():
            index.build_ivf(centroids["centroids"].astype(np.float32))
            self._persisted_centroids = index.ivf_centroids
        else:
            index.refresh()

    def namespace_id(self, namespace: Namespace) -> int:
        """The partition-local number of a namespace (allocated on first use)."""
        ns = self.ns_index.get(namespace)
        if ns is None:
            ns = len(self.namespaces)
            self.namespaces.append(namespace)
            self.ns_index[namespace] = ns
        return ns

    # ------------------------------------------------------------------ sessions and the lexical channel
    def session_tail(self, namespace: Namespace, session: str) -> int | None:
        """The latest live memory of a session, or ``None``."""
        ns = self.ns_index.get(namespace)
        members = None if ns is None else self.session_slots.get((ns, session))
        return members[-1] if members else None

    def lexical_window(self, slot: int) -> list[int]:
        """Slots whose text makes up ``slot``'s lexical document: it and its session neighbours, in order."""
        window = self.config.lexical_window
        key = self.slot_session.get(slot)
        if window == 0 or key is None:
            return [slot]
        members = self.session_slots[key]
        at = bisect.bisect_left(members, slot)
        return members[max(0, at - window) : at + window + 1]

    def index_lexical(self, changed: Mapping[int, str], removed: Mapping[int, tuple[int, str]] | None = None) -> None:
        """(Re)build lexical documents after texts changed.

        Args:
            changed: Live memories whose own text is new (slot -> text); their
                documents and those of the session neighbours whose windows hold
                them are rebuilt.
            removed: Slots just taken out of their sessions (slot -> session key):
                the documents of the memories that were their neighbours are rebuilt.
        """
        window = self.config.lexical_window
        if window == 0:
            if changed:
                self.lexical.add(list(changed), list(changed.values()))
            return
        affected: set[int] = set()
        for slot in changed:
            affected.update(self.lexical_window(slot))
        for slot, key in (removed or {}).items():
            members = self.session_slots.get(key, [])
            at = bisect.bisect_left(members, slot)
            affected.update(members[max(0, at - window) : at + window])
        if not affected:
            return
        slots = sorted(affected)
        windows = [self.lexical_window(slot) for slot in slots]
        texts = dict(changed)
        missing = sorted({s for w in windows for s in w} - texts.keys())
        if missing:
            texts.update({s: row.text for s, row in self.store.memories_by_slot(missing).items()})
        chars = self.config.lexical_window_chars
        documents = [
            window_document(slot, [(s, texts[s]) for s in members], chars)
            for slot, members in zip(slots, windows, strict=True)
        ]
        self.lexical.add(slots, documents)

    # ------------------------------------------------------------------ speakers
    def set_speaker(self, slot: int, meta_json: str) -> None:
        """Record who said memory ``slot`` (``metadata[config.speaker_key]``) for the speaker prior."""
        key = self.config.speaker_key
        speaker = json.loads(meta_json).get(key) if key is not None and key in meta_json else None
        if not isinstance(speaker, str) or not speaker.strip():
            self.slot_speaker[slot] = -1
            return
        name = " ".join(speaker.lower().split())
        index = self._speaker_index.get(name)
        if index is None:
            index = self._speaker_index[name] = len(self.speakers)
            self.speakers.append(name)
            self._speaker_pattern = None
        self.slot_speaker[slot] = index

    def set_time_cues(self, slot: int, meta_json: str) -> None:
        """Mirror memory ``slot``'s time cues (``metadata["time_cues"]``) for the temporal prior."""
        spans = time_cues_from_json(meta_json)
        if spans.shape[0]:
            self.slot_spans[slot] = spans
        else:
            self.slot_spans.pop(slot, None)

    def named_speakers(self, query: str) -> npt.NDArray[np.int32]:
        """Indices of the known speakers a query names (whole words, case-insensitive)."""
        if not self.speakers or not query:
            return np.zeros(0, dtype=np.int32)
        if self._speaker_pattern is None:
            names = sorted(self.speakers, key=len, reverse=True)
            alternatives = "|".join(r"\s+".join(map(re.escape, name.split())) for name in names)
            self._speaker_pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        found = {self._speaker_index[" ".join(m.lower().split())] for m in self._speaker_pattern.findall(query)}
        return np.asarray(sorted(found), dtype=np.int32)

    # ------------------------------------------------------------------ lookups
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction of this partition (joining an open one of the storage).

        On a shared backend it first takes the partition's cross-process write lock and
        checks that no other process committed since this state was loaded. It cannot
        catch up here: its callers resolved slots, vector rows or link strengths from
        the in-RAM state before they entered it, and a catch-up would change what those
        mean. So it raises :class:`StalePartition` (the engine catches the partition up
        and retries the call from the start); otherwise, once the transaction is done,
        the state reflects the partition's next change sequence. A write that reads the
        state only after taking the lock uses :meth:`writing`, which catches up in place.
        """
        with self._storage_transaction():
            if not self.shared or self._writing:
                yield
                return
            self.store.lock_for_write()
            before = self.store.seq()
            if before != self.seq:
                raise StalePartition(self.key)
            yield
            self.seq = before + 1  # this transaction's own bump (a rollback only forces a reload)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Inside a write transaction, before slots and rows are allocated: hold the partition's
        cross-process write lock and catch up with other processes' commits (shared backends).

        Holding the lock until the transaction ends, no other process commits to the
        partition meanwhile, so the state read here stays current for the whole block;
        :meth:`transaction` inside it neither locks nor checks again.
        """
        if not self.shared:
            yield
            return
        self.store.lock_for_write()
        seq = self.store.seq()
        if seq != self.seq:
            self.catch_up()
            seq = self.seq
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        self.seq = seq + 1  # this transaction's bump (if it rolls back, the next use reloads)

    def check_open(self) -> None:
        """Raise :class:`StoreClosedError` once the memory was closed or this partition evicted."""
        if self.closed:
            raise StoreClosedError("this partition is closed (the memory was closed or the partition evicted)")

    def slot(self, id: str) -> int:
        """The slot of a live memory id (following merges), or raise :class:`MemoryNotFoundError`."""
        slot = self.id_slot.get(id)
        if slot is None:  # merged into another memory by consolidation: act on that one
            slot = self.id_slot.get(self.life.resolve(id))
        if slot is None:
            raise MemoryNotFoundError(f"no memory with id {id!r}")
        return slot

    def matching_namespaces(self, prefix: Namespace | None) -> list[int]:
        """Local numbers of the non-empty namespaces under ``prefix`` (every one for ``None``)."""
        return [
            ns
            for ns, namespace in enumerate(self.namespaces)
            if self.ns_count.get(ns, 0) > 0 and (prefix is None or namespace[: len(prefix)] == prefix)
        ]

    def namespace_slots(self, prefix: Namespace | None) -> IntArray:
        """Live slots under ``prefix``, ascending."""
        n = len(self.slot_id)
        if prefix is None:
            return np.flatnonzero(self.slot_ns[:n] >= 0).astype(np.int64)
        matching = self.matching_namespaces(prefix)
        return np.flatnonzero(np.isin(self.slot_ns[:n], np.asarray(matching, dtype=np.int32))).astype(np.int64)

    def allowed_slots(
        self,
        namespace: Namespace | None,
        filter: Mapping[str, Any] | None,
        since: float | None,
        until: float | None,
    ) -> IntArray | None:
        """Slots a recall may return, or ``None`` for every live memory of the partition."""
        matching = self.matching_namespaces(namespace)
        if namespace is not None and not matching:
            raise NamespaceNotFoundError(f"no memories under namespace {namespace!r}")
        everything = len(matching) == len([c for c in self.ns_count.values() if c > 0])
        if everything and filter is None and since is None and until is None:
            return None
        n = len(self.slot_id)
        mask = np.isin(self.slot_ns[:n], np.asarray(matching, dtype=np.int32))
        if since is not None:
            mask &= self.slot_time[:n] >= since
        if until is not None:
            mask &= self.slot_time[:n] <= until
        slots = np.flatnonzero(mask).astype(np.int64)
        if filter and slots.size:
            keep = [
                slot
                for slot, metadata in self.store.metadata_by_slot(slots.tolist())
                if matches_filter(json.loads(metadata), filter)
            ]
            slots = np.asarray(sorted(keep), dtype=np.int64)
        return slots

    def rows_of(self, slots: IntArray) -> IntArray:
        """Every cue row of ``slots``, int64."""
        if slots.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts: IntArray = self.slot_rows[slots, 0]
        counts = self.slot_rows[slots, 1]
        fewest, most = int(counts.min()), int(counts.max())
        if fewest == most:  # as many cue rows each (one without cue variants): no ragged offsets
            return starts if most == 1 else (starts[:, None] + np.arange(most, dtype=np.int64)).ravel()
        total = int(counts.sum())
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        return offsets.astype(np.int64)

    def to_memory(self, row: MemoryRecord, cues: Sequence[CueRecord] = ()) -> Memory:
        """The public :class:`Memory` of a record.

        The write-time time cues stored beside the caller's metadata become
        :attr:`Memory.time_cues`, so ``metadata`` is what the caller gave. A loaded
        memory's namespace is the partition's own tuple (the record's JSON is parsed
        only for a record the partition does not hold).
        """
        return self.to_memories([(row, cues)])[0]

    def to_memories(self, found: Sequence[tuple[MemoryRecord, Sequence[CueRecord]]]) -> list[Memory]:
        """:meth:`to_memory` of several ``(record, cues)``, their lifecycle read in one pass (a recall's hits)."""
        lifecycle = self.life.fields_of([row.slot for row, _ in found], self.slot_id, self.clock())
        slot_id, n_ids = self.slot_id, len(self.slot_id)
        out = []
        for (row, cues), life in zip(found, lifecycle, strict=True):
            # Most memories carry no metadata: "{}" needs no parser.
            metadata: dict[str, Any] = {} if row.metadata == "{}" else json.loads(row.metadata)
            time_cues = metadata.pop(TIME_CUES_KEY, None) if metadata else None
            slot = row.slot
            if slot < n_ids and slot_id[slot] == row.id:  # loaded: its namespace is known
                namespace = self.namespaces[int(self.slot_ns[slot])]
            else:
                namespace = tuple(json.loads(row.namespace))
            out.append(
                Memory(
                    id=row.id,
                    text=row.text,
                    namespace=namespace,
                    metadata=metadata,
                    timestamp=_from_epoch(row.timestamp),
                    created_at=_from_epoch(row.created_at) or datetime.now(tz=UTC),
                    updated_at=_from_epoch(row.updated_at) or datetime.now(tz=UTC),
                    session=row.session,
                    cues=tuple(Cue(cue.text, cue.kind) for cue in cues),  # type: ignore[arg-type]
                    **life,
                    time_cues=tuple(str(c) for c in time_cues) if isinstance(time_cues, list) else (),
                )
            )
        return out

    def memories(self, slots: Sequence[int]) -> dict[int, Memory]:
        """The public memories of ``slots`` (with their cues)."""
        found = self.store.memories_with_cues(slots)
        held = [s for s in slots if s in found]
        return dict(zip(held, self.to_memories([found[s] for s in held]), strict=True))

    # ------------------------------------------------------------------ changes
    def persist_ivf(self) -> None:
        """Save the IVF centroids when the index was retrained, so a reload rebuilds it exactly."""
        centroids = self.index.ivf_centroids
        if centroids is None or self._persisted_centroids is centroids:
            return
        generation = self.ivf_generation + 1
        with self.transaction():  # the file too: under the write lock, once this state is known current
            self.store.write_tensors(f"ivf-{generation}.safetensors", {"centroids": centroids})
            self.store.set_ivf_generation(generation)
        self.store.remove_file(f"ivf-{self.ivf_generation}.safetensors")
        self.ivf_generation = generation
        self._persisted_centroids = centroids

    def drop_slots(self, slots: Sequence[int]) -> None:
        """Remove deleted memories from the in-RAM state (after their records were deleted)."""
        ids = [self.slot_id[s] or "" for s in slots]
        for slot in slots:
            start, count = self.slot_rows[slot]
            self.index.remove(np.arange(start, start + count))
            self.assoc.remove(slot)
            memory_id = self.slot_id[slot]
            if memory_id is not None:
                del self.id_slot[memory_id]
            self.slot_id[slot] = None
            ns = int(self.slot_ns[slot])
            self.ns_count[ns] -= 1
            self.slot_ns[slot] = -1
            self.slot_speaker[slot] = -1
            self.slot_spans.pop(slot, None)
        removed: dict[int, tuple[int, str]] = {}
        for slot in slots:
            session = self.slot_session.pop(slot, None)
            if session is not None:
                members = self.session_slots[session]
                members.pop(bisect.bisect_left(members, slot))
                if not members:
                    del self.session_slots[session]
                removed[slot] = session
        self.lexical.remove(slots)
        self.index_lexical({}, removed)
        self.life.remove(slots, ids)

    def delete(self, slots: Sequence[int]) -> int:
        """Delete memories with their associations, in one transaction; call under :attr:`lock`."""
        if not slots:
            return 0
        ids = [self.slot_id[s] or "" for s in slots]
        with self.transaction():
            self.store.delete_memories(list(slots), ids)
        self.drop_slots(list(slots))
        return len(slots)

    def flush_access(self) -> int:
        """Write in-RAM access counts to the store (call under the partition lock)."""
        life = self.life
        if not life.dirty:
            return 0
        slots = sorted(life.dirty)
        with self.transaction():
            life.write_rows(self.store, slots, self.slot_id)
        life.dirty.clear()
        return len(slots)

    @property
    def n_memories(self) -> int:
        """Live memories in the partition."""
        return len(self.id_slot)

    def nbytes(self) -> int:
        """Approximate RAM held by the partition's arrays and indexes."""
        return (
            self.index.nbytes()
            + self.assoc.nbytes()
            + self.lexical.nbytes()
            + self.slot_rows.nbytes
            + self.slot_time.nbytes
            + self.slot_ns.nbytes
            + self.life.salience.nbytes * 10
            + 200 * len(self.id_slot)
        )


_DATETIMES: dict[float | None, datetime | None] = {}
"""Datetimes of recently read epoch seconds: a recall reads the same memories' times again and again."""


def _from_epoch(value: float | None) -> datetime | None:
    """:func:`from_epoch`, remembered (datetimes are immutable, so hits may share one)."""
    try:
        return _DATETIMES[value]
    except KeyError:
        pass
    moment = from_epoch(value)
    if moment is None and value is not None:  # NaN: never equal to itself, so never found
        return None
    if len(_DATETIMES) >= 65_536:
        _DATETIMES.clear()
    _DATETIMES[value] = moment
    return moment
