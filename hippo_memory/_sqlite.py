"""The embedded backend: one SQLite database (WAL) and a vector file per partition.

Layout of a store directory::

    hippo.sqlite                       records, cues, links, lifecycle, aliases of every
                                       partition (each table keyed by a ``partition``
                                       column), the partition catalogue and meta
    partitions/p<id>[.<gen>].f32       a partition's cue vectors, row-major float32,
                                       append-only; compaction writes the next generation
                                       and ``partitions.vectors_file`` names the live one
    partitions/p<id>.ivf-<gen>.safetensors  the partition's IVF centroids

The database file itself carries the writer's lock (``flock``, which SQLite's own
``fcntl`` locks do not interact with), so the lock cannot be lost by deleting a file.

Crash safety: a write appends vectors first (and fsyncs them when durable), then
commits one transaction that records each partition's new row count with
everything that refers to those rows. A process killed at any point leaves either
the old or the new committed state: vector bytes past the committed count are
ignored and overwritten by the next append. Opening never modifies or deletes a
file before the database and the files agree; leftovers of an interrupted
compaction are deleted only once a partition loaded cleanly.

Stores written in format 1 (one global slot space and one ``vectors.f32``) are
migrated on open: new vector files are written and fsynced first, then one
transaction moves every row into its partition; the old file is deleted after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from ._storage import CueRecord, LifecycleRecord, LinkRecord, MemoryRecord
from ._types import Namespace
from ._validation import dumps

__all__ = ["FORMAT_VERSION", "SQLitePartition", "SQLiteStorage", "mapped_errors"]

FORMAT_VERSION = 2
_APPLICATION = "hippo-memory"
_DB = "hippo.sqlite"
_DIR = "partitions"
_VECTOR_FILE = re.compile(r"p(\d+)(?:\.(\d+))?\.f32")
_CHUNK = 900

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partitions (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    n_rows INTEGER NOT NULL DEFAULT 0,
    vectors_file TEXT NOT NULL,
    ivf_generation INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    consolidated_at REAL
);
CREATE TABLE IF NOT EXISTS namespaces (
    namespace TEXT PRIMARY KEY,
    partition INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS memories (
    partition INTEGER NOT NULL,
    slot INTEGER NOT NULL,
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
    row_count INTEGER NOT NULL,
    PRIMARY KEY (partition, slot)
);
CREATE TABLE IF NOT EXISTS cues (
    partition INTEGER NOT NULL,
    row INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (partition, row)
);
CREATE INDEX IF NOT EXISTS cues_slot ON cues(partition, slot);
CREATE TABLE IF NOT EXISTS links (
    partition INTEGER NOT NULL,
    src INTEGER NOT NULL,
    dst INTEGER NOT NULL,
    strength REAL NOT NULL,
    PRIMARY KEY (partition, src, dst)
);
CREATE TABLE IF NOT EXISTS lifecycle (
    partition INTEGER NOT NULL,
    slot INTEGER NOT NULL,
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
    merged_from TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (partition, slot)
);
CREATE TABLE IF NOT EXISTS aliases (id TEXT PRIMARY KEY, partition INTEGER NOT NULL, target TEXT NOT NULL);
"""

_MEMORY_COLUMNS = (
    "slot, id, namespace, text, metadata, timestamp, created_at, updated_at, session, code, row_start, row_count"
)
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


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _marks(n: int) -> str:
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


def namespace_key(namespace: Namespace) -> str:
    """Canonical JSON of a namespace or partition key."""
    return dumps(list(namespace))


class SQLiteStorage:
    """Every partition of one memory in a directory (or in RAM with ``path=None``).

    Args:
        path: Store directory (created when missing), or ``None`` for an in-memory store.
        durable: fsync vector files and use ``synchronous=FULL`` commits.

    Raises:
        StoreCorruptedError: the path holds something that is not a hippo-memory store.
        StoreLockedError: another process has the store open.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, durable: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.persistent = self.path is not None
        self.durable = durable
        self._lock_fd: int | None = None
        self._closed = False
        self._depth = 0
        self._touched: set[int] = set()
        self._partitions: dict[Namespace, SQLitePartition] = {}
        self._mutex = threading.RLock()
        self._migrate_from: int | None = None
        if self.path is None:
            self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self.db.executescript(_SCHEMA)
            return
        with mapped_errors(f"cannot open store at {self.path}"):
            self._open_directory(self.path)

    # -- opening --------------------------------------------------------------------
    def _open_directory(self, path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise StoreCorruptedError(f"{path} exists and is not a hippo-memory store directory")
        existing = path.is_dir() and any(path.iterdir())
        if existing and not (path / _DB).exists():
            raise StoreCorruptedError(f"{path} is a non-empty directory without {_DB}: not a hippo-memory store")
        path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(path / _DB, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._release()
            raise StoreLockedError(f"{path} is open in another HippoMemory or process") from exc
        try:
            self.db = sqlite3.connect(path / _DB, check_same_thread=False, isolation_level=None, timeout=30)
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                raise StoreCorruptedError(f"{path / _DB} is not a hippo-memory database")
            if tables:
                meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("application") != _APPLICATION:
                    raise StoreCorruptedError(f"{path / _DB} is not a hippo-memory database")
                version = int(meta.get("format_version", "-1"))
                if version == 1:
                    self._migrate_from = 1
                elif version != FORMAT_VERSION:
                    raise StoreVersionError(
                        f"{path} uses store format {version}; this hippo-memory reads formats 1 and "
                        f"{FORMAT_VERSION}. Upgrade hippo-memory, or export and re-import."
                    )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            if self._migrate_from is None:
                self.db.executescript(_SCHEMA)
            (path / _DIR).mkdir(exist_ok=True)
        except BaseException:
            self._release()
            raise

    def migrate(self, dim: int, depth: int | None) -> None:
        """Bring a format-1 store to the current format (called once the encoder's ``dim`` is known)."""
        if self._migrate_from is None:
            return
        from ._sqlite_migrate import migrate_v1

        with mapped_errors(f"cannot migrate {self.path}"):
            assert self.path is not None
            migrate_v1(self.db, self.path, dim, durable=self.durable, schema=_SCHEMA, depth=depth)
        self._migrate_from = None

    def verify(self, dim: int) -> None:
        """Check every partition's records against its vector file, then drop uncommitted tails.

        Nothing is modified unless every partition agrees with its file: a store that
        lost a commit or a file is refused as it is, so nothing more can be lost.

        Raises:
            StoreCorruptedError: records refer to rows never committed, or a vector
                file is missing or shorter than the committed rows.
        """
        if self.path is None:
            return
        row_bytes = dim * 4
        with mapped_errors("cannot verify the store"):
            ends = dict(
                self.db.execute("SELECT partition, MAX(row_start + row_count) FROM memories GROUP BY partition")
            )
            tails: list[tuple[Path, int]] = []
            for pid, key, n_rows, name in self.db.execute("SELECT id, key, n_rows, vectors_file FROM partitions"):
                if int(ends.get(pid) or 0) > n_rows:
                    raise StoreCorruptedError(
                        f"partition {key}: memories refer to vector rows that were never committed"
                    )
                file = self.path / _DIR / name
                if not file.exists():
                    if n_rows:
                        raise StoreCorruptedError(
                            f"{file} is missing but the database commits {n_rows} rows to it: the store was "
                            "copied or restored without it, or its database lost a commit"
                        )
                    continue
                size = file.stat().st_size
                if size < n_rows * row_bytes:
                    raise StoreCorruptedError(
                        f"{name} holds {size // row_bytes} rows but the database commits {n_rows}: "
                        "the file was truncated or replaced"
                    )
                if size > n_rows * row_bytes:
                    tails.append((file, n_rows * row_bytes))
            for file, size in tails:  # bytes of writes that never committed
                os.truncate(file, size)

    def read_meta(self) -> dict[str, str]:
        with mapped_errors("cannot read the store's meta"):
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" not in tables:
                return {}
            return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def initialise(self, meta: Mapping[str, str]) -> None:
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("application", _APPLICATION), ("format_version", str(FORMAT_VERSION)), *meta.items()],
            )

    def check_meta(self, meta: Mapping[str, str]) -> None:
        if meta.get("application") != _APPLICATION:
            raise StoreCorruptedError(f"{self.path} is not a hippo-memory store")
        version = int(meta.get("format_version", "-1"))
        if version not in (1, FORMAT_VERSION):
            raise StoreVersionError(
                f"{self.path} uses store format {version}; this hippo-memory reads format {FORMAT_VERSION}."
            )

    # -- transactions ----------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (nested calls join the outer one); rolled back on any exception."""
        self._check_open()
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with mapped_errors("cannot start a transaction"):
                self.db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            self._touched = set()
            try:
                yield
                with mapped_errors("cannot commit"):
                    if self._touched:
                        touched = sorted(self._touched)
                        self.db.execute(
                            f"UPDATE partitions SET seq = seq + 1 WHERE id IN ({_marks(len(touched))})", touched
                        )
                    self.db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    def touch(self, pid: int) -> None:
        """Count partition ``pid`` as changed by the current transaction."""
        self._touched.add(pid)

    # -- partitions -------------------------------------------------------------------
    def partition(self, key: Namespace, *, create: bool = False) -> SQLitePartition | None:
        self._check_open()
        with self._mutex:
            found = self._partitions.get(key)
            if found is not None:
                return found
            with mapped_errors("cannot read the partition catalogue"):
                row = self.db.execute("SELECT id FROM partitions WHERE key = ?", (namespace_key(key),)).fetchone()
                if row is None:
                    if not create:
                        return None
                    with self.transaction():
                        cursor = self.db.execute(
                            "INSERT INTO partitions (key, vectors_file) VALUES (?, '')", (namespace_key(key),)
                        )
                        pid = int(cursor.lastrowid or 0)
                        self.db.execute("UPDATE partitions SET vectors_file = ? WHERE id = ?", (f"p{pid}.f32", pid))
                else:
                    pid = int(row[0])
            found = SQLitePartition(self, pid, key)
            self._partitions[key] = found
            return found

    def forget_partition(self, key: Namespace) -> None:
        """Drop the cached handle of a partition (its files stay); the next :meth:`partition` reopens it."""
        with self._mutex:
            part = self._partitions.pop(key, None)
            if part is not None:
                part.close()

    def partition_keys(self, prefix: Namespace | None = None) -> list[Namespace]:
        with mapped_errors("cannot read the partition catalogue"):
            keys = [tuple(json.loads(k)) for (k,) in self.db.execute("SELECT key FROM partitions ORDER BY id")]
        if prefix is None:
            return keys
        # A partition holds namespaces under ``prefix`` if its key extends the prefix, or
        # if the prefix extends its key (a partition deeper than its key's labels).
        out = []
        for key in keys:
            n = min(len(key), len(prefix))
            if key[:n] == prefix[:n]:
                out.append(key)
        return out

    def namespace_counts(self, prefix: Namespace | None = None) -> dict[Namespace, int]:
        with mapped_errors("cannot read the namespace catalogue"):
            rows = self.db.execute("SELECT namespace, count FROM namespaces WHERE count > 0").fetchall()
        out: dict[Namespace, int] = {}
        for text, count in rows:
            namespace = tuple(json.loads(text))
            if prefix is None or namespace[: len(prefix)] == prefix:
                out[namespace] = int(count)
        return out

    def locate(self, ids: Sequence[str]) -> dict[str, Namespace]:
        found: dict[str, int] = {}
        with mapped_errors("cannot look up memory ids"):
            for chunk in _chunks(list(ids)):
                marks = _marks(len(chunk))
                for id_, pid in self.db.execute(f"SELECT id, partition FROM memories WHERE id IN ({marks})", chunk):
                    found[id_] = pid
                for id_, pid in self.db.execute(f"SELECT id, partition FROM aliases WHERE id IN ({marks})", chunk):
                    found.setdefault(id_, pid)
            if not found:
                return {}
            pids = sorted(set(found.values()))
            keys = {
                pid: tuple(json.loads(key))
                for pid, key in self.db.execute(
                    f"SELECT id, key FROM partitions WHERE id IN ({_marks(len(pids))})", pids
                )
            }
        return {id_: keys[pid] for id_, pid in found.items() if pid in keys}

    def policy_counts(self) -> dict[str, int]:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'write_policy_counts'").fetchone()
        return {str(k): int(v) for k, v in json.loads(row[0]).items()} if row else {}

    def set_policy_counts(self, counts: Mapping[str, int]) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('write_policy_counts', ?)", (dumps(dict(counts)),))

    # -- closing ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this memory has been closed")

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
        self._lock_fd = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for part in self._partitions.values():
            part.close()
        self._partitions.clear()
        with contextlib.suppress(sqlite3.Error, AttributeError):
            self.db.close()
        self._release()


class SQLitePartition:
    """One partition's rows in the shared database and its vector file.

    Args:
        storage: The owning :class:`SQLiteStorage`.
        pid: The partition's row id in ``partitions``.
        key: The partition key (a namespace prefix).
    """

    def __init__(self, storage: SQLiteStorage, pid: int, key: Namespace) -> None:
        self._storage = storage
        self.db = storage.db
        self.pid = pid
        self.key = key
        row = self.db.execute("SELECT n_rows, vectors_file FROM partitions WHERE id = ?", (pid,)).fetchone()
        self.n_rows = int(row[0])
        self.vectors_name = str(row[1])
        if not _VECTOR_FILE.fullmatch(self.vectors_name) or _VECTOR_FILE.fullmatch(self.vectors_name).group(1) != str(  # type: ignore[union-attr]
            pid
        ):
            raise StoreCorruptedError(f"partition {key!r} names an invalid vector file {self.vectors_name!r}")
        self.dim = 0
        self._fd: int | None = None
        self._dir = None if storage.path is None else storage.path / _DIR

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
            flags = os.O_RDWR | (os.O_CREAT if create else 0)
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

    def iter_memories(self) -> Iterator[MemoryRecord]:
        for row in self.db.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE partition = ? ORDER BY slot", (self.pid,)
        ):
            yield MemoryRecord(*row)

    def memories_by_slot(self, slots: Sequence[int]) -> dict[int, MemoryRecord]:
        out: dict[int, MemoryRecord] = {}
        for chunk in _chunks(list(slots)):
            for row in self.db.execute(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE partition = ? AND slot IN ({_marks(len(chunk))})",
                [self.pid, *chunk],
            ):
                out[row[0]] = MemoryRecord(*row)
        return out

    def metadata_by_slot(self, slots: Sequence[int]) -> Iterator[tuple[int, str]]:
        for chunk in _chunks(list(slots)):
            yield from self.db.execute(
                f"SELECT slot, metadata FROM memories WHERE partition = ? AND slot IN ({_marks(len(chunk))})",
                [self.pid, *chunk],
            )

    def cues_by_slot(self, slots: Sequence[int]) -> dict[int, list[CueRecord]]:
        out: dict[int, list[CueRecord]] = {}
        for chunk in _chunks(list(slots)):
            for row, slot, kind, text in self.db.execute(
                f"SELECT row, slot, kind, text FROM cues WHERE partition = ? AND slot IN ({_marks(len(chunk))}) "
                "ORDER BY row",
                [self.pid, *chunk],
            ):
                out.setdefault(slot, []).append(CueRecord(row, slot, kind, text))
        return out

    def cues_by_row(self, rows: Sequence[int]) -> dict[int, CueRecord]:
        out: dict[int, CueRecord] = {}
        for chunk in _chunks(list(rows)):
            for row, slot, kind, text in self.db.execute(
                f"SELECT row, slot, kind, text FROM cues WHERE partition = ? AND row IN ({_marks(len(chunk))})",
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
        self.dim = dim
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
        if len(buffer) != self.n_rows * row_bytes:
            raise StoreCorruptedError(f"short read from {self.vectors_name}")
        return np.frombuffer(buffer, dtype=np.float32).reshape(self.n_rows, dim).copy()

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
        self._write().execute("UPDATE partitions SET n_rows = ? WHERE id = ?", (n_rows, self.pid))

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
        for chunk in _chunks(list(slots)):
            marks = _marks(len(chunk))
            args = [self.pid, *chunk]
            for namespace, n in db.execute(
                f"SELECT namespace, COUNT(*) FROM memories WHERE partition = ? AND slot IN ({marks}) GROUP BY namespace",
                args,
            ).fetchall():
                db.execute("UPDATE namespaces SET count = count - ? WHERE namespace = ?", (n, namespace))
            db.execute(f"DELETE FROM memories WHERE partition = ? AND slot IN ({marks})", args)
            db.execute(f"DELETE FROM cues WHERE partition = ? AND slot IN ({marks})", args)
            db.execute(f"DELETE FROM lifecycle WHERE partition = ? AND slot IN ({marks})", args)
            db.execute(
                f"DELETE FROM links WHERE partition = ? AND (src IN ({marks}) OR dst IN ({marks}))", [*args, *chunk]
            )
        db.execute("DELETE FROM namespaces WHERE count <= 0")
        for chunk in _chunks(list(ids)):
            marks = _marks(len(chunk))
            db.execute(
                f"UPDATE lifecycle SET superseded_by = NULL WHERE partition = ? AND superseded_by IN ({marks})",
                [self.pid, *chunk],
            )
            db.execute(f"DELETE FROM aliases WHERE partition = ? AND target IN ({marks})", [self.pid, *chunk])

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
        match = _VECTOR_FILE.fullmatch(self.vectors_name)
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
        if self._dir is None:
            return
        for entry in self._dir.iterdir():
            match = _VECTOR_FILE.fullmatch(entry.name)
            if match and match.group(1) == str(self.pid) and entry.name != self.vectors_name:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()

    def close(self) -> None:
        """Close the partition's vector file."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
