"""The storage interface: what the engine asks of a backend, and the rows it exchanges.

A backend is a :class:`Storage`: one system of record holding every tenant, split
into *partitions* (one per namespace, or per namespace prefix of
``HippoConfig.partition_depth`` labels). The engine loads a partition into RAM on
first use through its :class:`PartitionStorage`, which scopes every read and write
to that partition; nothing in one partition refers to another. Writes happen
inside :meth:`Storage.transaction`, which may span partitions (a batch of
``remember_many`` over several namespaces commits or rolls back as one).

Each partition has a change sequence (:meth:`PartitionStorage.seq`), bumped by every
committed transaction that touched it: a reader that holds the partition in RAM
compares it with the sequence it loaded at to know whether it must catch up, and
asks :meth:`PartitionStorage.changes_since` for what changed (a backend without a
change log answers "reload in full").

Vector rows are partition-local integers, append-only between compactions: a
write appends its vectors (:meth:`PartitionStorage.append_vectors`) before the
transaction that records the new row count (:meth:`PartitionStorage.commit_rows`)
with every record that refers to the rows, so a crash leaves either state. The
same transaction records checksums of the new rows, verified when the partition
loads, so damaged or swapped vector data is refused instead of recalled.

Every backend maps its own errors (``sqlite3.Error``, ``OSError``, ...) to the
:class:`~hippo_memory.StoreError` tree at its boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from ._types import Namespace

__all__ = [
    "CueRecord",
    "LifecycleRecord",
    "LinkRecord",
    "MemoryRecord",
    "PartitionChanges",
    "PartitionStorage",
    "Storage",
]


class MemoryRecord(NamedTuple):
    """One stored memory.

    Attributes:
        slot: Partition-local number of the memory (its index in the partition's arrays).
        id: Globally unique id.
        namespace: Canonical JSON of the namespace labels.
        text: The content.
        metadata: Canonical JSON of the metadata dict.
        timestamp: When the event happened (epoch seconds) or ``None``.
        created_at: When it was stored (epoch seconds).
        updated_at: When it last changed (epoch seconds).
        session: Conversation id or ``None``.
        code: The sparse code, uint16 bytes of its ``k`` active units.
        row_start: First vector row of its cues.
        row_count: Number of cue rows.
    """

    slot: int
    id: str
    namespace: str
    text: str
    metadata: str
    timestamp: float | None
    created_at: float
    updated_at: float
    session: str | None
    code: bytes
    row_start: int
    row_count: int


class CueRecord(NamedTuple):
    """One cue variant of a memory: vector row ``row`` holds its encoding."""

    row: int
    slot: int
    kind: str
    text: str


class LinkRecord(NamedTuple):
    """An association ``src -> dst`` (partition-local slots) of strength ``strength``."""

    src: int
    dst: int
    strength: float


class LifecycleRecord(NamedTuple):
    """The lifecycle state of a memory (see :mod:`hippo_memory._lifecycle`)."""

    slot: int
    salience: float
    novelty: float | None
    learned_at: float
    reinforced_at: float
    stability: float
    access_count: int
    last_access: float | None
    replay_count: int
    expires_at: float | None
    superseded_by: str | None
    merged_from: str


class PartitionChanges(NamedTuple):
    """What changed in a partition between two change sequences, read in one snapshot.

    The state of every changed slot is read as committed at :attr:`seq` (not the
    operations that changed it), so applying a set of changes twice, or to a state
    that already holds some of them, gives the same result.

    Attributes:
        seq: The change sequence the changes bring the partition to.
        reload: Why the changes cannot be applied one by one (the log does not reach
            back far enough, the partition was compacted, too much changed, no change
            log): the caller reloads the partition in full. ``None`` otherwise; the
            other fields are empty when it is set.
        n_rows: The committed vector row count at :attr:`seq`.
        first_row: The first row of :attr:`vectors` (the row count the caller held).
        vectors: float32 ``(n_rows - first_row, dim)``: the rows appended since, verified.
        memories: The current records of the changed slots that exist at :attr:`seq`.
        removed: Changed slots without a record at :attr:`seq` (forgotten or merged away).
        lifecycle: The current lifecycle rows of the slots whose row changed (and of :attr:`memories`).
        link_sources: Slots whose outgoing links changed (their links are :attr:`links`),
            or ``None`` when every link of the partition changed.
        links: The current outgoing links of :attr:`link_sources` (every link for ``None``).
        aliases: Every alias of the partition when they changed, else ``None``.
        ivf_generation: The generation of the persisted IVF centroids at :attr:`seq`.
    """

    seq: int
    reload: str | None = None
    n_rows: int = 0
    first_row: int = 0
    vectors: npt.NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
    memories: Sequence[MemoryRecord] = ()
    removed: Sequence[int] = ()
    lifecycle: Sequence[LifecycleRecord] = ()
    link_sources: Sequence[int] | None = ()
    links: Sequence[LinkRecord] = ()
    aliases: Mapping[str, str] | None = None
    ivf_generation: int = 0


class PartitionStorage(Protocol):
    """The records and vectors of one partition. Writes go inside :meth:`Storage.transaction`."""

    key: Namespace
    n_rows: int

    # -- reading ----------------------------------------------------------------------
    def seq(self) -> int:
        """The partition's committed change sequence."""
        ...

    def refresh(self) -> None:
        """Re-read the committed row count and live vector file (another process may have written)."""
        ...

    def changes_since(self, seq: int, first_row: int, dim: int) -> PartitionChanges:
        """What committed since change sequence ``seq``, read without writing anything.

        Args:
            seq: The change sequence the caller's state reflects.
            first_row: The vector row count the caller holds (rows from it on are returned).
            dim: The vector dimension.

        Returns:
            The changes, or a :class:`PartitionChanges` whose ``reload`` says why the
            caller must reload the partition in full.
        """
        ...

    def lock_for_write(self) -> None:
        """Serialise this partition's writers across processes until the transaction ends.

        Called first in every write transaction of the partition; a single-writer
        backend (the SQLite directory, locked by one process) does nothing.
        """
        ...

    def consolidation_lock(self) -> AbstractContextManager[bool]:
        """Hold the partition's cross-process consolidation lock for the block, if no other process holds it.

        Never waits: the block gets ``False`` when another process is consolidating the
        partition (the caller leaves it to that process). Recall and writes never take
        it. A single-writer backend (the SQLite directory) always gets ``True``.
        """
        ...

    def iter_memories(self) -> Iterator[MemoryRecord]:
        """Every memory of the partition, by slot."""
        ...

    def memories_by_slot(self, slots: Sequence[int]) -> dict[int, MemoryRecord]:
        """The records of ``slots`` (missing slots are left out)."""
        ...

    def memories_with_cues(self, slots: Sequence[int]) -> dict[int, tuple[MemoryRecord, list[CueRecord]]]:
        """The records of ``slots`` with their cues in row order, read in one statement.

        One statement (per chunk of slots) rather than :meth:`memories_by_slot` then
        :meth:`cues_by_slot`: half the round trips for a recall's hits, and the cues
        always agree with the record they come with. Missing slots are left out.
        """
        ...

    def metadata_by_slot(self, slots: Sequence[int]) -> Iterator[tuple[int, str]]:
        """``(slot, metadata_json)`` of ``slots``."""
        ...

    def cues_by_slot(self, slots: Sequence[int]) -> dict[int, list[CueRecord]]:
        """``slot -> cues`` in row order."""
        ...

    def cues_by_row(self, rows: Sequence[int]) -> dict[int, CueRecord]:
        """``row -> cue`` of ``rows``."""
        ...

    def links(self) -> Iterator[LinkRecord]:
        """Every association of the partition."""
        ...

    def lifecycle(self) -> Iterator[LifecycleRecord]:
        """Every lifecycle row of the partition."""
        ...

    def aliases(self) -> dict[str, str]:
        """Ids merged away by consolidation -> the id they live under now."""
        ...

    def consolidated_at(self) -> float | None:
        """When the last consolidation pass committed, or ``None``."""
        ...

    def ivf_generation(self) -> int:
        """Generation of the persisted IVF centroids (0: none)."""
        ...

    def load_vectors(self, dim: int) -> npt.NDArray[np.float32]:
        """The committed vector rows, float32 ``(n_rows, dim)``, verified against their checksums.

        Modifies nothing. Raises :class:`~hippo_memory.StoreCorruptedError` naming the
        partition and the block whose bytes differ from their checksum.
        """
        ...

    def seal_vectors(self) -> None:
        """Record checksums of the rows :meth:`load_vectors` found without one (once the load is clean)."""
        ...

    def read_tensors(self, name: str) -> dict[str, npt.NDArray[Any]] | None:
        """A named tensor file of the partition (e.g. IVF centroids), ``None`` when absent."""
        ...

    # -- writing ------------------------------------------------------------------------
    def append_vectors(self, vectors: npt.NDArray[np.float32]) -> None:
        """Write vectors after the committed rows; commit them with :meth:`commit_rows`."""
        ...

    def commit_rows(self, n_rows: int) -> None:
        """Record the committed row count and the checksums of the rows it adds (inside the transaction)."""
        ...

    def rows_committed(self, n_rows: int) -> None:
        """Tell the partition the transaction recording ``n_rows`` has committed."""
        ...

    def insert_memories(self, records: Sequence[MemoryRecord]) -> None:
        """Insert new memories (and count them under their namespaces)."""
        ...

    def update_memory(
        self,
        slot: int,
        *,
        metadata: str,
        timestamp: float | None,
        updated_at: float,
        text: str | None = None,
        code: bytes | None = None,
    ) -> None:
        """Change a memory's fields; ``text`` and ``code`` only when given."""
        ...

    def delete_memories(self, slots: Sequence[int], ids: Sequence[str]) -> None:
        """Delete memories with their cues, links, lifecycle and aliases pointing at them."""
        ...

    def insert_cues(self, cues: Sequence[CueRecord]) -> None:
        """Insert cue rows."""
        ...

    def replace_cues(self, slot: int, cues: Sequence[CueRecord]) -> None:
        """Replace every cue of ``slot`` (``cues`` are contiguous rows) and point the memory at them."""
        ...

    def remap_rows(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Renumber vector rows ``old -> new`` in cues and memories (compaction)."""
        ...

    def add_links(self, links: Sequence[LinkRecord]) -> None:
        """Add strengths onto existing links (creating missing ones)."""
        ...

    def set_links(self, links: Sequence[LinkRecord]) -> None:
        """Set link strengths; a strength at or below zero deletes the link."""
        ...

    def replace_links(self, links: Iterable[LinkRecord]) -> None:
        """Replace every link of the partition."""
        ...

    def write_lifecycle(self, records: Sequence[LifecycleRecord], *, keep_existing: bool = False) -> None:
        """Upsert lifecycle rows (``keep_existing``: insert only the missing ones)."""
        ...

    def set_superseded(self, slot: int, newer_id: str | None) -> None:
        """Record which memory supersedes ``slot``."""
        ...

    def merge_ids(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record ``(merged_id, survivor_id)`` aliases and re-point references to the merged ids."""
        ...

    def set_policy_counts(self, counts: Mapping[str, int]) -> None:
        """Persist the store-wide write-policy counters (inside the transaction)."""
        ...

    def set_consolidated_at(self, when: float) -> None:
        """Record when a consolidation pass committed."""
        ...

    def set_ivf_generation(self, generation: int) -> None:
        """Record the generation of the persisted IVF centroids."""
        ...

    def write_tensors(self, name: str, tensors: dict[str, npt.NDArray[Any]]) -> None:
        """Write a named tensor file atomically (no-op without a directory)."""
        ...

    def remove_file(self, name: str) -> None:
        """Delete a file of the partition if it exists."""
        ...

    # -- compaction -------------------------------------------------------------------
    def next_vectors_name(self) -> str:
        """Name of the next generation's vector file (not referenced until committed)."""
        ...

    def write_vector_file(self, name: str, vectors: npt.NDArray[np.float32], *, first_row: int = 0) -> None:
        """Write rows into an uncommitted vector file, then make them durable."""
        ...

    def commit_vectors_name(self, name: str) -> None:
        """Name the live vector file (inside the transaction that remaps the rows)."""
        ...

    def switch_vectors(self, name: str, n_rows: int) -> None:
        """Use the vector file committed by :meth:`commit_vectors_name`; delete the old one."""
        ...

    def remove_stale_files(self) -> None:
        """Delete vector files of other generations (leftovers of an interrupted compaction)."""
        ...

    def close(self) -> None:
        """Release the partition's handles (its data stays)."""
        ...


class Storage(Protocol):
    """A system of record for every partition of one memory."""

    path: Path | None
    persistent: bool
    read_only: bool
    """Whether this process only reads (every write raises :class:`StoreError`)."""
    shared: bool
    """Whether other processes may write concurrently (the engine then catches up before each use)."""

    def read_meta(self) -> dict[str, str]:
        """Store-wide settings (format version, encoder, structural config); empty when new."""
        ...

    def initialise(self, meta: Mapping[str, str]) -> None:
        """Write the settings of a brand-new store."""
        ...

    def migrate(self, dim: int, depth: int | None) -> None:
        """Bring a store of an older format to the current one (a no-op when current)."""
        ...

    def verify(self, dim: int) -> None:
        """Check every partition's records against its vectors before anything is modified.

        Raises:
            StoreCorruptedError: records refer to rows never committed, or vectors are missing.
        """
        ...

    def write_meta(self, items: Mapping[str, str]) -> None:
        """Set store-wide settings of an existing store."""
        ...

    def check_meta(self, meta: Mapping[str, str]) -> None:
        """Raise unless ``meta`` describes a store this version reads."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic unit of writes, across partitions; rolled back on any exception."""
        ...

    def partition(self, key: Namespace, *, create: bool = False) -> PartitionStorage | None:
        """The storage of partition ``key``; ``None`` when it does not exist and not ``create``."""
        ...

    def forget_partition(self, key: Namespace) -> None:
        """Drop the handle of a partition (its data stays); the next :meth:`partition` reopens it."""
        ...

    def partition_keys(self, prefix: Namespace | None = None) -> list[Namespace]:
        """Keys of the partitions holding namespaces under ``prefix`` (every one for ``None``)."""
        ...

    def partition_seqs(self, prefix: Namespace | None = None) -> dict[Namespace, int]:
        """:meth:`partition_keys` (same order) with each partition's :meth:`PartitionStorage.seq`, in one read.

        A recall on a shared backend checks every partition it holds with this one
        query instead of a catalogue read plus one sequence read per partition.
        """
        ...

    def namespace_counts(self, prefix: Namespace | None = None) -> dict[Namespace, int]:
        """Memories per namespace under ``prefix``, without loading any partition."""
        ...

    def locate(self, ids: Sequence[str]) -> dict[str, Namespace]:
        """The partition key of each id (aliases of merged memories included); unknown ids are left out."""
        ...

    def policy_counts(self) -> dict[str, int]:
        """Write-policy decisions so far (stored, skipped, merged, superseded)."""
        ...

    def set_policy_counts(self, counts: Mapping[str, int]) -> None:
        """Persist the write-policy counters (inside a transaction)."""
        ...

    def close(self) -> None:
        """Release every resource (idempotent)."""
        ...
