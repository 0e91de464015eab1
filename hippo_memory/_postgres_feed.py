"""What other processes committed, pushed by the server: ``LISTEN hippo_changes`` on a connection of its own.

Every commit of a shared store notifies the channel :data:`CHANNEL` (``pg_notify``
in the transaction, so it is delivered at commit and never for a rollback): one
notification ``"pid:seq"`` per partition it changed, with the partition's new
change sequence; creating a partition notifies ``"new"``. Writers always notify.

A process opened with ``HippoConfig(change_notifications=True)`` listens
(:class:`ChangeFeed`) and answers the freshness check of a recall
(:meth:`PostgresStorage.partition_seqs`) from what it heard instead of a query:
the partition keys under a prefix are remembered with the feed's *epoch*, which
every created partition and every (re)connection of the feed advances, and each
key's sequence is the larger of the remembered one and the last one notified.

What this trades: a commit of another process becomes visible once its
notification has arrived (normally well under a millisecond after the commit),
not at the very instant the writer's ``COMMIT`` returns. Nothing is ever missed
for longer: a notification cannot be lost while the connection lives, and the
feed proves the connection alive with a round trip at least every ``verify_s``
seconds; when it is down, every check queries again until it is back (and the
epoch it comes back with forgets everything remembered before).

LISTEN needs a primary: on a hot standby the feed never opens and every check
queries, as without it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import psycopg

from ._types import Namespace

__all__ = ["CHANNEL", "CREATED", "Catalogue", "ChangeFeed", "payload"]

CHANNEL = "hippo_changes"
"""The channel every commit of a shared store notifies."""
CREATED = "new"
"""The payload of a partition's creation (the catalogue changed)."""
_RETRY_S = 5.0  # a feed that could not (re)connect tries again after this long
_REMEMBERED = 4096  # prefixes whose partition keys are remembered (least recently used dropped)


class Catalogue(NamedTuple):
    """The partitions under one prefix, as read by a query while the feed was at ``epoch``.

    Attributes:
        epoch: The feed's epoch before the query ran.
        partitions: ``key -> (partition_id, seq)`` in the query's (creation) order.
    """

    epoch: int
    partitions: dict[Namespace, tuple[int, int]]


def payload(pid: int, seq: int) -> str:
    """The notification of partition ``pid`` having committed sequence ``seq``."""
    return f"{pid}:{seq}"


class ChangeFeed:
    """Listens on :data:`CHANNEL` on a connection of its own; never blocks on the network but for its checks.

    Args:
        connect: Opens the feed's connection (autocommit).
        verify_s: Longest time between two round trips on the connection; each one
            proves it alive and delivers every notification committed before it.
        clock: Monotonic seconds (tests pass their own).

    Attributes:
        epoch: Advanced by every partition created and every (re)connection;
            a :class:`Catalogue` read at another epoch is not used.
        seqs: ``partition_id -> highest change sequence`` heard (or committed here).
        received: Notifications received so far.
        connects: Times the connection was (re)opened.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        *,
        verify_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._verify_s = verify_s
        self._clock = clock
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._verified = float("-inf")
        self._retry_at = float("-inf")
        self._catalogues: OrderedDict[Namespace | None, Catalogue] = OrderedDict()
        self.epoch = 0
        self.seqs: dict[int, int] = {}
        self.received = 0
        self.connects = 0

    # -- listening -----------------------------------------------------------------
    def poll(self) -> int | None:
        """Apply the notifications received so far; the current epoch, or ``None`` while the feed is down.

        Opens the connection on first use (and again ``_RETRY_S`` after a failure),
        and makes a round trip on it when the last one is ``verify_s`` old.
        """
        with self._lock:
            now = self._clock()
            if self._conn is None:
                if now < self._retry_at:
                    return None
                try:
                    self._open()
                except psycopg.Error:
                    self._retry_at = now + _RETRY_S
                    return None
                self._verified = now
                return self.epoch
            return self._listen(self._conn, now)

    def _listen(self, conn: psycopg.Connection[Any], now: float) -> int | None:
        """Drain ``conn``'s notifications (after a round trip when due); the epoch, or ``None`` if it failed."""
        try:
            if now - self._verified >= self._verify_s:
                conn.execute("SELECT 1")
                self._verified = now
            for note in conn.notifies(timeout=0):
                self._hear(note.payload)
        except psycopg.Error:
            self._drop(now)
            return None
        return self.epoch

    def _open(self) -> psycopg.Connection[Any]:
        conn = self._connect()
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.epoch += 1  # what was remembered may have changed unheard while the feed was down
        self.connects += 1
        return conn

    def _drop(self, now: float) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):  # closing a broken connection
                self._conn.close()
        self._conn = None
        self._retry_at = now  # reconnect at the next poll (then back off if that fails)

    def _hear(self, text: str) -> None:
        self.received += 1
        if text == CREATED:
            self.epoch += 1
            return
        pid, _, seq = text.partition(":")
        try:
            self._raise_seq(int(pid), int(seq))
        except ValueError:  # another application's payload on our channel: assume anything changed
            self.epoch += 1

    def _raise_seq(self, pid: int, seq: int) -> None:
        if seq > self.seqs.get(pid, -1):
            self.seqs[pid] = seq

    # -- what this process did itself ------------------------------------------------
    def committed(self, bumped: Iterable[tuple[int, int]]) -> None:
        """Record this process's own commit (``(partition_id, seq)`` pairs) before its notification returns."""
        with self._lock:
            for pid, seq in bumped:
                self._raise_seq(pid, seq)

    def created(self) -> None:
        """Record that this process created a partition (forget the remembered catalogues)."""
        with self._lock:
            self.epoch += 1

    # -- the catalogue -----------------------------------------------------------------
    def catalogue(self, prefix: Namespace | None, epoch: int) -> dict[Namespace, int] | None:
        """The partitions under ``prefix`` with their sequences, if remembered at ``epoch``; else ``None``."""
        with self._lock:
            found = self._catalogues.get(prefix)
            if found is None or found.epoch != epoch or epoch != self.epoch:
                return None
            self._catalogues.move_to_end(prefix)
            seqs = self.seqs
            return {key: max(seq, seqs.get(pid, seq)) for key, (pid, seq) in found.partitions.items()}

    def remember(self, prefix: Namespace | None, epoch: int, partitions: Mapping[Namespace, tuple[int, int]]) -> None:
        """Remember what a query read at ``epoch`` (the epoch polled before it ran)."""
        with self._lock:
            self._catalogues[prefix] = Catalogue(epoch, dict(partitions))
            self._catalogues.move_to_end(prefix)
            while len(self._catalogues) > _REMEMBERED:
                self._catalogues.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            self._drop(float("inf"))
            self._catalogues.clear()
