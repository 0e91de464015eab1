"""The record cache: a warm recall of memories recalled before reads nothing, and never returns a stale record.

Every change drops the partition's cached records: an update or forget by this
engine (at commit, and at rollback), an update by another engine (when this one
catches up), a reload. The statements that read records are counted by wrapping
the storage's ``fetch``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import _postgres_server
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory

pytest.importorskip("psycopg")

from hippo_memory._postgres import PostgresStorage
from hippo_memory._postgres_records import RecordCache, entry_bytes
from hippo_memory._storage import CueRecord, MemoryRecord

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False)
NS = ("t", "a")


class Reads:
    """Counts the statements of one engine that read records for recall."""

    def __init__(self, memory: HippoMemory) -> None:
        storage = memory.storage
        assert isinstance(storage, PostgresStorage)
        self.count = 0
        fetch = storage.fetch

        def counted(what: str, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
            if what == "cannot read memories" and "LEFT JOIN LATERAL" in sql:
                self.count += 1
            return fetch(what, sql, params)

        storage.fetch = counted  # type: ignore[method-assign]
        self.cache = storage.records


def _engine(url: str, **config: Any) -> HippoMemory:
    return HippoMemory(url, encoder=HashingEncoder(64), config=CONFIG.model_copy(update=config))


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[HippoMemory, HippoMemory]]:
    writer, reader = _engine(postgres_url), _engine(postgres_url)
    try:
        yield writer, reader
    finally:
        reader.close()
        writer.close()


def _top(memory: HippoMemory, query: str) -> str:
    hits = memory.recall(query, namespace=NS, k=1).hits
    return hits[0].memory.text if hits else ""


def test_a_repeated_recall_reads_no_record(engines: tuple[HippoMemory, HippoMemory]) -> None:
    writer, reader = engines
    writer.remember_many([f"note {i} about the cello" for i in range(10)], namespace=NS)
    reads = Reads(reader)
    first = reader.recall("cello", namespace=NS, k=5)
    assert reads.count == 1
    again = reader.recall("cello", namespace=NS, k=5)
    assert reads.count == 1 and reads.cache.hits >= 5
    assert [(h.memory.id, h.memory.text, h.memory.cues) for h in again.hits] == [
        (h.memory.id, h.memory.text, h.memory.cues) for h in first.hits
    ]


def test_another_engines_update_is_never_served_stale(engines: tuple[HippoMemory, HippoMemory]) -> None:
    writer, reader = engines
    ids = writer.remember_many(["the oboe is in porto", "the cello is in lisbon"], namespace=NS)
    assert _top(reader, "oboe porto") == "the oboe is in porto"
    writer.update(ids[0], metadata={"checked": True})
    hit = reader.recall("oboe porto", namespace=NS, k=1).hits[0]
    assert hit.memory.metadata == {"checked": True}  # caught up, so the cached record was dropped
    writer.update(ids[0], text="the oboe moved to paris")
    assert _top(reader, "oboe paris") == "the oboe moved to paris"


def test_own_updates_and_forgets_drop_the_cached_records(postgres_url: str) -> None:
    with _engine(postgres_url) as memory:
        first, second = memory.remember_many(["a greyhound named pixel", "a garden by the river"], namespace=NS)
        assert _top(memory, "greyhound pixel") == "a greyhound named pixel"
        memory.update(first, metadata={"breed": "greyhound"})
        assert memory.recall("greyhound pixel", namespace=NS, k=1).hits[0].memory.metadata == {"breed": "greyhound"}
        memory.forget(first)
        assert [hit.memory.id for hit in memory.recall("greyhound pixel", namespace=NS, k=5).hits] == [second]


def test_a_rolled_back_write_keeps_nothing_it_read(postgres_url: str) -> None:
    with _engine(postgres_url) as memory:
        (mid,) = memory.remember_many(["the train leaves at nine"], namespace=NS)
        assert _top(memory, "train nine") == "the train leaves at nine"
        storage = memory.storage
        assert isinstance(storage, PostgresStorage)
        part = memory._partition(NS)
        assert part is not None
        slot = part.id_slot[mid]
        with pytest.raises(RuntimeError), storage.transaction():
            part.store.update_memory(slot, metadata='{"x": 1}', timestamp=None, updated_at=0.0)
            # read inside the transaction: its uncommitted row, never kept
            assert part.store.memories_with_cues([slot])[slot][0].metadata == '{"x": 1}'
            raise RuntimeError("abort")
        assert part.store.memories_with_cues([slot])[slot][0].metadata == "{}"


def test_a_zero_budget_caches_nothing(postgres_url: str) -> None:
    with _engine(postgres_url, record_cache_mb=0) as memory:
        memory.remember_many(["cello", "oboe"], namespace=NS)
        reads = Reads(memory)
        for _ in range(3):
            memory.recall("cello", namespace=NS, k=2)
        assert reads.count == 3 and reads.cache.nbytes == 0


def _entry(slot: int, text: str) -> tuple[MemoryRecord, list[CueRecord]]:
    record = MemoryRecord(slot, f"id{slot}", '["t"]', text, "{}", None, 0.0, 0.0, None, b"", 0, 1)
    return record, [CueRecord(slot, slot, "text", text)]


def test_the_cache_keeps_no_read_that_raced_a_change_and_stays_in_budget() -> None:
    cache = RecordCache(3 * entry_bytes(_entry(0, "x" * 10)))
    generation = cache.generation(1)
    cache.invalidate(1)  # a commit between the read's start and its put
    cache.put(1, generation, {0: _entry(0, "old")})
    assert cache.get(1, [0]) == ({}, [0])
    cache.put(1, cache.generation(1), {s: _entry(s, "x" * 10) for s in range(5)})
    found, missing = cache.get(1, list(range(5)))
    assert sorted(found) == [2, 3, 4] and missing == [0, 1]  # least recently used out first
    assert cache.nbytes <= 3 * entry_bytes(_entry(0, "x" * 10))
    cache.put(2, cache.generation(2), {0: _entry(0, "y")})
    cache.invalidate(1)
    assert cache.get(1, [2, 3, 4])[0] == {} and sorted(cache.get(2, [0])[0]) == [0]


def test_a_hit_forgotten_by_another_process_after_the_freshness_check_is_left_out(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit lands between a recall's freshness check and its record fetch: that hit is dropped, not a crash."""
    with _engine(postgres_url) as writer, _engine(postgres_url, record_cache_mb=0) as reader:
        gone, kept = writer.remember_many(["the oboe is in porto", "the oboe case is in paris"], namespace=NS)
        assert {hit.memory.id for hit in reader.recall("oboe", namespace=NS, k=2).hits} == {gone, kept}
        storage = reader.storage
        assert isinstance(storage, PostgresStorage)
        before = storage.partition_seqs(NS)
        writer.forget(gone)
        monkeypatch.setattr(storage, "partition_seqs", lambda prefix=None: dict(before))  # the check saw no change
        hits = reader.recall("oboe", namespace=NS, k=2).hits
        assert [(hit.memory.id, hit.rank) for hit in hits] == [(kept, 0)]
        monkeypatch.undo()
        assert [hit.memory.id for hit in reader.recall("oboe", namespace=NS, k=2).hits] == [kept]
