"""One partition's rows in the shared SQLite database, and its vector file (see :mod:`._sqlite`)."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ._errors import StoreCorruptedError, StoreError, StoreLockedError
from ._sqlite_checksums import CHECKSUM_ROWS, block_checksums, damaged_blocks, stored_checksums
from ._storage import CueRecord, LifecycleRecord, LinkRecord, MemoryRecord, PartitionChanges
from ._types import Namespace


class _Owner(Protocol):
    """What a partition needs of the storage that opened it (:class:`~hippo_memory._sqlite.SQLiteStorage`)."""

    db: sqlite3.Connection
    path: Path | None
    durable: bool
    read_only: bool

    def touch(self, pid: int) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def _check_open(self) -> None: ...
    def set_policy_counts(self, counts: Mapping[str, int]) -> None: ...


__all__ = [
    "CHECKSUM_ROWS",
    "DIRECTORY",
    "VECTOR_FILE",
    "SQLitePartition",
    "block_checksums",
    "chunks",
    "damaged_blocks",
    "mapped_errors",
    "marks",
    "stored_checksums",
]

DIRECTORY = "partitions"
"""Rows per checksummed block of a vector file."""
VECTOR_FILE = re.compile(r"p(\d+)(?:\.(\d+))?\.f32")
_CHUNK = 900
_MEMORY_COLUMNS = (
    "slot, id, namespace, text, metadata, timestamp, created_at, updated_at, session, code, row_start, row_count"
)
_MEMORIES_WITH_CUES = (
    f"SELECT {', '.join('m.' + c for c in _MEMORY_COLUMNS.split(', '))}, c.row, c.kind, c.text "
    "FROM memories m LEFT JOIN cues c ON c.partition = m.partition AND c.slot = m.slot "
    "WHERE m.partition = ? AND m.slot IN "
)
"""Records of some slots joined with their cues: one row per cue (or one with NULL cue columns)."""
_LIFECYCLE_COLUMNS = (
    "slot, salience, novelty, learned_at, reinforced_at, stability, access_count, last_access, "
    "replay_count, expires_at, superseded_by, merged_from"
)


@contextlib.contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Map ``sqlite3`` and OS errors to the :class:`StoreError` tree (the backend's one boundary)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise StoreLockedError(f"{what}: the database is locked: {exc}") from exc
        raise StoreCorruptedError(f"{what}: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"{what}: {exc}") from exc
    except OSError as exc:
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"{what}: {exc}") from exc


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (SQLite caps the parameters of one statement)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def marks(n: int) -> str:
    """``?,?,...`` with ``n`` placeholders."""
    return ",".join("?" * n)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, payload: bytes, offset: int) -> None:
    written = 0
    while written < len(payload):
        written += os.pwrite(fd, payload[written:], offset + written)


class SQLitePartition:
    """One partition's rows in the shared database and its vector file.

    Args:
        storage: The owning :class:`SQLiteStorage`.
        pid: The partition's row id in ``partitions``.
        key: The partition key (a namespace prefix).
    """

    def __init__(self, storage: _Owner, pid: int, key: Namespace) -> None:
        self._storage = storage
        self.db = storage.db
        self.pid = pid
        self.key = key
        row = self.db.execute("SELECT n_rows, vectors_file FROM partitions WHERE id = ?", (pid,)).fetchone()
        self.n_rows = int(row[0])
        self.vectors_name = str(row[1])
        if not VECTOR_FILE.fullmatch(self.vectors_name) or VECTOR_FILE.fullmatch(self.vectors_name).group(1) != str(  # type: ignore[union-attr]
            pid
        ):
            raise StoreCorruptedError(f"partition {key!r} names an invalid vector file {self.vectors_name!r}")
        self.dim = 0
        self._unsealed: list[tuple[int, int, int]] = []
        self._fd: int | None = None
        self._dir = None if storage.path is None else storage.path / DIRECTORY

    # -- helpers ----------------------------------------------------------------------
    def _write(self) -> sqlite3.Connection:
        """The connection, for a write inside the storage's transaction (marks the partition changed)."""
        self._storage._check_open()
        self._storage.touch(self.pid)
        return self.db

    def _open_vectors(self, create: bool) -> int | None:
        if self._dir is None:
            return None
        if self._fd is None:
            flags = os.O_RDONLY if self._storage.read_only else os.O_RDWR | (os.O_CREAT if create else 0)
            try:
                self._fd = os.open(self._dir / self.vectors_name, flags, 0o644)
            except FileNotFoundError:
                if self.n_rows == 0:
                    return None
                raise StoreCorruptedError(
                    f"{self._dir / self.vectors_name} is missing but the database commits {self.n_rows} vector "
                    "rows to it: the store was copied or restored without it, or its database lost a commit"
                ) from None
        return self._fd

    # -- reading ----------------------------------------------------------------------
    def seq(self) -> int:
        row = self.db.execute("SELECT seq FROM partitions WHERE id = ?", (self.pid,)).fetchone()
        return int(row[0]) if row else -1

    def refresh(self) -> None:
        row = self.db.execute("SELECT n_rows, vectors_file FROM partitions WHERE id = ?", (self.pid,)).fetchone()
        if row is not None and (int(row[0]), str(row[1])) != (self.n_rows, self.vectors_name):
            self.close()
            self.n_rows, self.vectors_name = int(row[0]), str(row[1])

    def changes_since(self, seq: int, first_row: int, dim: int) -> PartitionChanges:
        """No change log: a directory has one writer process, which never needs to catch up."""
        return PartitionChanges(self.seq(), reload="a SQLite directory keeps no change log")

    def lock_for_write(self) -> None:
        """Nothing to do: the directory's one writer process holds the store's lock."""

    @contextlib.contextmanager
    def consolidation_lock(self) -> Iterator[bool]:
        """Always held: the directory's one writer process holds the store's lock."""
        yield True

    def iter_memories(self) -> Iterator[MemoryRecord]:
        for row in self.db.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE partition = ? ORDER BY slot", (self.pid,)
        ):
            yield MemoryRecord(*row)

    def memories_by_slot(self, slots: Sequence[int]) -> dict[int, MemoryRecord]:
        out: dict[int, MemoryRecord] = {}
        for chunk in chunks(list(slots)):
            for row in self.db.execute(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE partition = ? AND slot IN ({marks(len(chunk))})",
                [self.pid, *chunk],
            ):
                out[row[0]] = MemoryRecord(*row)
        return out

    def memories_with_cues(self, slots: Sequence[int]) -> dict[int, tuple[MemoryRecord, list[CueRecord]]]:
        out: dict[int, tuple[MemoryRecord, list[CueRecord]]] = {}
        for chunk in chunks(list(slots)):
            # A join repeats the record's columns on each cue row, which costs less than a
            # second statement for the few memories of a recall's hits.
            for row in self.db.execute(f"{_MEMORIES_WITH_CUES}({marks(len(chunk))})", [self.pid, *chunk]):
                slot = row[0]
                entry = out.get(slot)
                if entry is None:
                    entry = out[slot] = (MemoryRecord(*row[:12]), [])
                if row[12] is not None:
                    entry[1].append(CueRecord(row[12], slot, row[13], row[14]))
        for _, cues in out.values():
            cues.sort()
        return out

    def metadata_by_slot(self, slots: Sequence[int]) -> Iterator[tuple[int, str]]:
        for chunk in chunks(list(slots)):
            yield from self.db.execute(
                f"SELECT slot, metadata FROM memories WHERE partition = ? AND slot IN ({marks(len(chunk))})",
                [self.pid, *chunk],
            )

    def cues_by_slot(self, slots: Sequence[int]) -> dict[int, list[CueRecord]]:
        out: dict[int, list[CueRecord]] = {}
        for chunk in chunks(list(slots)):
            # No ORDER BY: SQLite would then walk the (partition, row) key, a scan of the
            # whole partition, instead of the (partition, slot) index; rows are sorted here.
            for row, slot, kind, text in self.db.execute(
                f"SELECT row, slot, kind, text FROM cues WHERE partition = ? AND slot IN ({marks(len(chunk))})",
                [self.pid, *chunk],
            ):
                out.setdefault(slot, []).append(CueRecord(row, slot, kind, text))
        for cues in out.values():
            cues.sort()
        return out

    def cues_by_row(self, rows: Sequence[int]) -> dict[int, CueRecord]:
        out: dict[int, CueRecord] = {}
        for chunk in chunks(list(rows)):
            for row, slot, kind, text in self.db.execute(
                f"SELECT row, slot, kind, text FROM cues WHERE partition = ? AND row IN ({marks(len(chunk))})",
                [self.pid, *chunk],
            ):
                out[row] = CueRecord(row, slot, kind, text)
        return out

    def links(self) -> Iterator[LinkRecord]:
        for src, dst, strength in self.db.execute(
            "SELECT src, dst, strength FROM links WHERE partition = ?", (self.pid,)
        ):
            yield LinkRecord(int(src), int(dst), float(strength))

    def lifecycle(self) -> Iterator[LifecycleRecord]:
        for row in self.db.execute(f"SELECT {_LIFECYCLE_COLUMNS} FROM lifecycle WHERE partition = ?", (self.pid,)):
            yield LifecycleRecord(*row)

    def aliases(self) -> dict[str, str]:
        return {
            str(a): str(t)
            for a, t in self.db.execute("SELECT id, target FROM aliases WHERE partition = ?", (self.pid,))
        }

    def consolidated_at(self) -> float | None:
        row = self.db.execute("SELECT consolidated_at FROM partitions WHERE id = ?", (self.pid,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def ivf_generation(self) -> int:
        row = self.db.execute("SELECT ivf_generation FROM partitions WHERE id = ?", (self.pid,)).fetchone()
        return int(row[0]) if row else 0

    def load_vectors(self, dim: int) -> npt.NDArray[np.float32]:
        """The committed rows, verified block by block against their checksums; modifies nothing.

        Blocks without a checksum (a store written before checksums existed) are
        remembered and recorded by :meth:`seal_vectors` once the partition loaded cleanly.

        Raises:
            StoreCorruptedError: the file is short, or a block differs from its checksum.
        """
        self.dim = dim
        self._unsealed = []
        fd = self._open_vectors(create=False)
        if fd is None or self.n_rows == 0:
            return np.zeros((0, dim), dtype=np.float32)
        row_bytes = dim * 4
        with mapped_errors(f"cannot read {self.vectors_name}"):
            size = os.fstat(fd).st_size
            if size < self.n_rows * row_bytes:
                raise StoreCorruptedError(
                    f"{self.vectors_name} holds {size // row_bytes} rows but the database commits "
                    f"{self.n_rows}: the file was truncated or replaced"
                )
            buffer = os.pread(fd, self.n_rows * row_bytes, 0)
            stored = stored_checksums(self.db, self.pid)
        if len(buffer) != self.n_rows * row_bytes:
            raise StoreCorruptedError(f"short read from {self.vectors_name}")
        damaged, unknown = damaged_blocks(buffer, row_bytes, stored, self.vectors_name)
        n_blocks = -(-self.n_rows // CHECKSUM_ROWS)
        damaged += [b for b, entry in stored.items() if b >= n_blocks and entry[0] == self.vectors_name]
        if damaged:
            block = min(damaged)
            raise StoreCorruptedError(
                f"partition {self.key!r}: block {block} (rows {block * CHECKSUM_ROWS}-"
                f"{min((block + 1) * CHECKSUM_ROWS, self.n_rows) - 1}) of {self.vectors_name} does not match its "
                f"checksum ({len(damaged)} damaged block(s)): the file was damaged or replaced. Nothing was "
                "modified; `hippo-memory repair` rebuilds the store from its texts."
            )
        vectors = np.frombuffer(buffer, dtype=np.float32).reshape(self.n_rows, dim).copy()
        for block, rows, crc in unknown:
            start = block * CHECKSUM_ROWS
            if np.isfinite(vectors[start : start + rows]).all():
                self._unsealed.append((block, rows, crc))
        return vectors

    def seal_vectors(self) -> None:
        """Record the checksums of the blocks :meth:`load_vectors` found without one."""
        if not self._unsealed or self._dir is None or self._storage.read_only:
            return
        self._storage._check_open()
        with mapped_errors("cannot record vector checksums"), self._storage.transaction():
            self.db.executemany(  # not a change of content: the partition's seq stays
                "INSERT INTO vector_checksums VALUES (?, ?, ?, ?, ?) ON CONFLICT(partition, block) DO UPDATE SET "
                "file = excluded.file, rows = excluded.rows, crc = excluded.crc "
                "WHERE file != excluded.file OR rows < excluded.rows",
                [(self.pid, block, self.vectors_name, rows, crc) for block, rows, crc in self._unsealed],
            )
        self._unsealed = []

    def read_tensors(self, name: str) -> dict[str, npt.NDArray[Any]] | None:
        if self._dir is None or not (self._dir / f"p{self.pid}.{name}").exists():
            return None
        from safetensors.numpy import load_file

        try:
            return dict(load_file(str(self._dir / f"p{self.pid}.{name}")))
        except Exception:
            return None

    # -- writing ----------------------------------------------------------------------
    def append_vectors(self, vectors: npt.NDArray[np.float32]) -> None:
        self._storage._check_open()
        if self._storage.read_only:
            raise StoreError(f"{self.vectors_name}: the store is open read-only")
        if self._dir is None or vectors.shape[0] == 0:
            return
        self.dim = int(vectors.shape[1])
        with mapped_errors(f"cannot write {self.vectors_name}"):
            fd = self._open_vectors(create=True)
            assert fd is not None
            _write_all(fd, np.ascontiguousarray(vectors, dtype=np.float32).tobytes(), self.n_rows * self.dim * 4)
            if self._storage.durable:
                os.fsync(fd)

    def commit_rows(self, n_rows: int) -> None:
        """Record the row count and the checksums of every block holding new rows (in the transaction).

        The blocks are read back from the file named in the transaction: the live file
        after an append (only the blocks from the one holding the first new row, so a
        write costs at most one block re-read), the whole new file after a compaction.
        """
        db = self._write()
        old_rows, name = db.execute("SELECT n_rows, vectors_file FROM partitions WHERE id = ?", (self.pid,)).fetchone()
        db.execute("UPDATE partitions SET n_rows = ? WHERE id = ?", (n_rows, self.pid))
        if self._dir is None or self.dim == 0:
            return
        rewritten = name != self.vectors_name or n_rows < old_rows
        if not rewritten and n_rows == old_rows:
            return
        first = 0 if rewritten else old_rows // CHECKSUM_ROWS
        row_bytes = self.dim * 4
        offset, length = first * CHECKSUM_ROWS * row_bytes, n_rows * row_bytes - first * CHECKSUM_ROWS * row_bytes
        with mapped_errors(f"cannot read back {name}"):
            if name != self.vectors_name:  # a compaction's new file
                new_fd = os.open(self._dir / name, os.O_RDONLY)
                try:
                    buffer = os.pread(new_fd, length, offset)
                finally:
                    os.close(new_fd)
            else:
                fd = self._open_vectors(create=False)
                buffer = os.pread(fd, length, offset) if fd is not None else b""
        if len(buffer) != length:
            raise StoreCorruptedError(f"{name} is shorter than the {n_rows} rows being committed")
        db.execute("DELETE FROM vector_checksums WHERE partition = ? AND block >= ?", (self.pid, first))
        db.executemany(
            "INSERT INTO vector_checksums VALUES (?, ?, ?, ?, ?)",
            [
                (self.pid, first + i, name, rows, crc)
                for i, (rows, crc) in enumerate(block_checksums(buffer, row_bytes))
            ],
        )

    def rows_committed(self, n_rows: int) -> None:
        self.n_rows = n_rows

    def insert_memories(self, records: Sequence[MemoryRecord]) -> None:
        db = self._write()
        db.executemany(
            "INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", [(self.pid, *record) for record in records]
        )
        counts: dict[str, int] = {}
        for record in records:
            counts[record.namespace] = counts.get(record.namespace, 0) + 1
        db.executemany(
            "INSERT INTO namespaces VALUES (?, ?, ?) ON CONFLICT(namespace) DO UPDATE SET count = count + excluded.count",
            [(namespace, self.pid, n) for namespace, n in counts.items()],
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
        db = self._write()
        db.execute(
            "UPDATE memories SET metadata = ?, timestamp = ?, updated_at = ? WHERE partition = ? AND slot = ?",
            (metadata, timestamp, updated_at, self.pid, slot),
        )
        if text is not None:
            db.execute("UPDATE memories SET text = ? WHERE partition = ? AND slot = ?", (text, self.pid, slot))
        if code is not None:
            db.execute("UPDATE memories SET code = ? WHERE partition = ? AND slot = ?", (code, self.pid, slot))

    def delete_memories(self, slots: Sequence[int], ids: Sequence[str]) -> None:
        db = self._write()
        for chunk in chunks(list(slots)):
            holes = marks(len(chunk))
            args = [self.pid, *chunk]
            for namespace, n in db.execute(
                f"SELECT namespace, COUNT(*) FROM memories WHERE partition = ? AND slot IN ({holes}) GROUP BY namespace",
                args,
            ).fetchall():
                db.execute("UPDATE namespaces SET count = count - ? WHERE namespace = ?", (n, namespace))
            db.execute(f"DELETE FROM memories WHERE partition = ? AND slot IN ({holes})", args)
            db.execute(f"DELETE FROM cues WHERE partition = ? AND slot IN ({holes})", args)
            db.execute(f"DELETE FROM lifecycle WHERE partition = ? AND slot IN ({holes})", args)
            db.execute(
                f"DELETE FROM links WHERE partition = ? AND (src IN ({holes}) OR dst IN ({holes}))", [*args, *chunk]
            )
        db.execute("DELETE FROM namespaces WHERE count <= 0")
        for chunk in chunks(list(ids)):
            holes = marks(len(chunk))
            db.execute(
                f"UPDATE lifecycle SET superseded_by = NULL WHERE partition = ? AND superseded_by IN ({holes})",
                [self.pid, *chunk],
            )
            db.execute(f"DELETE FROM aliases WHERE partition = ? AND target IN ({holes})", [self.pid, *chunk])

    def insert_cues(self, cues: Sequence[CueRecord]) -> None:
        self._write().executemany("INSERT INTO cues VALUES (?,?,?,?,?)", [(self.pid, *cue) for cue in cues])

    def replace_cues(self, slot: int, cues: Sequence[CueRecord]) -> None:
        db = self._write()
        db.execute("DELETE FROM cues WHERE partition = ? AND slot = ?", (self.pid, slot))
        db.executemany("INSERT INTO cues VALUES (?,?,?,?,?)", [(self.pid, *cue) for cue in cues])
        first = cues[0].row if cues else 0
        db.execute(
            "UPDATE memories SET row_start = ?, row_count = ? WHERE partition = ? AND slot = ?",
            (first, len(cues), self.pid, slot),
        )

    def remap_rows(self, pairs: Sequence[tuple[int, int]]) -> None:
        db = self._write()
        db.execute("CREATE TEMP TABLE IF NOT EXISTS remap (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
        db.execute("DELETE FROM remap")
        db.executemany("INSERT INTO remap VALUES (?, ?)", pairs)
        # Two passes through negative numbers, so no row collides with one not yet moved.
        db.execute(
            "UPDATE cues SET row = -1 - (SELECT new FROM remap WHERE old = cues.row) "
            "WHERE partition = ? AND row IN (SELECT old FROM remap)",
            (self.pid,),
        )
        db.execute("UPDATE cues SET row = -1 - row WHERE partition = ? AND row < 0", (self.pid,))
        db.execute(
            "UPDATE memories SET row_start = (SELECT new FROM remap WHERE old = memories.row_start) "
            "WHERE partition = ? AND row_start IN (SELECT old FROM remap)",
            (self.pid,),
        )
        db.execute("DELETE FROM remap")

    def add_links(self, links: Sequence[LinkRecord]) -> None:
        self._write().executemany(
            "INSERT INTO links VALUES (?,?,?,?) ON CONFLICT(partition, src, dst) "
            "DO UPDATE SET strength = strength + excluded.strength",
            [(self.pid, *link) for link in links],
        )

    def set_links(self, links: Sequence[LinkRecord]) -> None:
        db = self._write()
        for link in links:
            if link.strength > 0:
                db.execute("INSERT OR REPLACE INTO links VALUES (?,?,?,?)", (self.pid, *link))
            else:
                db.execute(
                    "DELETE FROM links WHERE partition = ? AND src = ? AND dst = ?", (self.pid, link.src, link.dst)
                )

    def replace_links(self, links: Iterable[LinkRecord]) -> None:
        db = self._write()
        db.execute("DELETE FROM links WHERE partition = ?", (self.pid,))
        db.executemany("INSERT INTO links VALUES (?,?,?,?)", [(self.pid, *link) for link in links])

    def write_lifecycle(self, records: Sequence[LifecycleRecord], *, keep_existing: bool = False) -> None:
        verb = "INSERT OR IGNORE" if keep_existing else "INSERT OR REPLACE"
        self._write().executemany(
            f"{verb} INTO lifecycle VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", [(self.pid, *r) for r in records]
        )

    def set_superseded(self, slot: int, newer_id: str | None) -> None:
        self._write().execute(
            "UPDATE lifecycle SET superseded_by = ? WHERE partition = ? AND slot = ?", (newer_id, self.pid, slot)
        )

    def merge_ids(self, pairs: Sequence[tuple[str, str]]) -> None:
        db = self._write()
        for merged, survivor in pairs:
            db.execute("UPDATE aliases SET target = ? WHERE target = ?", (survivor, merged))
            db.execute(
                "UPDATE lifecycle SET superseded_by = ? WHERE partition = ? AND superseded_by = ?",
                (survivor, self.pid, merged),
            )
        db.executemany(
            "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)",
            [(merged, self.pid, survivor) for merged, survivor in pairs],
        )

    def set_policy_counts(self, counts: Mapping[str, int]) -> None:
        self._write()
        self._storage.set_policy_counts(counts)

    def set_consolidated_at(self, when: float) -> None:
        self._write().execute("UPDATE partitions SET consolidated_at = ? WHERE id = ?", (when, self.pid))

    def set_ivf_generation(self, generation: int) -> None:
        self._write().execute("UPDATE partitions SET ivf_generation = ? WHERE id = ?", (generation, self.pid))

    def write_tensors(self, name: str, tensors: dict[str, npt.NDArray[Any]]) -> None:
        if self._dir is None:
            return
        from safetensors.numpy import save_file

        target = self._dir / f"p{self.pid}.{name}"
        temp = target.with_suffix(".tmp")
        with mapped_errors(f"cannot write {target.name}"):
            save_file(tensors, str(temp))
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, target)

    def remove_file(self, name: str) -> None:
        if self._dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self._dir / f"p{self.pid}.{name}").unlink()

    # -- compaction -------------------------------------------------------------------
    def next_vectors_name(self) -> str:
        match = VECTOR_FILE.fullmatch(self.vectors_name)
        generation = int(match.group(2) or 0) if match else 0
        return f"p{self.pid}.{generation + 1}.f32"

    def write_vector_file(self, name: str, vectors: npt.NDArray[np.float32], *, first_row: int = 0) -> None:
        self._storage._check_open()
        if self._dir is None:
            return
        with mapped_errors(f"cannot write {name}"):
            fd = os.open(self._dir / name, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                payload = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
                offset = first_row * int(vectors.shape[1]) * 4
                _write_all(fd, payload, offset)
                os.ftruncate(fd, offset + len(payload))
                if self._storage.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if self._storage.durable:
                _fsync_directory(self._dir)

    def commit_vectors_name(self, name: str) -> None:
        self._write().execute("UPDATE partitions SET vectors_file = ? WHERE id = ?", (name, self.pid))

    def switch_vectors(self, name: str, n_rows: int) -> None:
        self.n_rows = n_rows
        old_fd, old_name = self._fd, self.vectors_name
        self._fd, self.vectors_name = None, name
        if old_fd is not None:
            with contextlib.suppress(OSError):
                os.close(old_fd)
        if self._dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self._dir / old_name).unlink()

    def remove_stale_files(self) -> None:
        if self._dir is None or self._storage.read_only:
            return
        for entry in self._dir.iterdir():
            match = VECTOR_FILE.fullmatch(entry.name)
            if match and match.group(1) == str(self.pid) and entry.name != self.vectors_name:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()

    def close(self) -> None:
        """Close the partition's vector file."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
