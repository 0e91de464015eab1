"""The on-disk store: reopening, crash safety, locking, damaged and foreign files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hippo_memory import (
    FORMAT_VERSION,
    EncoderMismatchError,
    HashingEncoder,
    HippoConfig,
    HippoMemory,
    InvalidConfigError,
    StoreClosedError,
    StoreCorruptedError,
    StoreLockedError,
    StoreVersionError,
)

CONFIG = HippoConfig(code_dim=1024, code_k=16, durable=False)


def _snapshot(memory: HippoMemory, queries: list[str]) -> list[list[tuple[str, float]]]:
    out = []
    for query in queries:
        try:
            hits = memory.recall(query, k=4)
        except Exception as exc:
            out.append([(type(exc).__name__, 0.0)])
            continue
        out.append([(h.memory.id, round(h.score, 6)) for h in hits])
    return out


words = st.sampled_from(
    ["apple", "river", "stone", "violin", "cloud", "harbour", "tiger", "lamp", "orbit", "maple", "candle", "desert"]
)
texts = st.lists(words, min_size=1, max_size=6).map(" ".join)
operation = st.one_of(
    st.tuples(st.just("add"), st.lists(texts, min_size=1, max_size=4), st.sampled_from(["s1", "s2", None])),
    st.tuples(st.just("forget"), st.integers(0, 50), st.none()),
    st.tuples(st.just("update"), st.integers(0, 50), texts),
    st.tuples(st.just("link"), st.integers(0, 50), st.integers(0, 50)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=8), queries=st.lists(texts, min_size=1, max_size=3))
def test_reopen_gives_identical_recall(tmp_path_factory: pytest.TempPathFactory, ops: list, queries: list[str]) -> None:
    path = tmp_path_factory.mktemp("reopen") / "store"
    encoder = HashingEncoder(64)
    memory = HippoMemory(path, encoder=encoder, config=CONFIG)
    ids: list[str] = []
    for kind, a, b in ops:
        if kind == "add":
            ids += memory.remember_many(a, session=b)
        elif ids and kind == "forget":
            victim = ids.pop(a % len(ids))
            memory.forget(victim)
        elif ids and kind == "update":
            memory.update(ids[a % len(ids)], text=b)
        elif len(ids) > 1 and kind == "link":
            x, y = ids[a % len(ids)], ids[b % len(ids)]
            if x != y:
                memory.associate(x, y)
    before = _snapshot(memory, queries)
    chains_before = [[m.id for m in memory.recall_chain(q, hops=3).memories] for q in queries]
    stats_before = memory.stats()
    memory.close()

    reopened = HippoMemory(path, encoder=encoder)
    assert _snapshot(reopened, queries) == before
    assert [[m.id for m in reopened.recall_chain(q, hops=3).memories] for q in queries] == chains_before
    stats_after = reopened.stats()
    for key in ("memories", "cue_vectors", "links", "namespaces"):
        assert stats_after[key] == stats_before[key]
    reopened.close()


def test_reopen_rebuilds_the_same_ivf_index(tmp_path: Path) -> None:
    encoder = HashingEncoder(64)
    config = HippoConfig(index="ivf", cue_variants=False, code_dim=1024, code_k=16, durable=False)
    texts = [f"entry {i} says {i % 7} and {i % 11}" for i in range(600)]
    memory = HippoMemory(tmp_path / "s", encoder=encoder, config=config)
    memory.remember_many(texts)
    before = _snapshot(memory, texts[::50])
    memory.close()
    assert list((tmp_path / "s").glob("partitions/p*.ivf-*.safetensors"))
    reopened = HippoMemory(tmp_path / "s", encoder=encoder, config=config)
    assert _snapshot(reopened, texts[::50]) == before
    assert reopened.stats()["index"] == "ivf"  # of the partitions in RAM: the recall loaded it
    reopened.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
    memory = HippoMemory(sys.argv[1], encoder=HashingEncoder(64), config=HippoConfig(code_dim=1024, code_k=16))
    i = 0
    while True:
        ids = memory.remember_many([f"crash test memory {i} part {j}" for j in range(5)], session="s")
        print(i, *ids, flush=True)   # acknowledged only after the commit returned
        i += 1
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.6])
def test_kill_9_mid_write_keeps_every_committed_memory(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "store"
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    # Wait for the first acknowledged batch (imports can be slow on a busy machine),
    # let it write on for a while, then kill it without warning.
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    rest, _ = process.communicate()
    lines += rest.splitlines()
    # a line cut short by the kill was never fully acknowledged
    acknowledged = [parts[1:] for parts in (line.split() for line in lines) if len(parts) == 6 and len(parts[-1]) == 36]
    assert acknowledged, "the writer never committed"
    memory = HippoMemory(path, encoder=HashingEncoder(64))
    stored_ids = {m.id for m in memory.list()}
    for batch in acknowledged:
        assert set(batch) <= stored_ids
    # at most one batch beyond the acknowledged ones may have committed, whole
    assert len(stored_ids) in (5 * len(acknowledged), 5 * len(acknowledged) + 5)
    assert memory.count() == len(stored_ids)
    assert memory.recall("crash test memory 0 part 0", k=1)[0].memory.text == "crash test memory 0 part 0"
    memory.remember("after the crash")  # the store is writable again
    memory.close()


def test_a_second_open_is_refused_until_closed(store_path: Path) -> None:
    first = HippoMemory(store_path, encoder=HashingEncoder(64), config=CONFIG)
    with pytest.raises(StoreLockedError):
        HippoMemory(store_path, encoder=HashingEncoder(64))
    first.close()
    HippoMemory(store_path, encoder=HashingEncoder(64)).close()


def test_closed_memory_raises(store_path: Path) -> None:
    memory = HippoMemory(store_path, encoder=HashingEncoder(64), config=CONFIG)
    memory.close()
    memory.close()  # idempotent
    with pytest.raises(StoreClosedError):
        memory.remember("late")
    with pytest.raises(StoreClosedError):
        memory.recall("late")


def test_encoder_mismatch_is_refused(store_path: Path) -> None:
    with HippoMemory(store_path, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember("hello")
    with pytest.raises(EncoderMismatchError):
        HippoMemory(store_path, encoder=HashingEncoder(32))
    with pytest.raises(EncoderMismatchError):
        HippoMemory(store_path, encoder=HashingEncoder(64, seed=9))
    # the refused open lost nothing
    with HippoMemory(store_path, encoder=HashingEncoder(64)) as memory:
        assert memory.count() == 1


def test_structural_config_comes_from_the_store(store_path: Path) -> None:
    with HippoMemory(store_path, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember("hello")
    with HippoMemory(store_path, encoder=HashingEncoder(64)) as memory:
        assert memory.config.code_dim == 1024
    with pytest.raises(InvalidConfigError):
        HippoMemory(store_path, encoder=HashingEncoder(64), config=HippoConfig(code_dim=4096))


def test_version_mismatch_is_a_clear_error(store_path: Path) -> None:
    with HippoMemory(store_path, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember("hello")
    db = sqlite3.connect(store_path / "hippo.sqlite")
    db.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StoreVersionError, match="format"):
        HippoMemory(store_path, encoder=HashingEncoder(64))


def test_foreign_and_damaged_files_are_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    with pytest.raises(StoreCorruptedError):
        HippoMemory(a_file, encoder=HashingEncoder(64))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("someone else's data")
    with pytest.raises(StoreCorruptedError):
        HippoMemory(foreign, encoder=HashingEncoder(64))
    assert (foreign / "notes.txt").read_text() == "someone else's data"
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "hippo.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreCorruptedError):
        HippoMemory(garbage, encoder=HashingEncoder(64))
    other_db = tmp_path / "otherdb"
    other_db.mkdir()
    con = sqlite3.connect(other_db / "hippo.sqlite")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreCorruptedError):
        HippoMemory(other_db, encoder=HashingEncoder(64))


def test_truncated_vector_file_is_detected(store_path: Path) -> None:
    with HippoMemory(store_path, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember_many(["one memory", "two memory", "three memory"])
    (vectors,) = store_path.glob("partitions/p*.f32")
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(StoreCorruptedError, match="truncated"):
        HippoMemory(store_path, encoder=HashingEncoder(64))


def test_trailing_uncommitted_vectors_are_discarded(store_path: Path) -> None:
    with HippoMemory(store_path, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember("kept")
    (vectors,) = store_path.glob("partitions/p*.f32")
    size = vectors.stat().st_size
    with vectors.open("ab") as handle:
        handle.write(b"\x00" * 64 * 4 * 3)  # a write that never committed
    with HippoMemory(store_path, encoder=HashingEncoder(64)) as memory:
        assert memory.count() == 1
        assert vectors.stat().st_size == size
        memory.remember("next")
        assert memory.recall("next", k=1)[0].memory.text == "next"
