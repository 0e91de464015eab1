"""A write that races another process's commit catches up in place instead of reloading the partition.

Engine ``b`` holds a partition; engine ``a`` commits to it in the window between
``b``'s last look at the partition (the check every call starts with) and ``b``
taking the partition's write lock (:func:`_race`). A write that reads the state
under the lock (:meth:`Partition.writing`: remember, update, forget, associate)
catches up there; one whose transaction finds the state stale
(:meth:`Partition.transaction`: supersede, forget_before, consolidate) raises
:class:`StalePartition`, and the engine catches the partition up and retries.
Either way: applied from the change log, not reloaded, and the state equals a fresh
load. A full reload stays where it is needed: the log cannot serve (another process
compacted), a commit failed after the state was written for it, or the catch-up
itself failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import _postgres_server
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, MemoryNotFoundError, StoreError

pytest.importorskip("psycopg")

import psycopg
import test_postgres_catch_up
from test_postgres_catch_up import _assert_like_a_fresh_load, _held

from hippo_memory._engine import Engine
from hippo_memory._partition import Partition

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False, partition_depth=1, speaker_key="speaker")
TENANT = ("t1",)
NS = ("t1", "a")
TEXTS = [
    "Alice lives in Lisbon.",
    "Bob plays the cello.",
    "Carol adopted a greyhound.",
    "Dana painted the garden fence.",
    "Alice started learning the oboe.",
    "Bob moved to Berlin for a new job.",
]


def _engine(url: str) -> HippoMemory:
    return HippoMemory(url, encoder=HashingEncoder(64), config=CONFIG)


@contextmanager
def _race(part: Partition, commit: Callable[[], Any], *, times: int = 1, after: int = 0) -> Iterator[list[int]]:
    """Run ``commit`` (another engine's write) just before ``part``'s next ``times`` write locks.

    The commit lands after this process last compared the partition with the
    database and before it holds the lock: the window a real race hits. ``after``:
    write locks to let pass first.

    Yields:
        A list that gains one entry per commit run.
    """
    store = part.store
    original = store.lock_for_write
    fired: list[int] = []
    calls = iter(range(10**9))

    def lock_for_write() -> None:
        if next(calls) >= after and len(fired) < times:
            fired.append(1)
            commit()
        original()

    store.lock_for_write = lock_for_write  # type: ignore[method-assign]
    try:
        yield fired
    finally:
        del store.lock_for_write


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[HippoMemory, HippoMemory, list[str]]]:
    """``a`` wrote six memories of one partition; ``b`` holds that partition, loaded and current."""
    with _engine(postgres_url) as a, _engine(postgres_url) as b:
        ids = a.remember_many(TEXTS, namespace=NS, session="s1")
        _held(b)
        yield a, b, ids


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The keys of the partitions the engine caught up after a :class:`StalePartition` (one per retry)."""
    seen: list[tuple[str, ...]] = []
    refresh = Engine._refresh

    def spy(self: Engine, key: tuple[str, ...]) -> None:
        seen.append(key)
        refresh(self, key)

    monkeypatch.setattr(Engine, "_refresh", spy)
    return seen


def _applied(part: Partition, b: HippoMemory, n: int = 1) -> None:
    """``part`` is still the partition ``b`` holds and caught up ``n`` times from the log, never reloaded."""
    assert _held(b) is part
    assert part.catch_ups == {"incremental": n, "full": 0}, part.last_reload


# ---------------------------------------------------------------------------- writes that catch up under the lock
def test_remember_after_a_racing_commit_catches_up(engines: Any, retries: list[Any], postgres_url: str) -> None:
    a, b, _ = engines
    part = _held(b)
    with _race(part, lambda: a.remember("Carol visited Porto.", namespace=NS, session="s1")) as fired:
        mine = b.remember("Dana bought a train ticket to Paris.", namespace=NS, session="s1")
    assert fired and not retries
    _applied(part, b)
    assert [m.text for m in b.list(TENANT)][-2:] == ["Carol visited Porto.", "Dana bought a train ticket to Paris."]
    assert b.recall("train ticket to Paris", namespace=TENANT, k=1)[0].memory.id == mine
    _assert_like_a_fresh_load(postgres_url, part)


@pytest.mark.parametrize("change", ["metadata", "text"])
def test_update_after_a_racing_commit_catches_up(
    engines: Any, retries: list[Any], postgres_url: str, change: str
) -> None:
    a, b, ids = engines
    part = _held(b)
    with _race(part, lambda: a.remember("Carol visited Porto.", namespace=NS)) as fired:
        if change == "metadata":
            updated = b.update(ids[1], metadata={"speaker": "Bob"})
        else:
            updated = b.update(ids[1], text="Bob plays the double bass.")
    assert fired and not retries  # the memory itself did not change: nothing to read again
    _applied(part, b)
    if change == "metadata":
        assert updated.metadata == {"speaker": "Bob"} and part.speakers == ["bob"]
    else:
        assert b.recall("double bass", namespace=TENANT, k=1)[0].memory.id == ids[1]
    assert "Carol visited Porto." in [m.text for m in b.list(TENANT)]
    _assert_like_a_fresh_load(postgres_url, part)


@pytest.mark.parametrize("change", ["metadata", "text"])
def test_update_reads_the_memory_again_when_the_racing_commit_changed_it(
    engines: Any, retries: list[Any], postgres_url: str, change: str
) -> None:
    """The update keeps what it does not change from the memory as it was read: read after the racing commit."""
    a, b, ids = engines
    part = _held(b)
    with _race(part, lambda: a.update(ids[0], text="Alice moved to Porto.", metadata={"speaker": "Alice"})):
        if change == "metadata":
            updated = b.update(ids[0], timestamp=1_700_000_000)
        else:
            updated = b.update(ids[0], cues=["where Alice lives"])
    assert retries == [TENANT]  # caught up under the lock, then read again (no second catch-up)
    _applied(part, b)
    assert updated.text == "Alice moved to Porto." and updated.metadata == {"speaker": "Alice"}
    if change == "metadata":
        assert updated.timestamp is not None and updated.timestamp.timestamp() == 1_700_000_000
    else:
        assert ("where Alice lives", "explicit") in [(c.text, c.kind) for c in updated.cues]
    assert b.get(ids[0]).metadata == updated.metadata
    _assert_like_a_fresh_load(postgres_url, part)


def test_forget_after_a_racing_commit_catches_up(engines: Any, retries: list[Any], postgres_url: str) -> None:
    a, b, ids = engines
    part = _held(b)
    with _race(part, lambda: a.forget(ids[2])):
        assert b.forget(ids[3]) == 1
    assert not retries
    _applied(part, b)
    assert {ids[2], ids[3]}.isdisjoint(part.id_slot) and len(part.id_slot) == 4
    # Both forget the same memory: the second finds it gone once caught up, and nothing changes.
    with _race(part, lambda: a.forget(ids[4])), pytest.raises(MemoryNotFoundError):
        b.forget([ids[4], ids[5]])
    _applied(part, b, 2)
    assert ids[5] in part.id_slot
    _assert_like_a_fresh_load(postgres_url, part)


def test_associate_adds_to_the_strength_committed_meanwhile(
    engines: Any, retries: list[Any], postgres_url: str
) -> None:
    a, b, ids = engines
    part = _held(b)
    with _race(part, lambda: a.associate(ids[0], ids[3], strength=1.0)):
        b.associate(ids[0], ids[3], strength=1.0)
    assert not retries
    _applied(part, b)
    s, d = part.id_slot[ids[0]], part.id_slot[ids[3]]
    assert part.assoc.links[s][d] == pytest.approx(2.0)
    _assert_like_a_fresh_load(postgres_url, part)


# ---------------------------------------------------------------------------- writes that catch up and retry
@pytest.mark.parametrize("op", ["supersede", "forget_before", "consolidate"])
def test_a_stale_transaction_catches_up_and_retries(
    engines: Any, retries: list[Any], postgres_url: str, op: str
) -> None:
    a, b, ids = engines
    part = _held(b)
    with _race(part, lambda: a.remember("Carol visited Porto.", namespace=NS)) as fired:
        if op == "supersede":
            b.supersede(ids[0], ids[4])
        elif op == "forget_before":
            assert b.forget_before(4_000_000_000, namespace=NS) == 7  # the racing memory too: the retry sees it
        else:
            b.consolidate(compact=False)
    assert fired and retries == [TENANT]
    _applied(part, b)
    if op == "supersede":
        assert b.get(ids[0]).superseded_by == ids[4]
        assert b.recall("Alice lives in Lisbon", namespace=TENANT, k=1)[0].memory.id != ids[0]
    elif op == "forget_before":
        assert not part.id_slot
    else:
        assert part.store.consolidated_at() is not None
    if op != "forget_before":
        assert "Carol visited Porto." in [m.text for m in b.list(TENANT)]
    _assert_like_a_fresh_load(postgres_url, part)


def test_retries_give_up_when_other_processes_keep_committing(engines: Any, retries: list[Any]) -> None:
    a, b, ids = engines
    part = _held(b)
    n = iter(range(100))
    with (
        _race(part, lambda: a.remember(f"note {next(n)}", namespace=NS), times=100),
        pytest.raises(StoreError, match="gave up"),
    ):
        b.supersede(ids[0], ids[4])
    assert len(retries) == 5 and part.catch_ups == {"incremental": 5, "full": 0}
    b.supersede(ids[0], ids[4])  # the race over, it goes through
    assert b.get(ids[0]).superseded_by == ids[4]


# ---------------------------------------------------------------------------- where a full reload is still needed
def test_a_write_that_raced_a_compaction_reloads_in_full(engines: Any, retries: list[Any], postgres_url: str) -> None:
    a, b, ids = engines
    part = _held(b)

    def compact() -> None:
        a.forget(ids[1:3])
        a.consolidate(compact=True, merge=False, decay=False, replay=False)

    with _race(part, compact):
        b.supersede(ids[0], ids[4])
    assert retries == [TENANT] and _held(b) is part
    assert part.catch_ups == {"incremental": 0, "full": 1} and "compact" in (part.last_reload or "")
    assert b.get(ids[0]).superseded_by == ids[4] and len(part.id_slot) == 4
    _assert_like_a_fresh_load(postgres_url, part)


def test_a_commit_that_fails_after_the_state_was_written_forces_a_reload(
    engines: Any, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write lock's block ended (the state counts the transaction's bump), then the commit failed."""
    _, b, _ = engines
    part = _held(b)

    def fail(*args: Any) -> Any:
        raise psycopg.OperationalError("the connection broke at commit")

    monkeypatch.setattr(b.storage, "_log_changes", fail)
    with pytest.raises(StoreError):
        b.remember("Dana bought a train ticket to Paris.", namespace=NS)
    monkeypatch.undo()
    assert _held(b) is part and part.catch_ups == {"incremental": 0, "full": 1}
    assert "Dana bought a train ticket to Paris." not in [m.text for m in b.list(TENANT)]
    _assert_like_a_fresh_load(postgres_url, part)


def test_a_catch_up_that_fails_drops_the_partition_and_the_retry_loads_it_afresh(
    engines: Any, retries: list[Any], postgres_url: str
) -> None:
    a, b, ids = engines
    part = _held(b)

    def broken(*args: Any) -> Any:
        raise StoreError("the change log could not be read")

    part.store.changes_since = broken  # type: ignore[method-assign]
    with _race(part, lambda: a.remember("Carol visited Porto.", namespace=NS)):
        b.supersede(ids[0], ids[4])
    assert retries == [TENANT] and part.closed
    fresh = _held(b)
    assert fresh is not part and fresh.catch_ups == {"incremental": 0, "full": 0}
    assert b.get(ids[0]).superseded_by == ids[4]
    _assert_like_a_fresh_load(postgres_url, fresh)


def test_a_forget_whose_reclaim_races_a_commit_is_done_once(postgres_url: str, retries: list[Any]) -> None:
    """The forget committed; the compaction it triggers finds the partition stale: skipped, the forget stands."""
    with _engine(postgres_url) as a, _engine(postgres_url) as b:
        ids = a.remember_many([f"note {i} about topic {i % 7}" for i in range(600)], namespace=NS)
        part = _held(b)
        assert part.index.n_rows >= 1024
        with _race(part, lambda: a.remember("Carol visited Porto.", namespace=NS), after=1) as fired:
            assert b.forget(ids[:450]) == 450
        assert fired and retries == [TENANT]
        _applied(part, b)
        assert len(part.id_slot) == 151 and part.index.n_rows > part.index.n_alive  # not compacted this time
        _assert_like_a_fresh_load(postgres_url, part)
        assert b.forget(ids[450]) == 1  # the next forget reclaims the rows
        assert part.index.n_rows == part.index.n_alive
        _assert_like_a_fresh_load(postgres_url, part)


def test_a_remember_whose_index_retrain_races_a_commit_is_done_once(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write committed and retrained the IVF index; persisting the centroids finds the partition stale.

    The centroids stay in RAM (the next write persists them) and the remember returns its
    ids: it is not run again (it would find its own ids taken).
    """
    config = CONFIG.model_copy(update={"ivf_threshold": 256})
    monkeypatch.setattr(test_postgres_catch_up, "CONFIG", config)  # the fresh loads compared with
    with (
        HippoMemory(postgres_url, encoder=HashingEncoder(64), config=config) as a,
        HippoMemory(postgres_url, encoder=HashingEncoder(64), config=config) as b,
    ):
        ids = a.remember_many([f"note {i} about topic {i % 7}" for i in range(20)], namespace=NS)
        part = _held(b)
        assert not part.index.wants_ivf()
        more = [f"later note {i} about topic {i % 5}" for i in range(200)]
        with _race(part, lambda: a.associate(ids[0], ids[1]), after=1) as fired:
            written = b.remember_many(more, namespace=NS)
        assert fired and len(written) == 200 and part.index.active_kind == "ivf"
        assert part.ivf_generation == 0  # not persisted this time
        _applied(part, b)
        _assert_like_a_fresh_load(postgres_url, part)
        b.remember("Carol visited Porto.", namespace=NS)  # persists them
        assert part.ivf_generation == 1
        _assert_like_a_fresh_load(postgres_url, part)
