"""What the PostgreSQL backend's modules share: the error boundary, the storage they run statements through, row decoding.

Every psycopg or pool error of the backend is mapped to the
:class:`~hippo_memory.StoreError` tree by :func:`mapped_errors`, the one boundary;
every statement runs through an :class:`Owner` (the
:class:`~hippo_memory._postgres.PostgresStorage`), the one place psycopg is called.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ._errors import InvalidInputError, StoreCorruptedError, StoreError, StoreLockedError
from ._postgres_records import RecordCache
from ._storage import LifecycleRecord, MemoryRecord

__all__ = [
    "CHANGED_ALIASES",
    "CHANGED_ALL_LINKS",
    "CHANGED_ROWS",
    "CONSOLIDATION_LOCK_CLASS",
    "LIFECYCLE_COLUMNS",
    "LOCK_CLASS",
    "MEMORY_COLUMNS",
    "ChangeSet",
    "Owner",
    "lifecycle_record",
    "mapped_errors",
    "memory_record",
]

LOCK_CLASS = 0x68697070
"""First key of hippo-memory's two-key advisory locks ('hipp'); the second is the partition id."""
CONSOLIDATION_LOCK_CLASS = 0x68697071
"""First key of the per-partition consolidation locks ('hipq'; a key of its own, so it never blocks a write)."""

CHANGED_ALIASES = 1
"""``hippo_changes.flags``: the partition's aliases changed (a reader re-reads them all)."""
CHANGED_ALL_LINKS = 2
"""``hippo_changes.flags``: every link of the partition was replaced (a reader re-reads them all)."""
CHANGED_ROWS = 4
"""``hippo_changes.flags``: vector rows were renumbered or the generation switched (a reader reloads in full)."""


@dataclasses.dataclass(slots=True)
class ChangeSet:
    """What one transaction changed in one partition, logged in ``hippo_changes`` at commit.

    Attributes:
        memories: Slots whose record, cues or vector rows changed (or that were deleted).
        lifecycle: Slots whose lifecycle row changed.
        links: Slots whose outgoing links changed.
        flags: :data:`CHANGED_ALIASES` | :data:`CHANGED_ALL_LINKS` | :data:`CHANGED_ROWS`.
    """

    memories: set[int] = dataclasses.field(default_factory=set)
    lifecycle: set[int] = dataclasses.field(default_factory=set)
    links: set[int] = dataclasses.field(default_factory=set)
    flags: int = 0

    def row(self, pid: int, seq: int) -> tuple[int, int, list[int], list[int], list[int], int]:
        """The ``hippo_changes`` row of this change set, committed as ``seq`` of partition ``pid``."""
        return pid, seq, sorted(self.memories), sorted(self.lifecycle), sorted(self.links), self.flags


MEMORY_COLUMNS = (
    "slot, id, namespace, text, metadata, timestamp, created_at, updated_at, session, code, row_start, row_count"
)
"""The columns of ``hippo_memories`` a :class:`MemoryRecord` holds, in its field order."""
LIFECYCLE_COLUMNS = (
    "slot, salience, novelty, learned_at, reinforced_at, stability, access_count, last_access, "
    "replay_count, expires_at, superseded_by, merged_from"
)
"""The columns of ``hippo_lifecycle`` a :class:`LifecycleRecord` holds, in its field order."""


@contextlib.contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Map psycopg and pool errors to the :class:`StoreError` tree (the backend's one boundary).

    A duplicate key becomes :class:`InvalidInputError` (a memory id that exists);
    lock timeouts, deadlocks and serialisation failures :class:`StoreLockedError`;
    a table of unexpected shape :class:`StoreCorruptedError`; anything else, a lost
    connection included, :class:`StoreError`. Errors of the project pass through.
    """
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        import psycopg
        from psycopg import errors

        try:
            from psycopg_pool import PoolTimeout
        except ImportError:  # pragma: no cover - the extra installs both
            PoolTimeout = ()  # type: ignore[assignment,misc]

        detail = _one_line(exc)
        if isinstance(exc, errors.UniqueViolation):
            raise InvalidInputError(f"{what}: a record with this key already exists: {detail}") from exc
        if isinstance(
            exc,
            errors.LockNotAvailable | errors.DeadlockDetected | errors.SerializationFailure | errors.QueryCanceled,
        ):
            raise StoreLockedError(f"{what}: {detail}") from exc
        if isinstance(
            exc, errors.UndefinedTable | errors.UndefinedColumn | errors.DuplicateTable | errors.DatatypeMismatch
        ):
            raise StoreCorruptedError(f"{what}: the database does not hold hippo-memory's schema: {detail}") from exc
        if isinstance(exc, PoolTimeout):
            raise StoreError(f"{what}: no database connection became available: {detail}") from exc
        if isinstance(exc, psycopg.Error):
            raise StoreError(f"{what}: {detail}") from exc
        raise


def _one_line(exc: BaseException) -> str:
    """The driver's message on one line (libpq adds hints on lines of their own)."""
    return " ".join(str(exc).split())


class Owner(Protocol):
    """What a partition needs of the storage that opened it (:class:`~hippo_memory._postgres.PostgresStorage`)."""

    records: RecordCache

    def fetch(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def execute(self, what: str, sql: str, params: Sequence[Any] = ()) -> None: ...
    def execute_many(self, what: str, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def copy(
        self, what: str, table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def snapshot(self) -> AbstractContextManager[None]: ...
    def in_transaction(self) -> bool: ...
    def consolidation_lock(self, pid: int) -> AbstractContextManager[bool]: ...
    def touch(self, pid: int) -> ChangeSet: ...
    def set_policy_counts(self, counts: Mapping[str, int]) -> None: ...


def memory_record(row: tuple[Any, ...]) -> MemoryRecord:
    """A ``hippo_memories`` row (:data:`MEMORY_COLUMNS`) as a :class:`MemoryRecord`."""
    return MemoryRecord(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        bytes(row[9]),
        int(row[10]),
        int(row[11]),
    )


def lifecycle_record(row: tuple[Any, ...]) -> LifecycleRecord:
    """A ``hippo_lifecycle`` row (:data:`LIFECYCLE_COLUMNS`) as a :class:`LifecycleRecord`."""
    return LifecycleRecord(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        int(row[6]),
        row[7],
        int(row[8]),
        row[9],
        row[10],
        row[11],
    )
