"""HippoMemory on a postgresql:// URL: the engine end to end, and two processes sharing one memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import _postgres_server
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, InvalidInputError, MemoryNotFoundError

pytest.importorskip("psycopg")

postgres_server = _postgres_server.postgres_server  # the session's server
postgres_url = _postgres_server.postgres_url  # a fresh database per test

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False)

_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
    config = HippoConfig(code_dim=2048, code_k=32, durable=False)
    with HippoMemory(sys.argv[1], encoder=HashingEncoder(64), config=config) as memory:
        if sys.argv[2] == "write":
            print(memory.remember(sys.argv[3], namespace=("users", "alice"), session="s1"))
        else:
            hits = memory.recall(sys.argv[3], namespace=("users", "alice"), k=1)
            print(hits[0].memory.id if hits else "")
    """
)


def _other_process(url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, url, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_the_engine_runs_end_to_end_on_postgres(postgres_url: str) -> None:
    with HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) as memory:
        ids = memory.remember_many(
            ["Alice adopted a greyhound named Pixel.", "Her sister Dana helped her choose him."],
            namespace=("users", "alice"),
            session="s1",
        )
        bob = memory.remember("Bob plays the cello.", namespace=("users", "bob"))
        assert memory.recall("greyhound Pixel", namespace=("users", "alice"), k=1)[0].memory.id == ids[0]
        assert [m.id for m in memory.recall_chain("greyhound Pixel", namespace=("users", "alice")).memories][:2] == ids
        assert memory.count() == 3 and memory.namespaces() == [("users", "alice"), ("users", "bob")]
        with pytest.raises(InvalidInputError):
            memory.associate(ids[0], bob)
        memory.update(ids[1], text="Her sister Dana helped her choose the dog.")
        assert memory.forget(bob) == 1
        assert memory.consolidate(compact=True).memories_after == 2
    with HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) as memory:
        assert memory.get(ids[1]).text == "Her sister Dana helped her choose the dog."
        with pytest.raises(MemoryNotFoundError):
            memory.get(bob)


def test_a_write_in_one_process_is_recalled_by_another_on_its_next_call(postgres_url: str) -> None:
    with HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) as memory:
        first = memory.remember("Alice lives in Lisbon.", namespace=("users", "alice"), session="s1")
        assert memory.recall("Lisbon", namespace=("users", "alice"), k=1)[0].memory.id == first  # loaded here
        written = _other_process(postgres_url, "write", "Alice started learning the cello.")
        # This process holds the partition in RAM: it catches up before the next recall.
        assert memory.recall("cello", namespace=("users", "alice"), k=1)[0].memory.id == written
        assert memory.count(("users", "alice")) == 2
        # ... and its own next write lands after the other process's rows, not over them.
        mine = memory.remember("Alice moved to Porto.", namespace=("users", "alice"), session="s1")
        assert _other_process(postgres_url, "recall", "Porto") == mine
        assert {m.id for m in memory.list(("users", "alice"))} == {first, written, mine}


def _count_round_trips(memory: HippoMemory, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every statement sent to the server."""
    calls: list[str] = []
    storage = memory.storage  # type: ignore[attr-defined]
    for name in ("fetch", "execute", "execute_many", "copy"):
        original = getattr(storage, name)

        def counted(what: str, *args: object, _original: Any = original, _name: str = name) -> Any:
            calls.append(f"{_name}: {what}")
            return _original(what, *args)

        monkeypatch.setattr(storage, name, counted)
    return calls


def test_a_warm_recall_makes_two_round_trips_and_still_sees_other_writers(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) as memory,
        HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) as other,
    ):
        memory.remember_many([f"note {i} about topic {i % 5}" for i in range(40)], namespace=("users", "alice"))
        memory.remember("Bob plays the cello.", namespace=("users", "bob"))
        memory.recall("topic 3", k=5)  # loads both partitions
        calls = _count_round_trips(memory, monkeypatch)
        catalogue, records = "fetch: cannot read the partition catalogue", "fetch: cannot read memories"
        for namespace, partitions in ((("users", "alice"), 1), (("users",), 2), (None, 2)):
            calls.clear()
            assert memory.recall("topic 3", namespace=namespace, k=5)
            # the catalogue with every partition's change sequence; then each partition's hits with their cues
            assert calls[0] == catalogue and calls[1:] == [records] * len(calls[1:]) and len(calls) <= 1 + partitions
        written = other.remember("Alice started learning the oboe.", namespace=("users", "alice"))
        calls.clear()
        hits = memory.recall("learning the oboe", namespace=("users", "alice"), k=1)
        assert hits[0].memory.id == written and hits[0].memory.cues  # caught up, cues included
        assert len(calls) > 2  # the partition another engine wrote was reloaded


def test_a_partition_another_process_consolidates_is_skipped_and_recall_and_writes_go_on(
    postgres_url: str,
) -> None:
    with (
        HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) as first,
        HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) as second,
    ):
        alice = first.remember("Alice lives in Lisbon.", namespace=("users", "alice"))
        first.remember("Bob plays the cello.", namespace=("users", "bob"))
        held = first.storage.partition(("users", "alice"))  # type: ignore[attr-defined]
        with held.consolidation_lock() as mine:
            assert mine
            report = second.consolidate()
            assert report.skipped_partitions == 1 and report.memories_before == 1  # bob's partition only
            # Recall and writes never take the consolidation lock.
            assert second.recall("Lisbon", namespace=("users", "alice"), k=1)[0].memory.id == alice
            second.remember("Alice moved to Porto.", namespace=("users", "alice"))
        report = second.consolidate()
        assert report.skipped_partitions == 0 and report.memories_before == 3


def test_two_engines_never_consolidate_one_partition_at_once(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from hippo_memory import _consolidation

    engines = [HippoMemory(postgres_url, encoder=HashingEncoder(64), config=CONFIG) for _ in range(2)]
    try:
        engines[0].remember_many([f"shared note {i}" for i in range(20)], namespace=("team",))
        real = _consolidation.consolidate
        entered: list[int] = []
        done = [threading.Event(), threading.Event()]
        start = threading.Barrier(2)
        reports: dict[int, Any] = {}

        def consolidate(part: Any, **kwargs: Any) -> Any:
            me = next(i for i, engine in enumerate(engines) if engine.storage is part.store._storage)  # type: ignore[attr-defined]
            entered.append(me)
            if len(entered) == 1:  # the first one in waits until the other engine's whole pass is over
                assert done[1 - me].wait(timeout=60)
            return real(part, **kwargs)

        monkeypatch.setattr(_consolidation, "consolidate", consolidate)

        def run(i: int) -> None:
            start.wait()
            try:
                reports[i] = engines[i].consolidate()
            finally:
                done[i].set()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(entered) == 1, "both engines consolidated the partition at once"
        winner = entered[0]
        assert reports[winner].skipped_partitions == 0 and reports[winner].memories_before == 20
        assert reports[1 - winner].skipped_partitions == 1 and reports[1 - winner].memories_before == 0
    finally:
        for engine in engines:
            engine.close()
