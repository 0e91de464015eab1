"""The embedded backend: one SQLite database (WAL) and a vector file per partition.

Layout of a store directory::

    hippo.sqlite                       records, cues, links, lifecycle, aliases of every
                                       partition (each table keyed by a ``partition``
                                       column), the partition catalogue and meta
    partitions/p<id>[.<gen>].f32       a partition's cue vectors, row-major float32,
                                       append-only; compaction writes the next generation
                                       and ``partitions.vectors_file`` names the live one
    partitions/p<id>.ivf-<gen>.safetensors  the partition's IVF centroids

Each block of 256 rows of a vector file has a CRC-32 in ``vector_checksums``, written
by the transaction that commits the block's rows and verified when the partition
loads (see :mod:`._sqlite_partition`). A store written before the table existed
opens: its blocks are unknown until their partition first loads cleanly (finite
rows, records within the committed rows), which records their checksums.

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

import bisect
import contextlib
import fcntl
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ._errors import (
    InvalidConfigError,
    MissingDependencyError,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
    StoreVersionError,
)
from ._sqlite_checksums import CHECKSUM_ROWS, damaged_blocks, stored_checksums
from ._sqlite_partition import DIRECTORY as _DIR
from ._sqlite_partition import SQLitePartition, chunks, mapped_errors
from ._sqlite_partition import marks as _marks
from ._storage import Storage
from ._types import Namespace
from ._validation import dumps

__all__ = ["FORMAT_VERSION", "SQLiteStorage", "open_storage"]

FORMAT_VERSION = 2
_APPLICATION = "hippo-memory"
_DB = "hippo.sqlite"

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
CREATE TABLE IF NOT EXISTS vector_checksums (
    partition INTEGER NOT NULL,
    block INTEGER NOT NULL,
    file TEXT NOT NULL,
    rows INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    PRIMARY KEY (partition, block)
);
"""


@functools.lru_cache(maxsize=1 << 16)
def _namespace_of(key: str) -> Namespace:
    """The namespace of a catalogue key, parsed once: listings re-read every key."""
    return tuple(json.loads(key))


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

    def __init__(self, path: str | os.PathLike[str] | None, *, durable: bool = True, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.persistent = self.path is not None
        self.read_only = read_only
        # One process holds the directory's lock; a read-only reader beside it catches up
        # from the change sequence as readers of a shared backend do.
        self.shared = read_only
        self.durable = durable
        self._lock_fd: int | None = None
        self._closed = False
        self._depth = 0
        self._touched: set[int] = set()
        self._partitions: dict[Namespace, SQLitePartition] = {}
        self._mutex = threading.RLock()
        self._migrate_from: int | None = None
        self._keys: dict[Namespace, int] | None = None
        self._sorted_keys: list[Namespace] = []
        if self.path is None:
            if read_only:
                raise InvalidConfigError("read_only needs a store directory")
            self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self.db.executescript(_SCHEMA)
            return
        with mapped_errors(f"cannot open store at {self.path}"):
            self._open_directory(self.path)

    # -- opening --------------------------------------------------------------------
    def _open_reader(self, path: Path) -> None:
        """Open an existing store read-only, beside its writer: no lock, no change to any file."""
        if not (path / _DB).is_file():
            raise StoreError(f"no store at {path} to open read-only")
        self.db = sqlite3.connect(
            f"file:{path / _DB}?mode=ro", uri=True, check_same_thread=False, isolation_level=None, timeout=30
        )
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("application") != _APPLICATION:
            raise StoreCorruptedError(f"{path / _DB} is not a hippo-memory database")
        if meta.get("format_version") != str(FORMAT_VERSION):
            raise StoreVersionError(
                f"{path} uses store format {meta.get('format_version')}: open it read-write once to migrate it"
            )

    def _open_directory(self, path: Path) -> None:
        if self.read_only:
            self._open_reader(path)
            return
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
                    self._check_last_block(pid, key, file, n_rows, row_bytes)
                    tails.append((file, n_rows * row_bytes))
            for file, size in tails if not self.read_only else ():  # bytes of writes that never committed
                os.truncate(file, size)

    def _check_last_block(self, pid: int, key: str, file: Path, n_rows: int, row_bytes: int) -> None:
        """Refuse to cut the tail of a file whose last committed block fails its checksum (a swapped file)."""
        if not n_rows:
            return
        block = (n_rows - 1) // CHECKSUM_ROWS
        with open(file, "rb") as handle:
            handle.seek(block * CHECKSUM_ROWS * row_bytes)
            buffer = handle.read((n_rows - block * CHECKSUM_ROWS) * row_bytes)
        damaged, _ = damaged_blocks(buffer, row_bytes, stored_checksums(self.db, pid), file.name, first_block=block)
        if damaged:
            raise StoreCorruptedError(
                f"partition {key}: block {block} of {file.name} does not match its checksum: the file was damaged "
                "or replaced. Nothing was modified; `hippo-memory repair` rebuilds the store from its texts."
            )

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

    def write_meta(self, items: Mapping[str, str]) -> None:
        """Set store-wide settings (e.g. a fingerprint a store written by an older version lacks)."""
        if self.read_only:
            return  # a reader leaves the store as it is; its writer records them
        with self.transaction(), mapped_errors("cannot write the store's meta"):
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(items.items()))

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
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only: writes go through the process that has it open")
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
            keys = self._catalogue()
            pid = keys.get(key)
            if pid is None:
                if not create:
                    return None
                with self.transaction():
                    cursor = self.db.execute(
                        "INSERT INTO partitions (key, vectors_file) VALUES (?, '')", (namespace_key(key),)
                    )
                    pid = int(cursor.lastrowid or 0)
                    self.db.execute("UPDATE partitions SET vectors_file = ? WHERE id = ?", (f"p{pid}.f32", pid))
                keys[key] = pid
                bisect.insort(self._sorted_keys, key)
            found = SQLitePartition(self, pid, key)
            self._partitions[key] = found
            return found

    def forget_partition(self, key: Namespace) -> None:
        """Drop the cached handle of a partition (its files stay); the next :meth:`partition` reopens it."""
        with self._mutex:
            part = self._partitions.pop(key, None)
            if part is not None:
                part.close()

    def _catalogue(self) -> dict[Namespace, int]:
        """Partition keys -> ids, read once and kept in step by :meth:`partition` (the store has one writer)."""
        if self._keys is None:
            with mapped_errors("cannot read the partition catalogue"):
                rows = self.db.execute("SELECT id, key FROM partitions ORDER BY id").fetchall()
            self._keys = {tuple(json.loads(key)): int(pid) for pid, key in rows}
            self._sorted_keys = sorted(self._keys)
        return self._keys

    def partition_keys(self, prefix: Namespace | None = None) -> list[Namespace]:
        with self._mutex:
            keys = self._catalogue()
            if prefix is None:
                return sorted(keys, key=keys.__getitem__)
            # Keys extending the prefix form one run of the sorted keys; keys the prefix
            # extends (partitions shallower than the namespace) are its own prefixes.
            found = [prefix[:n] for n in range(1, len(prefix)) if prefix[:n] in keys]
            at = bisect.bisect_left(self._sorted_keys, prefix)
            while at < len(self._sorted_keys) and self._sorted_keys[at][: len(prefix)] == prefix:
                found.append(self._sorted_keys[at])
                at += 1
            return sorted(found, key=keys.__getitem__)

    def partition_seqs(self, prefix: Namespace | None = None) -> dict[Namespace, int]:
        keys = self.partition_keys(prefix)
        with self._mutex:
            catalogue = self._catalogue()
        with mapped_errors("cannot read the change sequences"):
            rows = self.db.execute("SELECT id, seq FROM partitions").fetchall()
        seqs = {int(pid): int(seq) for pid, seq in rows}
        return {key: seqs.get(catalogue[key], -1) for key in keys}

    def namespace_counts(self, prefix: Namespace | None = None) -> dict[Namespace, int]:
        query, args = "SELECT namespace, count FROM namespaces WHERE count > 0", []
        if prefix is not None:
            # Canonical JSON sorts every namespace under ``prefix`` between '["a","b"' and the
            # same string with its last character incremented: an index range, not a scan.
            low = namespace_key(prefix)[:-1]
            query += " AND namespace >= ? AND namespace < ?"
            args = [low, low[:-1] + chr(ord(low[-1]) + 1)]
        with mapped_errors("cannot read the namespace catalogue"):
            rows = self.db.execute(query, args).fetchall()
        out: dict[Namespace, int] = {}
        for text, count in rows:
            namespace = _namespace_of(text)
            if prefix is None or namespace[: len(prefix)] == prefix:
                out[namespace] = int(count)
        return out

    def locate(self, ids: Sequence[str]) -> dict[str, Namespace]:
        found: dict[str, int] = {}
        with mapped_errors("cannot look up memory ids"):
            for chunk in chunks(list(ids)):
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


def open_storage(
    location: str | os.PathLike[str] | None,
    *,
    durable: bool = True,
    read_only: bool = False,
    notify: bool = False,
    record_cache_mb: float = 32.0,
) -> Storage:
    """The storage a location names: a ``postgresql://`` URL, a directory, or ``None`` for RAM.

    ``notify`` and ``record_cache_mb`` are a PostgreSQL store's
    (``HippoConfig.change_notifications``, ``HippoConfig.record_cache_mb``); ignored otherwise.

    Raises:
        MissingDependencyError: a PostgreSQL URL without the ``postgres`` extra installed.
    """
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        try:
            from ._postgres import PostgresStorage
        except ImportError as exc:
            raise MissingDependencyError(
                "a postgresql:// store needs psycopg: pip install 'hippo-memory[postgres]'"
            ) from exc
        if read_only:
            raise InvalidConfigError("read_only is for store directories: every process of a database store reads")
        storage: Storage = PostgresStorage(location, durable=durable, notify=notify, record_cache_mb=record_cache_mb)
        return storage
    return SQLiteStorage(location, durable=durable, read_only=read_only)
