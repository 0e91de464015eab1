"""On-disk persistence: SQLite (WAL) for records and links, a raw float32 file for vectors.

Layout of a store directory::

    hippo.sqlite       records, cues, links, meta (format version, encoder, counts)
    vectors.f32        cue vectors, row-major float32, append-only; compaction writes
                       ``vectors.<gen>.f32`` and ``meta.vectors_file`` names the live one
    ivf-<gen>.safetensors  centroids of the IVF index, so reopening rebuilds it exactly
    LOCK               advisory lock held by the one process that has the store open

Crash safety: a write appends vectors first (and fsyncs them when durable), then
commits one SQLite transaction that records the new row count with everything
that refers to those rows. A process killed at any point leaves either the old
or the new committed state; on open, vector rows beyond the committed count are
truncated away. Compaction (:meth:`Store.write_vector_file`) writes the live rows to
a new generation file and fsyncs it before the transaction that remaps the rows and
names the file in ``meta.vectors_file``; files of other generations are deleted on
open, so a crash before that commit keeps the old file and one after keeps the new.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._errors import (
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
    StoreVersionError,
)

__all__ = ["FORMAT_VERSION", "MemoryRow", "Store"]

FORMAT_VERSION = 1
_APPLICATION = "hippo-memory"
_DB = "hippo.sqlite"
_VECTORS = "vectors.f32"
_VECTOR_FILE = re.compile(r"vectors(?:\.(\d+))?\.f32")
_LOCK = "LOCK"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memories (
    slot INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    timestamp REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    session TEXT,
    code BLOB NOT NULL,
    row_start INTEGER NOT NULL,
    row_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_session ON memories(namespace, session, slot);
CREATE TABLE IF NOT EXISTS cues (
    row INTEGER PRIMARY KEY,
    slot INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cues_slot ON cues(slot);
CREATE TABLE IF NOT EXISTS links (
    src INTEGER NOT NULL,
    dst INTEGER NOT NULL,
    strength REAL NOT NULL,
    PRIMARY KEY (src, dst)
);
CREATE TABLE IF NOT EXISTS lifecycle (
    slot INTEGER PRIMARY KEY,
    salience REAL NOT NULL DEFAULT 0,
    novelty REAL,
    learned_at REAL NOT NULL,
    reinforced_at REAL NOT NULL,
    stability REAL NOT NULL,
    access_count INTEGER NOT NULL DEFAULT 0,
    last_access REAL,
    replay_count INTEGER NOT NULL DEFAULT 0,
    expires_at REAL,
    superseded_by TEXT,
    merged_from TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS aliases (id TEXT PRIMARY KEY, target TEXT NOT NULL);
"""

# Earlier builds kept the lexical channel in an FTS5 table with triggers on
# ``memories``; the index now lives in RAM (hippo_memory._lexical), so those are dropped on
# open: the triggers would otherwise keep costing every write.
_OLD_LEXICAL = (
    "DROP TRIGGER IF EXISTS memories_fts_insert",
    "DROP TRIGGER IF EXISTS memories_fts_delete",
    "DROP TRIGGER IF EXISTS memories_fts_update",
    "DROP TABLE IF EXISTS memories_fts",
)

# Columns added to tables after format 1 was first written: added on open when missing,
# so stores written by an earlier build of the same format keep opening.
_ADDED_COLUMNS: dict[str, dict[str, str]] = {
    "lifecycle": {
        "replay_count": "INTEGER NOT NULL DEFAULT 0",
        "expires_at": "REAL",
        "superseded_by": "TEXT",
        "merged_from": "TEXT NOT NULL DEFAULT '[]'",
    },
}

MemoryRow = tuple[int, str, str, str, str, float | None, float, float, str | None, bytes, int, int]
"""``(slot, id, namespace_json, text, metadata_json, timestamp, created_at, updated_at,
session, code_bytes, row_start, row_count)``."""


class Store:
    """Persistence of one memory: a directory, or nothing at all (``path=None``).

    The class knows nothing of recall; :class:`~hippo_memory.HippoMemory` drives it.

    Args:
        path: Store directory (created if missing), or ``None`` for in-memory.
        dim: Vector dimension; checked against an existing store by the caller.
        durable: fsync the vector file and use ``synchronous=FULL``.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, durable: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.durable = durable
        self._lock_fd: int | None = None
        self._vectors_fd: int | None = None
        self.n_rows = 0
        self.dim = 0
        self._closed = False
        if self.path is None:
            self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self.db.executescript(_SCHEMA)
            self.vectors_name = _VECTORS
            return
        self._open_directory(self.path)

    # -- opening --------------------------------------------------------------------
    def _open_directory(self, path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise StoreCorruptedError(f"{path} exists and is not a hippo-memory store directory")
        existing = path.is_dir() and any(path.iterdir())
        if existing and not (path / _DB).exists():
            raise StoreCorruptedError(f"{path} is a non-empty directory without {_DB}: not a hippo-memory store")
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(path / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open store at {path}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise StoreLockedError(f"{path} is open in another HippoMemory or process") from exc
        try:
            self.db = sqlite3.connect(path / _DB, check_same_thread=False, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
            if existing and "meta" not in tables:
                raise StoreCorruptedError(f"{path / _DB} is not a hippo-memory database")
            self.db.executescript(_SCHEMA)
            _add_missing_columns(self.db)
            _drop_old_lexical(self.db, tables)
            self.vectors_name = self._committed_vectors_name()
        except sqlite3.DatabaseError as exc:
            self._release()
            raise StoreCorruptedError(f"{path / _DB} is damaged or foreign: {exc}") from exc
        except StoreError:
            self._release()
            raise
        try:
            self._vectors_fd = os.open(path / self.vectors_name, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            self._release()
            raise StoreError(f"cannot open {path / self.vectors_name}: {exc}") from exc
        self._remove_stale_vector_files()

    def read_meta(self) -> dict[str, str]:
        """All meta keys; empty for a new store."""
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def initialise(self, meta: dict[str, str]) -> None:
        """Write the meta of a brand-new store."""
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [
                    ("application", _APPLICATION),
                    ("format_version", str(FORMAT_VERSION)),
                    ("n_rows", "0"),
                    *meta.items(),
                ],
            )

    def check_meta(self, meta: dict[str, str]) -> None:
        """Raise unless ``meta`` describes a store this version can read."""
        if meta.get("application") != _APPLICATION:
            raise StoreCorruptedError(f"{self.path} is not a hippo-memory store")
        version = int(meta.get("format_version", "-1"))
        if version != FORMAT_VERSION:
            raise StoreVersionError(
                f"{self.path} uses store format {version}; this hippo-memory reads format "
                f"{FORMAT_VERSION}. Upgrade or downgrade hippo-memory, or export and re-import."
            )

    def load_vectors(self, dim: int, n_rows: int) -> npt.NDArray[np.float32]:
        """Read the committed vector rows, truncating rows from an interrupted write.

        Returns:
            float32 array ``(n_rows, dim)``.
        """
        self.dim = dim
        self.n_rows = n_rows
        if self._vectors_fd is None:
            return np.zeros((0, dim), dtype=np.float32)
        row_bytes = dim * 4
        size = os.fstat(self._vectors_fd).st_size
        if size < n_rows * row_bytes:
            raise StoreCorruptedError(
                f"{self.vectors_name} holds {size // row_bytes} rows but the database "
                f"commits {n_rows}: the file was truncated or replaced"
            )
        if size > n_rows * row_bytes:
            os.ftruncate(self._vectors_fd, n_rows * row_bytes)
        if n_rows == 0:
            return np.zeros((0, dim), dtype=np.float32)
        buffer = os.pread(self._vectors_fd, n_rows * row_bytes, 0)
        if len(buffer) != n_rows * row_bytes:
            raise StoreCorruptedError(f"short read from {self.vectors_name}")
        return np.frombuffer(buffer, dtype=np.float32).reshape(n_rows, dim).copy()

    # -- writing --------------------------------------------------------------------
    def append_vectors(self, vectors: npt.NDArray[np.float32]) -> None:
        """Write vectors after the committed rows (not yet committed).

        The caller must commit ``n_rows`` (see :meth:`commit_rows`) inside the same
        transaction as the records that refer to the rows.
        """
        self._check_open()
        if self._vectors_fd is None or vectors.shape[0] == 0:
            return
        offset = self.n_rows * self.dim * 4
        payload = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        written = 0
        while written < len(payload):
            written += os.pwrite(self._vectors_fd, payload[written:], offset + written)
        if self.durable:
            os.fsync(self._vectors_fd)

    def commit_rows(self, n_rows: int) -> None:
        """Record the committed row count (inside the caller's transaction)."""
        self.db.execute("UPDATE meta SET value = ? WHERE key = 'n_rows'", (str(n_rows),))

    def rows_committed(self, n_rows: int) -> None:
        """Tell the store the transaction recording ``n_rows`` has committed."""
        self.n_rows = n_rows

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
        self._check_open()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def write_safetensors(self, name: str, tensors: dict[str, npt.NDArray[Any]]) -> None:
        """Write a safetensors file atomically (temp file, fsync, rename)."""
        if self.path is None:
            return
        from safetensors.numpy import save_file

        target = self.path / name
        temp = target.with_suffix(".tmp")
        save_file(tensors, str(temp))
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)

    def read_safetensors(self, name: str) -> dict[str, npt.NDArray[Any]] | None:
        """Read a safetensors file of the store, ``None`` when absent or unreadable."""
        if self.path is None or not (self.path / name).exists():
            return None
        from safetensors.numpy import load_file

        try:
            return dict(load_file(str(self.path / name)))
        except Exception:
            return None

    def remove_file(self, name: str) -> None:
        """Delete a file of the store if it exists."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()

    # -- vector file generations (compaction) -------------------------------------------
    def _committed_vectors_name(self) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'vectors_file'").fetchone()
        name = str(row[0]) if row else _VECTORS
        if not _VECTOR_FILE.fullmatch(name):
            raise StoreCorruptedError(f"meta names an invalid vector file {name!r}")
        return name

    def _remove_stale_vector_files(self) -> None:
        """Delete vector files of other generations: leftovers of an interrupted compaction."""
        if self.path is None:
            return
        for entry in self.path.iterdir():
            if _VECTOR_FILE.fullmatch(entry.name) and entry.name != self.vectors_name:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()

    def next_vectors_name(self) -> str:
        """Name of the next generation's vector file (not referenced until committed)."""
        match = _VECTOR_FILE.fullmatch(self.vectors_name)
        generation = int(match.group(1) or 0) if match else 0
        return f"vectors.{generation + 1}.f32"

    def write_vector_file(self, name: str, vectors: npt.NDArray[np.float32], *, first_row: int = 0) -> None:
        """Write rows into an uncommitted vector file (created when missing), then fsync.

        Args:
            name: From :meth:`next_vectors_name`.
            vectors: float32 array ``(m, dim)``.
            first_row: Row number of ``vectors[0]`` in the file.
        """
        self._check_open()
        if self.path is None:
            return
        fd = os.open(self.path / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            payload = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
            offset = first_row * int(vectors.shape[1]) * 4
            written = 0
            while written < len(payload):
                written += os.pwrite(fd, payload[written:], offset + written)
            os.ftruncate(fd, offset + len(payload))
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self.durable:
            _fsync_directory(self.path)

    def commit_vectors_name(self, name: str) -> None:
        """Name the live vector file (inside the caller's transaction, with the remapped rows)."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('vectors_file', ?)", (name,))

    def switch_vectors(self, name: str, n_rows: int) -> None:
        """Use the vector file committed by :meth:`commit_vectors_name` and delete the old one."""
        self.n_rows = n_rows
        if self.path is None:
            self.vectors_name = name
            return
        fd = os.open(self.path / name, os.O_RDWR)
        old_fd, old_name = self._vectors_fd, self.vectors_name
        self._vectors_fd, self.vectors_name = fd, name
        if old_fd is not None:
            with contextlib.suppress(OSError):
                os.close(old_fd)
        self.remove_file(old_name)

    # -- reading --------------------------------------------------------------------
    def iter_memories(self) -> Iterator[MemoryRow]:
        """Every memory row, by slot."""
        yield from self.db.execute(
            "SELECT slot, id, namespace, text, metadata, timestamp, created_at, updated_at, "
            "session, code, row_start, row_count FROM memories ORDER BY slot"
        )

    def memories_by_slot(self, slots: Sequence[int]) -> dict[int, MemoryRow]:
        """Rows of the given slots."""
        out: dict[int, MemoryRow] = {}
        for chunk in _chunks(list(slots), 900):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                "SELECT slot, id, namespace, text, metadata, timestamp, created_at, updated_at, "
                f"session, code, row_start, row_count FROM memories WHERE slot IN ({marks})",
                chunk,
            ):
                out[row[0]] = row
        return out

    def cues_by_slot(self, slots: Sequence[int]) -> dict[int, list[tuple[int, str, str]]]:
        """``slot -> [(row, kind, text), ...]`` in row order."""
        out: dict[int, list[tuple[int, str, str]]] = {}
        for chunk in _chunks(list(slots), 900):
            marks = ",".join("?" * len(chunk))
            for slot, row, kind, text in self.db.execute(
                f"SELECT slot, row, kind, text FROM cues WHERE slot IN ({marks}) ORDER BY row",
                chunk,
            ):
                out.setdefault(slot, []).append((row, kind, text))
        return out

    # -- closing --------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this memory has been closed")

    def _release(self) -> None:
        for fd in (self._vectors_fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._vectors_fd = None
        self._lock_fd = None

    def close(self) -> None:
        """Close the database and release the lock (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        self._release()


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def now() -> float:
    """Current UTC time as epoch seconds."""
    return time.time()


def dumps(value: Any) -> str:
    """Canonical JSON used for metadata and namespaces."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for columns a store of the same format still lacks."""
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column, declaration in columns.items():
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def _drop_old_lexical(db: sqlite3.Connection, tables: set[str]) -> None:
    """Drop the FTS5 table and triggers an older build left (see ``_OLD_LEXICAL``)."""
    if "memories_fts" not in tables:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _OLD_LEXICAL[:-1]:
            db.execute(statement)
        # A SQLite without FTS5 cannot drop the table; with the triggers gone it costs nothing.
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute(_OLD_LEXICAL[-1])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _fsync_directory(path: Path) -> None:
    """Make a created or renamed file's directory entry durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
