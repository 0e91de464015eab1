"""Regression tests: one namespace never acts on another, and an inconsistent store is refused untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from hippo_memory import (
    HashingEncoder,
    HippoConfig,
    HippoMemory,
    InvalidInputError,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
)

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False)


def _files(path: Path) -> dict[str, str]:
    """Every file under ``path`` with a digest of its bytes (the hippo.sqlite WAL files excluded)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.startswith("hippo.sqlite-")
    }


def test_supersession_and_associations_never_cross_namespaces() -> None:
    with HippoMemory(None, encoder=HashingEncoder(64), config=CONFIG) as memory:
        alice = memory.remember("Alice lives in Lisbon", namespace=("users", "alice"))
        bob = memory.remember("Bob lives in Porto", namespace=("users", "bob"))
        with pytest.raises(InvalidInputError):
            memory.supersede(alice, bob)
        with pytest.raises(InvalidInputError):
            memory.remember("Alice lives in Porto now", namespace=("users", "bob"), supersedes=alice)
        with pytest.raises(InvalidInputError):
            memory.associate(alice, bob)
        assert memory.get(alice).superseded_by is None
        assert memory.associations(alice) == []
        assert [h.memory.id for h in memory.recall("Where does Alice live?", namespace=("users", "alice"))] == [alice]
        assert memory.count(("users", "bob")) == 1  # the refused write stored nothing


def test_each_namespace_is_its_own_partition_and_prefix_recall_merges() -> None:
    with HippoMemory(None, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember_many([f"alice note {i}" for i in range(5)], namespace=("users", "alice"))
        memory.remember_many([f"bob note {i}" for i in range(5)], namespace=("users", "bob"))
        assert memory.stats()["partitions"] == 2
        found = {h.memory.namespace for h in memory.recall("note", namespace=("users",), k=10)}
        assert found == {("users", "alice"), ("users", "bob")}
        assert all(h.memory.namespace == ("users", "bob") for h in memory.recall("note", namespace=("users", "bob")))


def test_partition_depth_pools_sub_namespaces_but_keeps_them_apart() -> None:
    config = CONFIG.model_copy(update={"partition_depth": 2})
    with HippoMemory(None, encoder=HashingEncoder(64), config=config) as memory:
        notes = memory.remember("a note about tea", namespace=("users", "alice", "notes"))
        prefs = memory.remember("a preference for tea", namespace=("users", "alice", "prefs"))
        assert memory.stats()["partitions"] == 1
        assert [h.memory.id for h in memory.recall("tea", namespace=("users", "alice", "notes"))] == [notes]
        assert {h.memory.id for h in memory.recall("tea", namespace=("users", "alice"))} == {notes, prefs}
        with pytest.raises(InvalidInputError):  # one partition, two namespaces: still no association
            memory.associate(notes, prefs)


def test_a_huge_k_is_clamped_to_the_live_memories() -> None:
    config = CONFIG.model_copy(update={"index": "ivf", "cue_variants": False})
    with HippoMemory(None, encoder=HashingEncoder(64), config=config) as memory:
        memory.remember_many([f"entry {i} says {i % 7}" for i in range(400)])
        assert len(memory.recall("entry says 3", k=10**9)) == 400


def test_the_lock_is_on_the_database_and_a_second_open_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG)
    first.remember("kept")
    assert not (store / "LOCK").exists()  # nothing to delete that would let a second writer in
    with pytest.raises(StoreLockedError):
        HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG)
    first.close()
    with HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG) as again:
        assert again.count() == 1


def test_a_foreign_database_with_a_meta_table_is_refused_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "foreign"
    store.mkdir()
    db = sqlite3.connect(store / "hippo.sqlite")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('application', 'someone-else')")
    db.commit()
    db.close()
    before = _files(store)
    with pytest.raises(StoreCorruptedError):
        HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG)
    assert _files(store) == before
    tables = {r[0] for r in sqlite3.connect(store / "hippo.sqlite").execute("SELECT name FROM sqlite_master")}
    assert tables == {"meta", "sqlite_autoindex_meta_1"}


def test_a_missing_vector_file_is_refused_and_nothing_is_created_or_deleted(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember_many(["one", "two", "three"])
    (vectors,) = store.glob("partitions/p*.f32")
    vectors.unlink()  # a copy made without it, or a commit lost with the WAL after a compaction
    before = _files(store)
    for _ in range(2):  # refused the same way every time: nothing was destroyed by the first try
        with pytest.raises(StoreCorruptedError, match="missing"):
            HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG)
        assert _files(store) == before


def test_records_beyond_the_committed_rows_are_refused_before_any_truncation(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG) as memory:
        memory.remember_many(["one", "two", "three"])
    db = sqlite3.connect(store / "hippo.sqlite")
    db.execute("UPDATE partitions SET n_rows = 1")
    db.commit()
    db.close()
    before = _files(store)
    with pytest.raises(StoreCorruptedError, match="never committed"):
        HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG)
    assert _files(store) == before


def test_dead_vector_rows_are_reclaimed_without_consolidation(tmp_path: Path) -> None:
    """Dead rows of forgotten and updated memories are reclaimed once they pass reclaim_dead_fraction."""
    store = tmp_path / "store"
    config = CONFIG.model_copy(update={"cue_variants": False})
    with HippoMemory(store, encoder=HashingEncoder(64), config=config) as memory:
        ids = memory.remember_many([f"fact number {i} of the store" for i in range(1200)])
        (vectors,) = store.glob("partitions/p*.f32")
        row_bytes = vectors.stat().st_size // 1200
        memory.update(ids[-1], text="the last fact, revised")
        memory.forget(ids[:700])  # 701 of 1201 rows dead: past one half
        (vectors,) = store.glob("partitions/p*.f32")
        assert vectors.stat().st_size == 500 * row_bytes
        assert memory.recall("last fact revised", k=1)[0].memory.id == ids[-1]
    with HippoMemory(store, encoder=HashingEncoder(64), config=config) as memory:
        assert memory.count() == 500
        assert memory.get(ids[-1]).text == "the last fact, revised"


def test_a_read_only_reader_runs_beside_the_writer_and_catches_up(tmp_path: Path) -> None:
    store = tmp_path / "store"
    writer = HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG)
    first = writer.remember("Alice lives in Lisbon", namespace=("users", "alice"))
    before = _files(store)
    with HippoMemory(store, encoder=HashingEncoder(64), config=CONFIG, read_only=True) as reader:
        assert reader.recall("Lisbon", namespace=("users", "alice"), k=1)[0].memory.id == first
        second = writer.remember("Alice plays the cello", namespace=("users", "alice"))
        assert reader.recall("cello", namespace=("users", "alice"), k=1)[0].memory.id == second  # caught up
        with pytest.raises(StoreError):
            reader.remember("a reader cannot write", namespace=("users", "alice"))
        with pytest.raises(StoreError):
            reader.forget(first)
        assert reader.count() == 2
    writer.remember("the writer was never blocked", namespace=("users", "bob"))
    writer.close()
    assert before.keys() <= _files(store).keys()
    with pytest.raises(StoreError):
        HippoMemory(tmp_path / "nothing-here", encoder=HashingEncoder(64), read_only=True)
