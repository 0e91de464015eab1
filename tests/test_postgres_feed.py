"""The change feed: a listening engine learns of other processes' commits by LISTEN/NOTIFY, not by a query per recall.

``listener`` is opened with ``change_notifications=True``; ``writer`` is a plain engine
(every writer notifies). The catalogue queries of the listener are counted by
wrapping its storage's ``fetch``: while nothing changes it makes none, a commit is
recalled once its notification has arrived, and whenever the feed cannot vouch for
freshness (down, a foreign payload) the recall queries as it would without it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import _postgres_server
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory

pytest.importorskip("psycopg")

import psycopg

from hippo_memory._postgres import PostgresStorage
from hippo_memory._postgres_feed import CHANNEL, ChangeFeed

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False)


class Counted:
    """Counts one engine's freshness queries: the catalogue read of ``PostgresStorage.partition_seqs``."""

    def __init__(self, memory: HippoMemory) -> None:
        storage = memory.storage
        assert isinstance(storage, PostgresStorage)
        self.queries = 0
        fetch = storage.fetch

        def counted(what: str, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
            if sql.startswith("SELECT key, partition_id, seq FROM hippo_partitions"):
                self.queries += 1
            return fetch(what, sql, params)

        storage.fetch = counted  # type: ignore[method-assign]
        self.feed = storage._feed


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[HippoMemory, HippoMemory]]:
    writer = HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG)
    listener = HippoMemory(
        postgres_url, encoder=HashingEncoder(64), config=CONFIG.model_copy(update={"change_notifications": True})
    )
    try:
        yield writer, listener
    finally:
        listener.close()
        writer.close()


def _recalls(memory: HippoMemory, text: str, namespace: tuple[str, ...], *, within: float = 5.0) -> int:
    """Seconds-bounded wait until ``memory`` recalls ``text`` first under ``namespace``; the recalls it took."""
    deadline = time.monotonic() + within
    tries = 0
    while True:
        tries += 1
        hits = memory.recall(text, namespace=namespace, k=3).hits
        if hits and hits[0].memory.text == text:
            return tries
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} was not recalled within {within} s")
        time.sleep(0.005)


def _until(condition: Callable[[], bool], what: str, *, within: float = 5.0) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        time.sleep(0.005)


def test_a_listening_engine_checks_freshness_without_a_query_while_nothing_changes(
    engines: tuple[HippoMemory, HippoMemory],
) -> None:
    writer, listener = engines
    writer.remember_many([f"note {i} about the garden" for i in range(20)], namespace=("t", "a"))
    counted = Counted(listener)
    listener.recall("garden", namespace=("t", "a"))  # the first recall reads the catalogue
    assert counted.queries == 1
    queries = counted.queries
    for _ in range(10):
        listener.recall("garden", namespace=("t", "a"))
    assert counted.queries == queries
    assert counted.feed is not None and counted.feed.connects == 1


def test_another_process_commit_is_recalled_once_its_notification_arrived(
    engines: tuple[HippoMemory, HippoMemory],
) -> None:
    writer, listener = engines
    writer.remember("the cello lives in lisbon", namespace=("t", "a"))
    counted = Counted(listener)
    listener.recall("cello", namespace=("t", "a"))
    part = listener._partition(("t", "a"))
    assert part is not None
    queries = counted.queries
    writer.remember("the oboe moved to porto", namespace=("t", "a"))
    _recalls(listener, "the oboe moved to porto", ("t", "a"))
    assert part.catch_ups == {"incremental": 1, "full": 0}  # applied from the log, not reloaded
    assert counted.queries == queries  # the notification, not a query, said the partition changed


def test_a_partition_created_elsewhere_joins_a_prefix_recall(engines: tuple[HippoMemory, HippoMemory]) -> None:
    writer, listener = engines
    writer.remember("first tenant note", namespace=("t", "a"))
    listener.recall("note", namespace=("t",))
    writer.remember("second tenant greyhound", namespace=("t", "b"))  # a new partition under ("t",)
    _recalls(listener, "second tenant greyhound", ("t",))
    hits = listener.recall("tenant", namespace=("t",), k=5).hits
    assert {hit.memory.namespace for hit in hits} == {("t", "a"), ("t", "b")}


def test_own_writes_need_no_catch_up_and_no_query(engines: tuple[HippoMemory, HippoMemory]) -> None:
    _, listener = engines
    listener.remember("the train leaves at nine", namespace=("t", "own"))
    counted = Counted(listener)
    listener.recall("train", namespace=("t", "own"))
    queries = counted.queries
    for i in range(5):
        listener.remember(f"own note {i} pixel", namespace=("t", "own"))
        assert listener.recall(f"own note {i} pixel", namespace=("t", "own"), k=1).hits[0].memory.text == (
            f"own note {i} pixel"
        )
    part = listener._partition(("t", "own"))
    assert part is not None and part.catch_ups == {"incremental": 0, "full": 0}
    assert counted.queries == queries


def test_a_feed_that_is_down_falls_back_to_queries_and_reconnects(
    engines: tuple[HippoMemory, HippoMemory], postgres_url: str
) -> None:
    writer, listener = engines
    writer.remember("before the outage", namespace=("t", "a"))
    counted = Counted(listener)
    listener.recall("outage", namespace=("t", "a"))
    feed = counted.feed
    assert feed is not None and feed._conn is not None
    backend = feed._conn.info.backend_pid
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    _until(lambda: feed.poll() is None, "the feed noticed its connection was gone")  # its poll reads the closed socket
    queries = counted.queries
    writer.remember("written while the feed was down", namespace=("t", "a"))
    # No waiting: the feed reconnects with a new epoch, which forgot what it heard before,
    # so this recall queries and sees the commit at once.
    hits = listener.recall("written while the feed was down", namespace=("t", "a"), k=1).hits
    assert hits[0].memory.text == "written while the feed was down"
    assert counted.queries > queries
    assert feed.connects == 2 and feed._conn is not None and feed._conn.info.backend_pid != backend


def test_a_foreign_payload_on_the_channel_forces_a_query(
    engines: tuple[HippoMemory, HippoMemory], postgres_url: str
) -> None:
    writer, listener = engines
    writer.remember("cello", namespace=("t", "a"))
    counted = Counted(listener)
    listener.recall("cello", namespace=("t", "a"))  # the feed listens from here on
    feed = counted.feed
    assert feed is not None
    epoch = feed.epoch
    with psycopg.connect(postgres_url, autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "not ours"))
    _until(lambda: feed.poll() is not None and feed.epoch > epoch, "the foreign notification arrived")
    queries = counted.queries
    listener.recall("cello", namespace=("t", "a"))
    assert counted.queries == queries + 1


def test_a_round_trip_on_the_feed_delivers_every_earlier_commit(engines: tuple[HippoMemory, HippoMemory]) -> None:
    """With a round trip before every check, a commit is recalled by the very next recall (no waiting)."""
    writer, listener = engines
    writer.remember("first", namespace=("t", "a"))
    counted = Counted(listener)
    assert counted.feed is not None
    counted.feed._verify_s = 0.0
    listener.recall("first", namespace=("t", "a"))
    queries = counted.queries
    for i in range(10):
        text = f"commit {i} {uuid.uuid4().hex[:6]} lisbon"
        writer.remember(text, namespace=("t", "a"))
        assert listener.recall(text, namespace=("t", "a"), k=1).hits[0].memory.text == text
    assert counted.queries == queries


def test_the_feed_parses_its_payloads() -> None:
    feed = ChangeFeed(lambda: psycopg.connect("postgresql://invalid"), verify_s=5.0)
    feed._hear("7:12")
    feed._hear("7:3")  # an older notification never lowers what is known
    feed._hear("9:1")
    assert feed.seqs == {7: 12, 9: 1}
    epoch = feed.epoch
    feed._hear("new")
    feed._hear("garbage")
    assert feed.epoch == epoch + 2
    feed.remember(("t",), feed.epoch, {("t", "a"): (7, 10), ("t", "b"): (8, 4)})
    assert feed.catalogue(("t",), feed.epoch) == {("t", "a"): 12, ("t", "b"): 4}
    feed.committed([(8, 5)])
    assert feed.catalogue(("t",), feed.epoch) == {("t", "a"): 12, ("t", "b"): 5}
    assert feed.catalogue(("t",), feed.epoch - 1) is None
    feed.created()
    assert feed.catalogue(("t",), feed.epoch) is None
