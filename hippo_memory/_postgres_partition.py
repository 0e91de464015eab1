"""One partition's rows in PostgreSQL (see :mod:`._postgres`); its vectors are :mod:`._postgres_vectors`' blocks.

Every statement here is built by a pure helper or is a constant, and runs through
the owning storage's :meth:`~hippo_memory._postgres.PostgresStorage.fetch` /
``execute`` / ``execute_many`` / ``copy``: the one place where psycopg is called
and its errors are mapped (:func:`~hippo_memory._postgres_io.mapped_errors`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import numpy.typing as npt

from ._errors import StoreCorruptedError, StoreError, StoreLockedError
from ._postgres_io import (
    CHANGED_ALIASES,
    CHANGED_ALL_LINKS,
    CHANGED_ROWS,
    LIFECYCLE_COLUMNS,
    LOCK_CLASS,
    MEMORY_COLUMNS,
    ChangeSet,
    Owner,
    lifecycle_record,
    memory_record,
)
from ._postgres_vectors import BLOCK_ROWS, Pending, VectorBlocks, generation_number
from ._storage import CueRecord, LifecycleRecord, LinkRecord, MemoryRecord, PartitionChanges
from ._types import Namespace

__all__ = ["BLOCK_ROWS", "PostgresPartition"]  # BLOCK_ROWS: also read here by `hippo-memory check`

_CUES_OF_SLOTS = (
    "SELECT row_no, slot, kind, text FROM hippo_cues WHERE partition_id = %s AND slot = ANY(%s::bigint[]) "
    "ORDER BY row_no"
)
_MEMORIES_WITH_CUES = (
    f"SELECT {', '.join('m.' + c for c in MEMORY_COLUMNS.split(', '))}, c.numbers, c.kinds, c.texts "
    "FROM hippo_memories m LEFT JOIN LATERAL ("
    "SELECT array_agg(row_no ORDER BY row_no) AS numbers, array_agg(kind ORDER BY row_no) AS kinds, "
    "array_agg(text ORDER BY row_no) AS texts FROM hippo_cues c "
    "WHERE c.partition_id = m.partition_id AND c.slot = m.slot) c ON true "
    "WHERE m.partition_id = %s AND m.slot = ANY(%s::bigint[])"
)
"""Records of some slots with their cues as three arrays in row order: one statement, one round trip."""
MAX_CATCH_UP_COMMITS = 512
"""A reader more commits behind than this reloads the partition in full instead of applying the log."""
MAX_CATCH_UP_FRACTION = 0.5
"""A reader reloads in full when more than this fraction of the partition's rows changed (a bulk rewrite)."""
_LIFECYCLE_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in LIFECYCLE_COLUMNS.split(", ")[1:])


def _cues_by_slot(rows: Iterable[tuple[Any, ...]]) -> dict[int, list[CueRecord]]:
    """``slot -> cues`` of ``hippo_cues`` rows (row order kept)."""
    out: dict[int, list[CueRecord]] = {}
    for row, slot, kind, text in rows:
        out.setdefault(int(slot), []).append(CueRecord(int(row), int(slot), kind, text))
    return out


class PostgresPartition:
    """One partition's rows and vector blocks in a PostgreSQL database.

    Args:
        storage: The owning :class:`~hippo_memory._postgres.PostgresStorage`.
        pid: The partition's ``partition_id``.
        key: The partition key (a namespace prefix).
    """

    def __init__(self, storage: Owner, pid: int, key: Namespace) -> None:
        self._storage = storage
        self.pid = pid
        self.key = key
        self.n_rows = 0
        self.generation = 0
        self.dim = 0
        self._pending: Pending | None = None
        self._vectors = VectorBlocks(storage, pid, key)
        self.refresh()

    # -- helpers ----------------------------------------------------------------------
    def _fetch(self, what: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self._storage.fetch(what, sql, (self.pid, *params))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[ChangeSet]:
        """Join (or open) the storage's transaction and count the partition as changed by it.

        Yields:
            The transaction's change set of this partition: each write adds the slots it
            changed, logged under the partition's next change sequence at commit.
        """
        with self._storage.transaction():
            yield self._storage.touch(self.pid)

    def _state(self) -> tuple[int, int]:
        rows = self._fetch(
            "cannot read the partition catalogue",
            "SELECT n_rows, generation FROM hippo_partitions WHERE partition_id = %s",
        )
        if not rows:
            raise StoreCorruptedError(f"partition {self.key!r} is no longer in the catalogue")
        return int(rows[0][0]), int(rows[0][1])

    # -- reading ----------------------------------------------------------------------
    def seq(self) -> int:
        rows = self._fetch(
            "cannot read the change sequence", "SELECT seq FROM hippo_partitions WHERE partition_id = %s"
        )
        return int(rows[0][0]) if rows else -1

    def refresh(self) -> None:
        self._storage.records.invalidate(self.pid)
        n_rows, generation = self._state()
        if (n_rows, generation) != (self.n_rows, self.generation):
            self._pending = None
        self.n_rows, self.generation = n_rows, generation

    def changes_since(self, seq: int, first_row: int, dim: int) -> PartitionChanges:
        """What committed since ``seq``, from the change log (``hippo_changes``), in one read-only snapshot.

        The partition's catalogue row, its log rows after ``seq`` and the current rows of
        every slot they name are read in one ``REPEATABLE READ READ ONLY`` transaction
        (:meth:`~hippo_memory._postgres.PostgresStorage.snapshot`), so they agree with
        each other; a log row can never commit later with a lower sequence (see
        :meth:`~hippo_memory._postgres.PostgresStorage.transaction`). Nothing is written.

        Returns:
            The changes, or ``reload`` set when the log cannot bring the caller up to
            date: another process compacted the partition, the caller is more than
            :data:`MAX_CATCH_UP_COMMITS` commits behind or the log was pruned past
            ``seq``, or more than :data:`MAX_CATCH_UP_FRACTION` of the rows changed.

        Raises:
            StoreCorruptedError: the partition left the catalogue, or a vector block read is damaged.
        """
        with self._storage.snapshot():
            found = self._fetch(
                "cannot read the partition catalogue",
                "SELECT seq, n_rows, generation, ivf_generation FROM hippo_partitions WHERE partition_id = %s",
            )
            if not found:
                raise StoreCorruptedError(f"partition {self.key!r} is no longer in the catalogue")
            now, n_rows, generation, ivf_generation = (int(v) for v in found[0])
            empty = np.zeros((0, dim), dtype=np.float32)
            if now != seq:
                self._storage.records.invalidate(self.pid)  # recalled records may have changed
            if now == seq:
                return PartitionChanges(
                    now, n_rows=n_rows, first_row=first_row, vectors=empty, ivf_generation=ivf_generation
                )
            reason = None
            if generation != self.generation:
                reason = "another process compacted the partition"
            elif not seq < now <= seq + MAX_CATCH_UP_COMMITS or first_row > n_rows:
                reason = f"{now - seq} commits behind (at most {MAX_CATCH_UP_COMMITS} are applied one by one)"
            if reason is not None:
                return PartitionChanges(now, reload=reason)
            log = self._fetch(
                "cannot read the change log",
                "SELECT memories, lifecycle, links, flags FROM hippo_changes "
                "WHERE partition_id = %s AND seq > %s AND seq <= %s",
                seq,
                now,
            )
            memories: set[int] = set()
            lifecycle: set[int] = set()
            links: set[int] = set()
            flags = 0
            for slots, life_slots, sources, flag in log:
                memories.update(slots)
                lifecycle.update(life_slots)
                links.update(sources)
                flags |= int(flag)
            if len(log) != now - seq:
                reason = f"the change log no longer reaches back to sequence {seq}"
            elif flags & CHANGED_ROWS:
                reason = "vector rows were renumbered (compaction)"
            elif len(memories) > max(64, MAX_CATCH_UP_FRACTION * n_rows):
                reason = f"{len(memories)} memories changed"
            if reason is not None:
                return PartitionChanges(now, reload=reason)
            records = [
                memory_record(row)
                for row in self._fetch(
                    "cannot read memories",
                    f"SELECT {MEMORY_COLUMNS} FROM hippo_memories WHERE partition_id = %s "
                    "AND slot = ANY(%s::bigint[]) ORDER BY slot",
                    sorted(memories),
                )
            ]
            lifecycle.update(record.slot for record in records)
            life_rows = [
                lifecycle_record(row)
                for row in self._fetch(
                    "cannot read lifecycle",
                    f"SELECT {LIFECYCLE_COLUMNS} FROM hippo_lifecycle WHERE partition_id = %s "
                    "AND slot = ANY(%s::bigint[])",
                    sorted(lifecycle),
                )
            ]
            every_link = bool(flags & CHANGED_ALL_LINKS)
            link_rows = (
                self.links()
                if every_link
                else (
                    LinkRecord(int(src), int(dst), float(strength))
                    for src, dst, strength in self._fetch(
                        "cannot read links",
                        "SELECT src, dst, strength FROM hippo_links WHERE partition_id = %s AND src = ANY(%s::bigint[])",
                        sorted(links),
                    )
                )
                if links
                else ()
            )
            return PartitionChanges(
                now,
                n_rows=n_rows,
                first_row=first_row,
                vectors=self._vectors.load(generation, n_rows, dim, first_row=first_row),
                memories=records,
                removed=sorted(memories - {record.slot for record in records}),
                lifecycle=life_rows,
                link_sources=None if every_link else sorted(links),
                links=list(link_rows),
                aliases=self.aliases() if flags & CHANGED_ALIASES else None,
                ivf_generation=ivf_generation,
            )

    def lock_for_write(self) -> None:
        """``pg_advisory_xact_lock`` on the partition, held until the transaction ends.

        The transaction then counts as a change of the partition (its sequence is bumped
        at commit), so a writer's ``seq + 1`` is always the sequence it committed.
        """
        self._storage.touch(self.pid)
        self._storage.execute(
            "cannot lock the partition", "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, self.pid)
        )

    def consolidation_lock(self) -> AbstractContextManager[bool]:
        """The partition's consolidation lock, if free (see :meth:`~hippo_memory._postgres.PostgresStorage.consolidation_lock`)."""
        return self._storage.consolidation_lock(self.pid)

    def iter_memories(self) -> Iterator[MemoryRecord]:
        for row in self._fetch(
            "cannot read memories",
            f"SELECT {MEMORY_COLUMNS} FROM hippo_memories WHERE partition_id = %s ORDER BY slot",
        ):
            yield memory_record(row)

    def memories_by_slot(self, slots: Sequence[int]) -> dict[int, MemoryRecord]:
        rows = self._fetch(
            "cannot read memories",
            f"SELECT {MEMORY_COLUMNS} FROM hippo_memories WHERE partition_id = %s AND slot = ANY(%s::bigint[])",
            [int(s) for s in slots],
        )
        return {int(row[0]): memory_record(row) for row in rows}

    def memories_with_cues(self, slots: Sequence[int]) -> dict[int, tuple[MemoryRecord, list[CueRecord]]]:
        """Records with their cues, from the storage's :class:`~hippo_memory._postgres_records.RecordCache`
        where it holds them (never inside a write transaction), else in one statement."""
        cache = self._storage.records
        if self._storage.in_transaction():
            return self._read_with_cues(slots)
        generation = cache.generation(self.pid)
        found, missing = cache.get(self.pid, [int(s) for s in slots])
        if missing:
            read = self._read_with_cues(missing)
            cache.put(self.pid, generation, read)
            found.update(read)
        return found

    def _read_with_cues(self, slots: Sequence[int]) -> dict[int, tuple[MemoryRecord, list[CueRecord]]]:
        out: dict[int, tuple[MemoryRecord, list[CueRecord]]] = {}
        for row in self._fetch("cannot read memories", _MEMORIES_WITH_CUES, [int(s) for s in slots]):
            slot, (numbers, kinds, texts) = int(row[0]), row[-3:]
            cues = [
                CueRecord(int(n), slot, k, t) for n, k, t in zip(numbers or (), kinds or (), texts or (), strict=True)
            ]
            out[slot] = (memory_record(row[:-3]), cues)
        return out

    def metadata_by_slot(self, slots: Sequence[int]) -> Iterator[tuple[int, str]]:
        for slot, metadata in self._fetch(
            "cannot read metadata",
            "SELECT slot, metadata FROM hippo_memories WHERE partition_id = %s AND slot = ANY(%s::bigint[])",
            [int(s) for s in slots],
        ):
            yield int(slot), str(metadata)

    def cues_by_slot(self, slots: Sequence[int]) -> dict[int, list[CueRecord]]:
        return _cues_by_slot(self._fetch("cannot read cues", _CUES_OF_SLOTS, [int(s) for s in slots]))

    def cues_by_row(self, rows: Sequence[int]) -> dict[int, CueRecord]:
        return {
            int(row): CueRecord(int(row), int(slot), kind, text)
            for row, slot, kind, text in self._fetch(
                "cannot read cues",
                "SELECT row_no, slot, kind, text FROM hippo_cues WHERE partition_id = %s AND row_no = ANY(%s::bigint[])",
                [int(r) for r in rows],
            )
        }

    def links(self) -> Iterator[LinkRecord]:
        for src, dst, strength in self._fetch(
            "cannot read links", "SELECT src, dst, strength FROM hippo_links WHERE partition_id = %s"
        ):
            yield LinkRecord(int(src), int(dst), float(strength))

    def lifecycle(self) -> Iterator[LifecycleRecord]:
        for row in self._fetch(
            "cannot read lifecycle", f"SELECT {LIFECYCLE_COLUMNS} FROM hippo_lifecycle WHERE partition_id = %s"
        ):
            yield lifecycle_record(row)

    def aliases(self) -> dict[str, str]:
        return {
            str(a): str(t)
            for a, t in self._fetch(
                "cannot read aliases", "SELECT id, target FROM hippo_aliases WHERE partition_id = %s"
            )
        }

    def consolidated_at(self) -> float | None:
        rows = self._fetch(
            "cannot read the partition catalogue",
            "SELECT consolidated_at FROM hippo_partitions WHERE partition_id = %s",
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def ivf_generation(self) -> int:
        rows = self._fetch(
            "cannot read the partition catalogue", "SELECT ivf_generation FROM hippo_partitions WHERE partition_id = %s"
        )
        return int(rows[0][0]) if rows else 0

    def load_vectors(self, dim: int) -> npt.NDArray[np.float32]:
        """The committed rows of the live generation, each block verified against its CRC-32; modifies nothing.

        Raises:
            StoreCorruptedError: a block is missing, of the wrong size, or differs from its checksum.
            StoreLockedError: another process compacted the partition while it was being read (retry).
        """
        self.dim = dim
        return self._vectors.load(self.generation, self.n_rows, dim)

    def seal_vectors(self) -> None:
        """Nothing to do: every block is written with its checksum."""

    def read_tensors(self, name: str) -> dict[str, npt.NDArray[Any]] | None:
        rows = self._fetch(
            "cannot read tensors", "SELECT data FROM hippo_tensors WHERE partition_id = %s AND name = %s", name
        )
        if not rows:
            return None
        from safetensors.numpy import load

        try:
            return dict(load(bytes(rows[0][0])))
        except Exception:  # a damaged file of centroids is rebuilt, as with SQLite
            return None

    # -- writing ----------------------------------------------------------------------
    def append_vectors(self, vectors: npt.NDArray[np.float32]) -> None:
        """Hold ``vectors`` (rows from :attr:`n_rows`) until :meth:`commit_rows` writes them in the transaction."""
        if vectors.shape[0] == 0:
            self._pending = None
            return
        self.dim = int(vectors.shape[1])
        self._pending = Pending(self.generation, self.n_rows, np.array(vectors, dtype=np.float32, copy=True))

    def commit_rows(self, n_rows: int) -> None:
        """Write the appended rows and record the row count (inside the transaction).

        Raises:
            StoreLockedError: the rows being committed are not the ones appended after the
                committed rows (another process wrote to the partition in between).
            StoreCorruptedError: the live generation holds fewer than ``n_rows`` rows.
        """
        pending, self._pending = self._pending, None
        with self._writing():
            old_rows, generation = self._state()
            fits = (
                pending is not None
                and pending.generation == generation
                and pending.start == old_rows
                and pending.start + pending.vectors.shape[0] == n_rows
            )
            if pending is not None and fits:
                self._vectors.write(generation, pending.start, pending.vectors)
            elif generation == self.generation and (n_rows > old_rows or pending is not None):
                raise StoreLockedError(
                    f"partition {self.key!r}: rows {old_rows}-{n_rows - 1} are being committed without the vectors "
                    "appended for them (another process wrote to the partition): reload it and write again"
                )
            if n_rows and self._vectors.coverage(generation) < n_rows:
                raise StoreCorruptedError(
                    f"partition {self.key!r}: vector generation {generation} holds fewer than the {n_rows} rows "
                    "being committed (its blocks were deleted by a concurrent compaction?)"
                )
            self._storage.execute(
                "cannot record the row count",
                "UPDATE hippo_partitions SET n_rows = %s WHERE partition_id = %s",
                (n_rows, self.pid),
            )

    def rows_committed(self, n_rows: int) -> None:
        self.n_rows = n_rows

    def insert_memories(self, records: Sequence[MemoryRecord]) -> None:
        if not records:
            return
        counts: dict[str, int] = {}
        for record in records:
            counts[record.namespace] = counts.get(record.namespace, 0) + 1
        with self._writing() as changed:
            changed.memories.update(record.slot for record in records)
            self._storage.execute_many(
                "cannot insert memories",
                f"INSERT INTO hippo_memories (partition_id, {MEMORY_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(self.pid, *record) for record in records],
            )
            self._storage.execute_many(
                "cannot count namespaces",
                "INSERT INTO hippo_namespaces (partition_id, namespace, count) VALUES (%s, %s, %s) "
                "ON CONFLICT (partition_id, namespace) DO UPDATE SET count = hippo_namespaces.count + excluded.count",
                [(self.pid, namespace, n) for namespace, n in sorted(counts.items())],
            )

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
        with self._writing() as changed:
            changed.memories.add(int(slot))
            self._storage.execute(
                "cannot update a memory",
                "UPDATE hippo_memories SET metadata = %s, timestamp = %s, updated_at = %s, "
                "text = COALESCE(%s, text), code = COALESCE(%s, code) WHERE partition_id = %s AND slot = %s",
                (metadata, timestamp, updated_at, text, code, self.pid, slot),
            )

    def delete_memories(self, slots: Sequence[int], ids: Sequence[str]) -> None:
        slot_list, id_list = [int(s) for s in slots], [str(i) for i in ids]
        with self._writing() as changed:
            changed.memories.update(slot_list)
            run = self._storage.execute
            if slot_list:
                args = (self.pid, slot_list)
                run(
                    "cannot count namespaces",
                    "UPDATE hippo_namespaces n SET count = n.count - d.removed FROM ("
                    "SELECT namespace, COUNT(*) AS removed FROM hippo_memories "
                    "WHERE partition_id = %s AND slot = ANY(%s::bigint[]) GROUP BY namespace) d "
                    "WHERE n.partition_id = %s AND n.namespace = d.namespace",
                    (*args, self.pid),
                )
                for table in ("hippo_memories", "hippo_cues", "hippo_lifecycle"):
                    run(
                        "cannot delete memories",
                        f"DELETE FROM {table} WHERE partition_id = %s AND slot = ANY(%s::bigint[])",
                        args,
                    )
                run(
                    "cannot delete links",
                    "DELETE FROM hippo_links WHERE partition_id = %s "
                    "AND (src = ANY(%s::bigint[]) OR dst = ANY(%s::bigint[]))",
                    (*args, slot_list),
                )
                run(
                    "cannot count namespaces",
                    "DELETE FROM hippo_namespaces WHERE partition_id = %s AND count <= 0",
                    (self.pid,),
                )
            if id_list:
                changed.flags |= CHANGED_ALIASES
                changed.lifecycle.update(
                    int(slot)
                    for (slot,) in self._storage.fetch(
                        "cannot delete references",
                        "UPDATE hippo_lifecycle SET superseded_by = NULL "
                        "WHERE partition_id = %s AND superseded_by = ANY(%s::text[]) RETURNING slot",
                        (self.pid, id_list),
                    )
                )
                run(
                    "cannot delete aliases",
                    "DELETE FROM hippo_aliases WHERE partition_id = %s AND target = ANY(%s::text[])",
                    (self.pid, id_list),
                )

    def insert_cues(self, cues: Sequence[CueRecord]) -> None:
        if not cues:
            return
        with self._writing() as changed:
            changed.memories.update(cue.slot for cue in cues)
            self._storage.execute_many(
                "cannot insert cues",
                "INSERT INTO hippo_cues (partition_id, row_no, slot, kind, text) VALUES (%s, %s, %s, %s, %s)",
                [(self.pid, *cue) for cue in cues],
            )

    def replace_cues(self, slot: int, cues: Sequence[CueRecord]) -> None:
        with self._writing() as changed:
            changed.memories.add(int(slot))
            self._storage.execute(
                "cannot replace cues", "DELETE FROM hippo_cues WHERE partition_id = %s AND slot = %s", (self.pid, slot)
            )
            self.insert_cues(cues)
            self._storage.execute(
                "cannot replace cues",
                "UPDATE hippo_memories SET row_start = %s, row_count = %s WHERE partition_id = %s AND slot = %s",
                (cues[0].row if cues else 0, len(cues), self.pid, slot),
            )

    def remap_rows(self, pairs: Sequence[tuple[int, int]]) -> None:
        if not pairs:
            return
        old = [int(a) for a, _ in pairs]
        new = [int(b) for _, b in pairs]
        remap = "(SELECT unnest(%s::bigint[]) AS old, unnest(%s::bigint[]) AS new) m"
        with self._writing() as changed:
            changed.flags |= CHANGED_ROWS
            # Two passes through negative numbers, so no row collides with one not yet moved.
            self._storage.execute(
                "cannot renumber cues",
                f"UPDATE hippo_cues c SET row_no = -1 - m.new FROM {remap} WHERE c.partition_id = %s AND c.row_no = m.old",
                (old, new, self.pid),
            )
            self._storage.execute(
                "cannot renumber cues",
                "UPDATE hippo_cues SET row_no = -1 - row_no WHERE partition_id = %s AND row_no < 0",
                (self.pid,),
            )
            self._storage.execute(
                "cannot renumber memories",
                f"UPDATE hippo_memories t SET row_start = m.new FROM {remap} "
                "WHERE t.partition_id = %s AND t.row_start = m.old",
                (old, new, self.pid),
            )

    def add_links(self, links: Sequence[LinkRecord]) -> None:
        if not links:
            return
        with self._writing() as changed:
            changed.links.update(link.src for link in links)
            self._storage.execute_many(
                "cannot add links",
                "INSERT INTO hippo_links (partition_id, src, dst, strength) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (partition_id, src, dst) DO UPDATE SET strength = hippo_links.strength + excluded.strength",
                [(self.pid, *link) for link in links],
            )

    def set_links(self, links: Sequence[LinkRecord]) -> None:
        if not links:
            return
        with self._writing() as changed:
            changed.links.update(link.src for link in links)
            self._storage.execute_many(
                "cannot set links",
                "INSERT INTO hippo_links (partition_id, src, dst, strength) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (partition_id, src, dst) DO UPDATE SET strength = excluded.strength",
                [(self.pid, *link) for link in links if link.strength > 0],
            )
            self._storage.execute_many(
                "cannot delete links",
                "DELETE FROM hippo_links WHERE partition_id = %s AND src = %s AND dst = %s",
                [(self.pid, link.src, link.dst) for link in links if link.strength <= 0],
            )

    def replace_links(self, links: Iterable[LinkRecord]) -> None:
        with self._writing() as changed:
            changed.flags |= CHANGED_ALL_LINKS
            self._storage.execute(
                "cannot replace links", "DELETE FROM hippo_links WHERE partition_id = %s", (self.pid,)
            )
            self._storage.copy(
                "cannot replace links",
                "hippo_links",
                ("partition_id", "src", "dst", "strength"),
                ("int8", "int8", "int8", "float8"),
                [(self.pid, int(link.src), int(link.dst), float(link.strength)) for link in links],
            )

    def write_lifecycle(self, records: Sequence[LifecycleRecord], *, keep_existing: bool = False) -> None:
        if not records:
            return
        conflict = "DO NOTHING" if keep_existing else f"DO UPDATE SET {_LIFECYCLE_UPDATE}"
        with self._writing() as changed:
            changed.lifecycle.update(record.slot for record in records)
            self._storage.execute_many(
                "cannot write lifecycle",
                f"INSERT INTO hippo_lifecycle (partition_id, {LIFECYCLE_COLUMNS}) "
                f"VALUES ({', '.join(['%s'] * 13)}) ON CONFLICT (partition_id, slot) {conflict}",
                [(self.pid, *record) for record in records],
            )

    def set_superseded(self, slot: int, newer_id: str | None) -> None:
        with self._writing() as changed:
            changed.lifecycle.add(int(slot))
            self._storage.execute(
                "cannot record supersession",
                "UPDATE hippo_lifecycle SET superseded_by = %s WHERE partition_id = %s AND slot = %s",
                (newer_id, self.pid, slot),
            )

    def merge_ids(self, pairs: Sequence[tuple[str, str]]) -> None:
        if not pairs:
            return
        with self._writing() as changed:
            changed.flags |= CHANGED_ALIASES
            for merged, survivor in pairs:
                self._storage.execute(
                    "cannot merge ids",
                    "UPDATE hippo_aliases SET target = %s WHERE partition_id = %s AND target = %s",
                    (survivor, self.pid, merged),
                )
                changed.lifecycle.update(
                    int(slot)
                    for (slot,) in self._storage.fetch(
                        "cannot merge ids",
                        "UPDATE hippo_lifecycle SET superseded_by = %s WHERE partition_id = %s AND superseded_by = %s "
                        "RETURNING slot",
                        (survivor, self.pid, merged),
                    )
                )
            self._storage.execute_many(
                "cannot merge ids",
                "INSERT INTO hippo_aliases (partition_id, id, target) VALUES (%s, %s, %s) "
                "ON CONFLICT (partition_id, id) DO UPDATE SET target = excluded.target",
                [(self.pid, merged, survivor) for merged, survivor in pairs],
            )

    def set_policy_counts(self, counts: Mapping[str, int]) -> None:
        with self._writing():
            self._storage.set_policy_counts(counts)

    def set_consolidated_at(self, when: float) -> None:
        """Record the pass; older vector generations left by an interrupted compaction go with it."""
        self._set_column("consolidated_at", when)
        self.remove_stale_files()

    def set_ivf_generation(self, generation: int) -> None:
        self._set_column("ivf_generation", generation)

    def _set_column(self, column: str, value: Any) -> None:
        with self._writing():
            self._storage.execute(
                f"cannot record {column}",
                f"UPDATE hippo_partitions SET {column} = %s WHERE partition_id = %s",
                (value, self.pid),
            )

    def write_tensors(self, name: str, tensors: dict[str, npt.NDArray[Any]]) -> None:
        """Store a named set of tensors (safetensors bytes) in ``hippo_tensors``, replacing any of that name."""
        from safetensors.numpy import save

        self._storage.execute(
            f"cannot write {name}",
            "INSERT INTO hippo_tensors (partition_id, name, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (partition_id, name) DO UPDATE SET data = excluded.data",
            (self.pid, name, save(tensors)),
        )

    def remove_file(self, name: str) -> None:
        self._storage.execute(
            f"cannot delete {name}",
            "DELETE FROM hippo_tensors WHERE partition_id = %s AND name = %s",
            (self.pid, name),
        )

    # -- compaction -------------------------------------------------------------------
    def next_vectors_name(self) -> str:
        """A new generation number, from a sequence: two compactions never write the same one.

        Older generations an interrupted compaction left are deleted first: this is the
        compaction's write path (a load only reads, see :meth:`remove_stale_files`).
        """
        self.remove_stale_files()
        rows = self._storage.fetch("cannot allocate a vector generation", "SELECT nextval('hippo_generations')")
        return f"g{int(rows[0][0])}"

    def write_vector_file(self, name: str, vectors: npt.NDArray[np.float32], *, first_row: int = 0) -> None:
        """Write rows ``first_row ..`` of the uncommitted generation ``name`` (dropping any after them)."""
        self._vectors.write(generation_number(name), first_row, vectors)

    def commit_vectors_name(self, name: str) -> None:
        with self._writing() as changed:
            changed.flags |= CHANGED_ROWS
            self._set_column("generation", generation_number(name))

    def switch_vectors(self, name: str, n_rows: int) -> None:
        """Use the committed generation ``name``, then delete the older generations' blocks."""
        self.n_rows, self.generation, self._pending = n_rows, generation_number(name), None
        with contextlib.suppress(StoreError):  # committed already: leftovers go with the next cleanup
            self.remove_stale_files()

    def remove_stale_files(self) -> None:
        """Delete the blocks of generations older than the live one (never a newer one being written).

        A write: called by compaction and consolidation (:meth:`next_vectors_name`,
        :meth:`switch_vectors`, :meth:`set_consolidated_at`), never by a load, which
        only reads (a read replica serves loads and catch-ups).
        """
        self._vectors.remove_stale()

    def close(self) -> None:
        """Drop vectors appended but never committed, and the records cached for recall."""
        self._pending = None
        self._storage.records.invalidate(self.pid)
