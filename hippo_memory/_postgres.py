"""The shared backend: every partition of one memory in a PostgreSQL database.

Several processes may open the same database and write to it at once
(``shared = True``): each write transaction of a partition first takes that
partition's ``pg_advisory_xact_lock`` (:meth:`PostgresPartition.lock_for_write`),
and every committed transaction bumps the change sequence of each partition it
touched, so a process holding a partition in RAM knows when to catch up.

Schema (:data:`~hippo_memory._postgres_schema.MIGRATIONS`, applied once by :meth:`PostgresStorage.setup` under a
``pg_advisory_lock`` and recorded in ``hippo_migrations``): every table but the
two small global ones (``hippo_meta``, the partition catalogue
``hippo_partitions``) starts its key with ``partition_id``, so the tables can be
distributed with Citus by partition (see docs/postgres.md). A partition's vectors
are ``bytea`` blocks of 256 float32 rows with a CRC-32 each (``hippo_vectors``,
keyed by a *generation*: compaction writes the next generation's blocks, switches
``hippo_partitions.generation`` in the transaction that remaps the rows, and
deletes the older generation after). Appended vectors are held in RAM and
written by the transaction that commits their row count, so there is no
uncommitted tail to clean up after a crash.

Transactions: a thread's :meth:`PostgresStorage.transaction` takes one connection
from the pool and holds it for the whole (possibly nested) transaction; reads
outside a transaction use a pooled autocommit connection. Every psycopg error
is mapped to the :class:`~hippo_memory.StoreError` tree by
:func:`~hippo_memory._postgres_io.mapped_errors`.

Needs the ``postgres`` extra (``pip install 'hippo-memory[postgres]'``).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from ._errors import MissingDependencyError, StoreClosedError, StoreCorruptedError, StoreVersionError
from ._postgres_feed import CHANNEL, CREATED, ChangeFeed
from ._postgres_io import CONSOLIDATION_LOCK_CLASS, ChangeSet, mapped_errors
from ._postgres_partition import PostgresPartition
from ._postgres_records import RecordCache
from ._postgres_schema import MIGRATIONS, Migration, apply_migrations
from ._types import Namespace
from ._validation import dumps

try:
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError as _missing:  # pragma: no cover - exercised without the extra
    raise MissingDependencyError(
        "a postgresql:// store needs psycopg and psycopg-pool: pip install 'hippo-memory[postgres]'"
    ) from _missing

__all__ = ["CHANGE_LOG_KEEP", "FORMAT_VERSION", "MIGRATIONS", "Migration", "PoolConfig", "PostgresStorage"]

FORMAT_VERSION = 2
"""The store format recorded in ``hippo_meta`` (the records' meaning, as in the SQLite store)."""
_APPLICATION = "hippo-memory"


class PoolConfig(TypedDict, total=False):
    """Settings of the connection pool (``psycopg_pool.ConnectionPool``).

    Attributes:
        min_size: Connections kept open (default 1).
        max_size: Most connections at once: one per thread inside a transaction,
            plus readers (default 10).
        timeout: Seconds to wait for a free connection before raising ``StoreError`` (default 30).
        kwargs: Extra ``psycopg.connect`` arguments (e.g. ``{"application_name": "agent-7"}``).
    """

    min_size: int
    max_size: int
    timeout: float
    kwargs: dict[str, Any]


def redact(url: str) -> str:
    """``url`` without its password (for messages)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def namespace_key(namespace: Namespace) -> str:
    """Canonical JSON of a namespace or partition key."""
    return dumps(list(namespace))


def prefix_range(prefix: Namespace) -> tuple[str, str]:
    """``[low, high)`` bounds (byte order) of the canonical JSON of every namespace extending ``prefix``.

    ``'["a","b"'`` starts ``["a","b"]`` and ``["a","b","c"]``; incrementing its last
    character gives the first string after them all (callers still check the labels).
    """
    low = namespace_key(prefix)[:-1]
    return low, low[:-1] + chr(ord(low[-1]) + 1)


CHANGE_LOG_KEEP = 1024
"""Commits of a partition kept in its change log (``hippo_changes``): a reader further behind reloads in full."""
_PRUNE_EVERY = 128  # a partition's log is pruned by every 128th commit, back to CHANGE_LOG_KEEP
_BUMP = (
    "WITH bumped AS (UPDATE hippo_partitions SET seq = seq + 1 WHERE partition_id = ANY(%s::bigint[]) "
    "RETURNING partition_id, seq) "
    "SELECT partition_id, seq, pg_notify(%s, partition_id || ':' || seq) IS NULL FROM bumped"
)
"""The change sequences' bump at commit, with one notification per partition (delivered at commit)."""
_LOG_CHANGES = (
    "INSERT INTO hippo_changes (partition_id, seq, memories, lifecycle, links, flags) "
    "VALUES (%s, %s, %s::bigint[], %s::bigint[], %s::bigint[], %s)"
)


class _Local(threading.local):
    conn: psycopg.Connection[Any] | None = None
    snapshot: psycopg.Connection[Any] | None = None
    depth: int = 0
    touched: dict[int, ChangeSet]

    def __init__(self) -> None:
        self.touched = {}


class PostgresStorage:
    """Every partition of one memory in a PostgreSQL database, shared by every process that opens it.

    Args:
        url: ``postgresql://user:password@host:port/database``.
        durable: ``False`` commits with ``synchronous_commit = off`` (a crash of the
            server may lose the last transactions, never corrupt the store).
        pool: Connection pool settings.
        record_cache_mb: RAM for the records and cues of recalled memories
            (:class:`~hippo_memory._postgres_records.RecordCache`); 0 turns it off.
        notify: Learn of other processes' commits from ``LISTEN``/``NOTIFY``
            (:class:`~hippo_memory._postgres_feed.ChangeFeed`, on a connection of its
            own) instead of one catalogue query per recall.

    Raises:
        StoreError: the server cannot be reached, refuses the login or has no such
            database (nothing was written).
        StoreCorruptedError: the database holds tables of those names that
            hippo-memory did not create (nothing was written).
        StoreVersionError: a newer hippo-memory migrated the database.
    """

    def __init__(
        self,
        url: str,
        *,
        durable: bool = True,
        pool: PoolConfig | None = None,
        notify: bool = False,
        record_cache_mb: float = 32.0,
    ) -> None:
        self.url = url
        self.records = RecordCache(int(record_cache_mb * 2**20))
        self.path: Path | None = None
        self.persistent = True
        self.shared = True
        self.read_only = False
        self.durable = durable
        self._closed = False
        self._local = _Local()
        self._partitions: dict[Namespace, PostgresPartition] = {}
        self._mutex = threading.RLock()
        config: PoolConfig = pool or {}
        self._connect_kwargs: dict[str, Any] = {"connect_timeout": 10, **config.get("kwargs", {})}
        if not durable:
            self._connect_kwargs["options"] = "-c synchronous_commit=off"
        self.setup()
        with mapped_errors(f"cannot open a connection pool to {redact(url)}"):
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url,
                min_size=config.get("min_size", 1),
                max_size=config.get("max_size", 10),
                timeout=config.get("timeout", 30.0),
                kwargs={**self._connect_kwargs, "autocommit": True},
                open=True,
                name="hippo-memory",
            )
        self._feed = ChangeFeed(self._listener) if notify else None

    def _listener(self) -> psycopg.Connection[Any]:
        """A connection of the change feed's own (autocommit, outside the pool)."""
        return psycopg.connect(self.url, autocommit=True, **self._connect_kwargs)

    @classmethod
    @contextlib.contextmanager
    def from_conn_string(
        cls,
        url: str,
        *,
        durable: bool = True,
        pool: PoolConfig | None = None,
        notify: bool = False,
        record_cache_mb: float = 32.0,
    ) -> Iterator[PostgresStorage]:
        """A storage on ``url``, closed when the block ends."""
        storage = cls(url, durable=durable, pool=pool, notify=notify, record_cache_mb=record_cache_mb)
        try:
            yield storage
        finally:
            storage.close()

    # -- schema ----------------------------------------------------------------------
    def setup(self) -> None:
        """Apply the :data:`MIGRATIONS` not yet applied, once, under an advisory lock (idempotent).

        Raises:
            StoreError: the server cannot be reached or refuses the login.
            StoreCorruptedError: tables named like hippo-memory's belong to something else.
            StoreVersionError: the database was migrated by a newer hippo-memory.
        """
        where = redact(self.url)
        with mapped_errors(f"cannot connect to PostgreSQL at {where}"):
            conn = psycopg.connect(self.url, autocommit=True, **self._connect_kwargs)
        with conn, mapped_errors(f"cannot set up the hippo-memory schema in {where}"):
            apply_migrations(conn, where)

    def migrate(self, dim: int, depth: int | None) -> None:
        """Nothing to do: :meth:`setup` applied the schema's migrations when the store opened."""

    def verify(self, dim: int) -> None:
        """Check that the live vector generation of every partition holds its committed rows; modifies nothing.

        Each partition's records and blocks are verified in full when it loads
        (:meth:`PostgresPartition.load_vectors`); this catches a lost generation early.

        Raises:
            StoreCorruptedError: a partition's live generation holds fewer rows than it commits.
        """
        rows = self.fetch(
            "cannot verify the store",
            "SELECT p.key, p.n_rows, COALESCE(v.held, 0) FROM hippo_partitions p LEFT JOIN ("
            "SELECT partition_id, generation, SUM(rows) AS held FROM hippo_vectors GROUP BY partition_id, generation"
            ") v ON v.partition_id = p.partition_id AND v.generation = p.generation WHERE p.n_rows > 0",
        )
        for key, n_rows, held in rows:
            if int(held) < int(n_rows):
                raise StoreCorruptedError(
                    f"partition {key}: its vector blocks hold {held} rows but {n_rows} are committed: the database "
                    "was damaged or edited. Nothing was modified."
                )

    # -- meta -------------------------------------------------------------------------
    def read_meta(self) -> dict[str, str]:
        return {
            str(k): str(v) for k, v in self.fetch("cannot read the store's meta", "SELECT key, value FROM hippo_meta")
        }

    def initialise(self, meta: Mapping[str, str]) -> None:
        """Write the settings of a new store (a concurrent first open keeps the first writer's)."""
        items = [("application", _APPLICATION), ("format_version", str(FORMAT_VERSION)), *meta.items()]
        with self.transaction():
            self.execute_many(
                "cannot write the store's meta",
                "INSERT INTO hippo_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                items,
            )

    def write_meta(self, items: Mapping[str, str]) -> None:
        with self.transaction():
            self.execute_many(
                "cannot write the store's meta",
                "INSERT INTO hippo_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(items.items()),
            )

    def check_meta(self, meta: Mapping[str, str]) -> None:
        if meta.get("application") != _APPLICATION:
            raise StoreCorruptedError(f"{redact(self.url)} is not a hippo-memory store")
        version = int(meta.get("format_version", "-1"))
        if version != FORMAT_VERSION:
            raise StoreVersionError(
                f"{redact(self.url)} uses store format {version}; this hippo-memory reads format {FORMAT_VERSION}."
            )

    def policy_counts(self) -> dict[str, int]:
        rows = self.fetch(
            "cannot read the write-policy counters", "SELECT value FROM hippo_meta WHERE key = 'write_policy_counts'"
        )
        return {str(k): int(v) for k, v in json.loads(rows[0][0]).items()} if rows else {}

    def set_policy_counts(self, counts: Mapping[str, int]) -> None:
        self.write_meta({"write_policy_counts": dumps(dict(counts))})

    # -- execution: the one place psycopg is called ------------------------------------
    @contextlib.contextmanager
    def _connection(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        """The thread's transaction connection, or a pooled autocommit one."""
        self._check_open()
        conn = self._local.conn or self._local.snapshot
        if conn is not None:
            yield conn
            return
        with mapped_errors(what), self._pool.connection() as pooled:
            yield pooled

    def fetch(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query (``what`` starts the message of any error)."""
        with self._connection(what) as conn, mapped_errors(what):
            return conn.execute(sql, params).fetchall()

    def execute(self, what: str, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        with self._connection(what) as conn, mapped_errors(what):
            conn.execute(sql, params)

    def execute_many(self, what: str, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows`` (pipelined by psycopg)."""
        rows = list(rows)
        if not rows:
            return
        with self._connection(what) as conn, mapped_errors(what), conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def copy(
        self, what: str, table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """``COPY table (columns) FROM STDIN`` in binary: the bulk path (vector blocks, links)."""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        with (
            self._connection(what) as conn,
            mapped_errors(what),
            conn.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)

    # -- transactions ----------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One connection's transaction for this thread (nested calls join it); rolled back on any exception.

        At commit, the change sequence of every partition written in it is bumped and
        what changed is logged under the new sequence (``hippo_changes``). The bump
        is an ``UPDATE`` of the partition's catalogue row, whose row lock is held
        until commit: a concurrent transaction of the same partition waits there for
        this one to commit and then takes the next number, so a partition's
        sequences commit in order and a reader that sees ``seq = n`` sees every log
        row up to ``n`` (none commits later with a lower number).
        """
        self._check_open()
        local = self._local
        if local.depth:
            local.depth += 1
            try:
                yield
            finally:
                local.depth -= 1
            return
        with mapped_errors("cannot start a transaction"):
            conn = self._pool.getconn()
        local.conn, local.depth, local.touched = conn, 1, {}
        bumped: list[tuple[int, int]] = []
        try:
            with mapped_errors("cannot commit"), conn.transaction():
                yield
                if local.touched:
                    bumped = self._log_changes(conn, local.touched)
            if bumped and self._feed is not None:
                self._feed.committed(bumped)
        finally:
            for pid in local.touched:  # committed or rolled back: what recall cached of it may be stale
                self.records.invalidate(pid)
            local.conn, local.depth, local.touched = None, 0, {}
            with contextlib.suppress(Exception):
                self._pool.putconn(conn)

    @staticmethod
    def _log_changes(conn: psycopg.Connection[Any], touched: Mapping[int, ChangeSet]) -> list[tuple[int, int]]:
        """Bump the sequence of every partition in ``touched``, log its changes and notify them (at the end of a transaction).

        Returns:
            ``(partition_id, seq)`` of each partition bumped.
        """
        rows = conn.execute(_BUMP, (sorted(touched), CHANNEL)).fetchall()
        bumped = [(int(pid), int(seq)) for pid, seq, _ in rows]
        with conn.cursor() as cursor:
            cursor.executemany(_LOG_CHANGES, [touched[pid].row(pid, seq) for pid, seq in bumped])
        for pid, seq in bumped:
            if seq % _PRUNE_EVERY == 0:
                conn.execute(
                    "DELETE FROM hippo_changes WHERE partition_id = %s AND seq <= %s",
                    (pid, seq - CHANGE_LOG_KEEP),
                )
        return bumped

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Run this thread's reads of the block in one ``REPEATABLE READ READ ONLY`` transaction.

        Every read sees the database as of the block's first statement (what a catch-up
        needs: a change sequence and the rows it covers, consistent), and nothing can
        be written, so it also runs on a read replica. Inside :meth:`transaction` (or
        another snapshot) it joins that instead.
        """
        self._check_open()
        local = self._local
        if local.conn is not None or local.snapshot is not None:
            yield
            return
        with mapped_errors("cannot start a read transaction"):
            conn = self._pool.getconn()
        try:
            with mapped_errors("cannot start a read transaction"):
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            local.snapshot = conn
            yield
        finally:
            local.snapshot = None
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                self._pool.putconn(conn)

    @contextlib.contextmanager
    def consolidation_lock(self, pid: int) -> Iterator[bool]:
        """Try partition ``pid``'s consolidation lock and hold it for the block; never waits.

        ``pg_try_advisory_xact_lock`` in a transaction of a pooled connection of its own,
        kept open (idle, no snapshot held) until the block ends: the lock goes with the
        transaction, so a killed process or a dropped connection never leaves it held,
        and it works through PgBouncer in transaction mode. Its key is not the write
        lock's, so writers and recall never wait for it.

        Yields:
            Whether this process holds the lock (``False``: another one is consolidating).
        """
        self._check_open()
        what = "cannot take the consolidation lock"
        with mapped_errors(what):
            conn = self._pool.getconn()
        try:
            with mapped_errors(what):
                conn.execute("BEGIN")
                row = conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", (CONSOLIDATION_LOCK_CLASS, pid)
                ).fetchone()
            yield bool(row and row[0])
        finally:
            # Ending the transaction releases the lock; a lost connection released it already,
            # and the pass's own transactions have committed or rolled back by now.
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                self._pool.putconn(conn)

    def in_transaction(self) -> bool:
        """Whether this thread is inside :meth:`transaction`."""
        return self._local.depth > 0

    def touch(self, pid: int) -> ChangeSet:
        """Count partition ``pid`` as changed by this thread's transaction; what changed goes into the returned set."""
        touched = self._local.touched
        found = touched.get(pid)
        if found is None:
            found = touched[pid] = ChangeSet()
        return found

    # -- partitions -------------------------------------------------------------------
    def partition(self, key: Namespace, *, create: bool = False) -> PostgresPartition | None:
        """The storage of partition ``key``; created (committed at once, outside any transaction) with ``create``."""
        self._check_open()
        with self._mutex:
            found = self._partitions.get(key)
            if found is not None:
                return found
            text = namespace_key(key)
            rows = self.fetch(
                "cannot read the partition catalogue",
                "SELECT partition_id FROM hippo_partitions WHERE key = %s",
                (text,),
            )
            if not rows:
                if not create:
                    return None
                # On a connection of its own: a partition never disappears with a rolled-back write.
                with mapped_errors("cannot create a partition"), self._pool.connection() as conn:
                    rows = conn.execute(
                        "WITH made AS (INSERT INTO hippo_partitions (key) VALUES (%s) "
                        "ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING partition_id) "
                        "SELECT partition_id, pg_notify(%s, %s) IS NULL FROM made",
                        (text, CHANNEL, CREATED),
                    ).fetchall()
                if self._feed is not None:
                    self._feed.created()
            found = PostgresPartition(self, int(rows[0][0]), key)
            self._partitions[key] = found
            return found

    def forget_partition(self, key: Namespace) -> None:
        """Drop the cached handle of a partition; the next :meth:`partition` reopens it."""
        with self._mutex:
            part = self._partitions.pop(key, None)
            if part is not None:
                part.close()

    def partition_keys(self, prefix: Namespace | None = None) -> list[Namespace]:
        """Keys under ``prefix`` and the keys ``prefix`` extends, in creation order."""
        return list(self.partition_seqs(prefix))

    def partition_seqs(self, prefix: Namespace | None = None) -> dict[Namespace, int]:
        """:meth:`partition_keys` with each partition's change sequence (the freshness check of a recall).

        One query; with the change feed (``notify``), none while it has heard of no
        partition created since the last query for ``prefix``.
        """
        feed = self._feed
        epoch = feed.poll() if feed is not None else None
        if feed is not None and epoch is not None:
            heard = feed.catalogue(prefix, epoch)
            if heard is not None:
                return heard
        if prefix is None:
            rows = self.fetch(
                "cannot read the partition catalogue",
                "SELECT key, partition_id, seq FROM hippo_partitions ORDER BY partition_id",
            )
        else:
            low, high = prefix_range(prefix)
            shallower = [namespace_key(prefix[:n]) for n in range(1, len(prefix))]
            rows = self.fetch(
                "cannot read the partition catalogue",
                "SELECT key, partition_id, seq FROM hippo_partitions "
                "WHERE (key >= %s AND key < %s) OR key = ANY(%s::text[]) ORDER BY partition_id",
                (low, high, shallower),
            )
        found = {tuple(json.loads(key)): (int(pid), int(seq)) for key, pid, seq in rows}
        if prefix is not None:
            found = {
                key: row for key, row in found.items() if key[: len(prefix)] == prefix or prefix[: len(key)] == key
            }
        if feed is not None and epoch is not None:
            feed.remember(prefix, epoch, found)
        return {key: seq for key, (_, seq) in found.items()}

    def namespace_counts(self, prefix: Namespace | None = None) -> dict[Namespace, int]:
        query = "SELECT namespace, count FROM hippo_namespaces WHERE count > 0"
        args: tuple[str, ...] = ()
        if prefix is not None:
            query += ' AND namespace COLLATE "C" >= %s AND namespace COLLATE "C" < %s'
            args = prefix_range(prefix)
        out: dict[Namespace, int] = {}
        for text, count in self.fetch("cannot read the namespace catalogue", query, args):
            namespace = tuple(json.loads(text))
            if prefix is None or namespace[: len(prefix)] == prefix:
                out[namespace] = out.get(namespace, 0) + int(count)
        return out

    def locate(self, ids: Sequence[str]) -> dict[str, Namespace]:
        id_list = [str(i) for i in ids]
        if not id_list:
            return {}
        rows = self.fetch(
            "cannot look up memory ids",
            "SELECT f.id, p.key FROM ("
            "SELECT id, partition_id, 0 AS pref FROM hippo_memories WHERE id = ANY(%s::text[]) UNION ALL "
            "SELECT id, partition_id, 1 FROM hippo_aliases WHERE id = ANY(%s::text[])"
            ") f JOIN hippo_partitions p ON p.partition_id = f.partition_id ORDER BY f.pref DESC",
            (id_list, id_list),
        )
        return {str(id_): tuple(json.loads(key)) for id_, key in rows}  # memories (pref 0) win: they come last

    # -- closing ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this memory has been closed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for part in self._partitions.values():
            part.close()
        self._partitions.clear()
        if self._feed is not None:
            self._feed.close()
        self.records.clear()
        with contextlib.suppress(Exception):
            self._pool.close()
