"""HippoMemory on a postgresql:// URL: the engine end to end, and two processes sharing one memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
