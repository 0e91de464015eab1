"""The PostgreSQL storage against the storage contract (``hippo_memory._storage``), on a throwaway server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _postgres_server
import numpy as np
import pytest
from _postgres_server import PostgresServer

from hippo_memory import InvalidInputError, StoreCorruptedError, StoreError
from hippo_memory._storage import CueRecord, LifecycleRecord, LinkRecord, MemoryRecord

psycopg = pytest.importorskip("psycopg")

from hippo_memory._postgres import MIGRATIONS, PostgresStorage  # noqa: E402
from hippo_memory._postgres_io import CONSOLIDATION_LOCK_CLASS  # noqa: E402
from hippo_memory._postgres_partition import BLOCK_ROWS  # noqa: E402

DIM = 8
postgres_server = _postgres_server.postgres_server  # the session's server
postgres_url = _postgres_server.postgres_url  # a fresh database per test


@pytest.fixture
def storage(postgres_url: str) -> Iterator[PostgresStorage]:
    store = PostgresStorage(postgres_url, durable=False, pool={"max_size": 4})
    yield store
    store.close()


def _memory(slot: int, id_: str, namespace: str = '["a","x"]', row_start: int = 0, row_count: int = 1) -> MemoryRecord:
    return MemoryRecord(
        slot, id_, namespace, f"text {id_}", "{}", None, 1.0, 1.0, None, b"\x01\x00", row_start, row_count
    )


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _write(part, slots: list[int], ids: list[str], vectors: np.ndarray, namespace: str = '["a","x"]') -> None:
    """One engine-shaped write: append, then one transaction with the records and the row count."""
    storage = part._storage
    start = part.n_rows
    part.append_vectors(vectors)
    with storage.transaction():
        part.lock_for_write()
        part.insert_memories(
            [_memory(s, i, namespace, start + k, 1) for k, (s, i) in enumerate(zip(slots, ids, strict=True))]
        )
        part.insert_cues(
            [CueRecord(start + k, s, "text", f"cue {i}") for k, (s, i) in enumerate(zip(slots, ids, strict=True))]
        )
        part.commit_rows(start + len(vectors))
    part.rows_committed(start + len(vectors))


def test_records_roundtrip(storage: PostgresStorage) -> None:
    assert storage.read_meta() == {}
    storage.initialise({"encoder": "hash", "dim": str(DIM)})
    meta = storage.read_meta()
    storage.check_meta(meta)
    assert meta["encoder"] == "hash" and meta["application"] == "hippo-memory"
    assert storage.partition(("a",)) is None
    part = storage.partition(("a",), create=True)
    assert part is not None and storage.partition(("a",)) is part
    vectors = _vectors(3)
    _write(part, [0, 1, 2], ["m0", "m1", "m2"], vectors, namespace='["a","x"]')
    assert [m.id for m in part.iter_memories()] == ["m0", "m1", "m2"]
    assert part.memories_by_slot([1, 7])[1].code == b"\x01\x00"
    assert dict(part.metadata_by_slot([0])) == {0: "{}"}
    assert part.cues_by_slot([2]) == {2: [CueRecord(2, 2, "text", "cue m2")]}
    assert part.cues_by_row([0, 1])[1].slot == 1
    np.testing.assert_array_equal(part.load_vectors(DIM), vectors)
    with storage.transaction():
        part.update_memory(1, metadata='{"k":1}', timestamp=5.0, updated_at=9.0, text="new")
        part.add_links([LinkRecord(0, 1, 0.5), LinkRecord(0, 1, 0.25), LinkRecord(1, 2, 1.0)])
        part.set_links([LinkRecord(1, 2, 0.0)])
        part.write_lifecycle([LifecycleRecord(0, 1.0, None, 1.0, 1.0, 2.0, 0, None, 0, None, None, "[]")])
        part.write_lifecycle(
            [LifecycleRecord(0, 9.0, None, 1.0, 1.0, 2.0, 0, None, 0, None, None, "[]")], keep_existing=True
        )
        part.set_superseded(0, "m1")
        part.set_consolidated_at(42.0)
        part.set_ivf_generation(3)
        part.set_policy_counts({"stored": 3})
    row = part.memories_by_slot([1])[1]
    assert (row.text, row.metadata, row.timestamp, row.code) == ("new", '{"k":1}', 5.0, b"\x01\x00")
    assert list(part.links()) == [LinkRecord(0, 1, 0.75)]
    (life,) = part.lifecycle()
    assert life.salience == 1.0 and life.superseded_by == "m1"
    assert part.consolidated_at() == 42.0 and part.ivf_generation() == 3
    assert storage.policy_counts() == {"stored": 3}
    with storage.transaction():
        part.merge_ids([("m1", "m2")])
    assert part.aliases() == {"m1": "m2"}
    assert next(iter(part.lifecycle())).superseded_by == "m2"
    assert storage.locate(["m0", "m1", "zz"]) == {"m0": ("a",), "m1": ("a",)}
    with storage.transaction():
        part.replace_links([LinkRecord(2, 0, 0.1)])
        part.delete_memories([2], ["m2"])
    assert [m.id for m in part.iter_memories()] == ["m0", "m1"]
    assert list(part.links()) == [] and part.aliases() == {}
    assert storage.namespace_counts() == {("a", "x"): 2}
    part.write_tensors("ivf-3.safetensors", {"centroids": np.ones((2, DIM), dtype=np.float32)})
    assert part.read_tensors("ivf-3.safetensors")["centroids"].shape == (2, DIM)  # type: ignore[index]
    part.remove_file("ivf-3.safetensors")
    assert part.read_tensors("ivf-3.safetensors") is None


def test_duplicate_id_is_invalid_input(storage: PostgresStorage) -> None:
    part = storage.partition(("a",), create=True)
    assert part is not None
    _write(part, [0], ["dup"], _vectors(1))
    with pytest.raises(InvalidInputError):
        _write(part, [1], ["dup"], _vectors(1, seed=1))
    assert part.seq() == 1 and [m.id for m in part.iter_memories()] == ["dup"]


def test_catalogue_prefixes_and_counts(storage: PostgresStorage) -> None:
    for key in [("a",), ("a", "b"), ("ab",), ("b", "c")]:
        storage.partition(key, create=True)
    assert storage.partition_keys() == [("a",), ("a", "b"), ("ab",), ("b", "c")]
    assert storage.partition_keys(("a",)) == [("a",), ("a", "b")]
    assert storage.partition_keys(("a", "b", "c")) == [("a",), ("a", "b")]
    assert storage.partition_keys(("z",)) == []
    part = storage.partition(("a", "b"))
    assert part is not None
    _write(part, [0, 1], ["x0", "x1"], _vectors(2), namespace='["a","b","c"]')
    other = storage.partition(("ab",))
    assert other is not None
    _write(other, [0], ["y0"], _vectors(1), namespace='["ab"]')
    assert storage.namespace_counts() == {("a", "b", "c"): 2, ("ab",): 1}
    assert storage.namespace_counts(("a",)) == {("a", "b", "c"): 2}
    assert storage.namespace_counts(("a", "b", "c", "d")) == {}
    assert storage.locate(["x1", "y0"]) == {"x1": ("a", "b"), "y0": ("ab",)}


def test_seq_bumps_only_on_commit_and_only_touched(storage: PostgresStorage) -> None:
    a = storage.partition(("a",), create=True)
    b = storage.partition(("b",), create=True)
    assert a is not None and b is not None
    assert (a.seq(), b.seq()) == (0, 0)
    with storage.transaction():
        a.set_consolidated_at(1.0)
        with storage.transaction():  # nested: joins the outer one
            a.set_ivf_generation(1)
        assert a.seq() == 0  # not yet committed
    assert (a.seq(), b.seq()) == (1, 0)
    with pytest.raises(RuntimeError), storage.transaction():
        b.set_consolidated_at(2.0)
        raise RuntimeError("boom")
    assert (a.seq(), b.seq()) == (1, 0) and b.consolidated_at() is None
    with storage.transaction():
        a.set_consolidated_at(3.0)
        b.set_consolidated_at(3.0)
    assert (a.seq(), b.seq()) == (2, 1)


def test_rollback_leaves_nothing_visible(storage: PostgresStorage, postgres_url: str) -> None:
    part = storage.partition(("a",), create=True)
    assert part is not None
    other = PostgresStorage(postgres_url)
    try:
        seen = other.partition(("a",))
        assert seen is not None
        part.append_vectors(_vectors(2))
        with pytest.raises(RuntimeError), storage.transaction():
            part.insert_memories([_memory(0, "r0"), _memory(1, "r1")])
            part.commit_rows(2)
            assert [m.id for m in part.iter_memories()] == ["r0", "r1"]  # own writes visible inside
            assert list(seen.iter_memories()) == []  # others see nothing before commit
            raise RuntimeError("abort")
        seen.refresh()
        assert list(part.iter_memories()) == [] and seen.n_rows == 0 and seen.seq() == 0
        assert storage.namespace_counts() == {} and storage.locate(["r0"]) == {}
        _write(part, [0], ["r0"], _vectors(1))
        seen.refresh()
        assert seen.n_rows == 1 and seen.seq() == 1
        np.testing.assert_array_equal(seen.load_vectors(DIM), part.load_vectors(DIM))
    finally:
        other.close()


def test_vectors_across_blocks_and_checksums(storage: PostgresStorage) -> None:
    part = storage.partition(("a",), create=True)
    assert part is not None
    chunks = [_vectors(n, seed=n) for n in (3, BLOCK_ROWS - 1, BLOCK_ROWS + 5, 1)]
    slot = 0
    for chunk in chunks:
        _write(part, list(range(slot, slot + len(chunk))), [f"v{i}" for i in range(slot, slot + len(chunk))], chunk)
        slot += len(chunk)
    everything = np.concatenate(chunks)
    np.testing.assert_array_equal(part.load_vectors(DIM), everything)
    fresh = PostgresStorage(storage.url)
    try:
        reopened = fresh.partition(("a",))
        assert reopened is not None and reopened.n_rows == len(everything)
        np.testing.assert_array_equal(reopened.load_vectors(DIM), everything)
        fresh.verify(DIM)
    finally:
        fresh.close()
    storage.execute(
        "test",
        "UPDATE hippo_vectors SET data = overlay(data placing '\\x00000000'::bytea from 5) WHERE block = 1",
    )
    with pytest.raises(StoreCorruptedError, match="block 1"):
        part.load_vectors(DIM)


def test_commit_without_appended_vectors_is_refused(storage: PostgresStorage) -> None:
    part = storage.partition(("a",), create=True)
    assert part is not None
    with pytest.raises(StoreError), storage.transaction():
        part.commit_rows(4)
    assert part.seq() == 0


def test_compaction_generations(storage: PostgresStorage) -> None:
    part = storage.partition(("a",), create=True)
    assert part is not None
    vectors = _vectors(BLOCK_ROWS + 10)
    _write(part, list(range(len(vectors))), [f"c{i}" for i in range(len(vectors))], vectors)
    old = part.generation
    name = part.next_vectors_name()
    kept = vectors[::2]
    part.write_vector_file(name, kept[:100])
    part.write_vector_file(name, kept[100:], first_row=100)  # rows written while copying
    np.testing.assert_array_equal(part.load_vectors(DIM), vectors)  # not live yet
    pairs = [(2 * i, i) for i in range(len(kept))]
    with storage.transaction():
        part.lock_for_write()
        part.delete_memories([2 * i + 1 for i in range(len(vectors) // 2)], [])
        part.remap_rows(pairs)
        part.commit_vectors_name(name)
        part.commit_rows(len(kept))
    part.switch_vectors(name, len(kept))
    assert part.generation > old
    np.testing.assert_array_equal(part.load_vectors(DIM), kept)
    assert [(m.slot, m.row_start) for m in part.iter_memories()][:3] == [(0, 0), (2, 1), (4, 2)]
    assert part.cues_by_slot([4]) == {4: [CueRecord(2, 4, "text", "cue c4")]}
    generations = storage.fetch("test", "SELECT DISTINCT generation FROM hippo_vectors")
    assert generations == [(part.generation,)]
    part.remove_stale_files()
    _write(part, [len(vectors)], ["after"], _vectors(1, seed=9))  # appends go to the new generation
    assert part.load_vectors(DIM).shape == (len(kept) + 1, DIM)


def test_refresh_sees_other_writers(storage: PostgresStorage, postgres_url: str) -> None:
    part = storage.partition(("a",), create=True)
    other = PostgresStorage(postgres_url)
    try:
        theirs = other.partition(("a",))
        assert part is not None and theirs is not None
        _write(theirs, [0], ["t0"], _vectors(1))
        assert part.n_rows == 0 and part.seq() == 1
        part.refresh()
        assert part.n_rows == 1
    finally:
        other.close()


def test_stale_append_is_refused(storage: PostgresStorage, postgres_url: str) -> None:
    part = storage.partition(("a",), create=True)
    other = PostgresStorage(postgres_url)
    try:
        theirs = other.partition(("a",))
        assert part is not None and theirs is not None
        _write(theirs, [0], ["t0"], _vectors(1))
        part.append_vectors(_vectors(1, seed=3))  # from row 0: this handle has not seen their row
        with pytest.raises(StoreError, match="another process"), storage.transaction():
            part.lock_for_write()
            part.commit_rows(1)
        assert [m.id for m in part.iter_memories()] == ["t0"]
    finally:
        other.close()


def test_lock_for_write_serialises_writers(storage: PostgresStorage, postgres_url: str) -> None:
    part = storage.partition(("a",), create=True)
    other = PostgresStorage(postgres_url)
    order: list[str] = []
    try:
        theirs = other.partition(("a",))
        assert part is not None and theirs is not None
        entered = threading.Event()

        def second() -> None:
            entered.wait()
            with other.transaction():
                theirs.lock_for_write()
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        with storage.transaction():
            part.lock_for_write()
            entered.set()
            thread.join(0.5)
            order.append("first")
        thread.join(10)
        assert order == ["first", "second"]
    finally:
        other.close()


def test_migrations_are_idempotent_under_concurrent_setups(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            PostgresStorage(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(postgres_url) as conn:
        applied = conn.execute("SELECT version, name FROM hippo_migrations ORDER BY version").fetchall()
    assert applied == [(m.version, m.name) for m in MIGRATIONS]


def test_foreign_tables_are_refused_before_writing(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE hippo_memories (id serial PRIMARY KEY, body text)")
    with pytest.raises(StoreCorruptedError, match="did not create"):
        PostgresStorage(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    assert tables == [("hippo_memories",)]


def test_meta_of_another_application_is_refused(storage: PostgresStorage) -> None:
    storage.write_meta({"application": "something-else"})
    with pytest.raises(StoreCorruptedError):
        storage.check_meta(storage.read_meta())


def test_connection_errors_are_typed(postgres_server: PostgresServer, postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    with pytest.raises(StoreError, match=r"password|authentication") as wrong:
        PostgresStorage(postgres_server.url(database, password="wrong"))
    assert "wrong" not in str(wrong.value).replace("wrong password", "")  # the password is not echoed
    with pytest.raises(StoreError, match="does not exist"):
        PostgresStorage(postgres_server.url("no_such_database"))
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStorage(f"postgresql://hippo:x@127.0.0.1:{_closed_port()}/db")
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStorage("postgresql://hippo@127.0.0.1:notaport/db")
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,)


def test_closed_storage_refuses_use(storage: PostgresStorage) -> None:
    storage.close()
    storage.close()
    with pytest.raises(StoreError):
        storage.partition(("a",), create=True)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_partition_seqs_are_the_catalogue_with_each_change_sequence(
    backend: str, postgres_url: str, tmp_path: Path
) -> None:
    from hippo_memory._sqlite import SQLiteStorage

    store: Any = PostgresStorage(postgres_url, durable=False) if backend == "postgres" else SQLiteStorage(tmp_path)
    try:
        for key in [("a",), ("a", "b"), ("ab",), ("b", "c")]:
            store.partition(key, create=True)
        part = store.partition(("a", "b"))
        with store.transaction():
            part.set_consolidated_at(1.0)
        with store.transaction():
            part.set_consolidated_at(2.0)
        for prefix in [None, ("a",), ("a", "b", "c"), ("b",), ("z",)]:
            seqs = store.partition_seqs(prefix)
            assert list(seqs) == store.partition_keys(prefix)
            assert seqs == {key: store.partition(key).seq() for key in seqs}
        assert store.partition_seqs(("a",)) == {("a",): 0, ("a", "b"): 2}
    finally:
        store.close()


def test_records_with_cues_are_one_read_and_stale_only_until_the_partition_catches_up(
    storage: PostgresStorage, postgres_url: str
) -> None:
    part = storage.partition(("a",), create=True)
    assert part is not None
    _write(part, [0, 1, 2], ["m0", "m1", "m2"], _vectors(3))
    with storage.transaction():  # several cues, written out of row order; slot 2 loses its cue
        part.replace_cues(1, [CueRecord(5, 1, "explicit", "late"), CueRecord(1, 1, "text", "early")])
        part.replace_cues(2, [])
    both = part.memories_with_cues([0, 1, 2, 9])
    records, cues = part.memories_by_slot([0, 1, 2]), part.cues_by_slot([0, 1, 2])
    assert both == {s: (records[s], cues.get(s, [])) for s in (0, 1, 2)}
    assert [c.row for c in both[1][1]] == [1, 5] and both[2][1] == []
    other = PostgresStorage(postgres_url, durable=False)
    try:
        theirs = other.partition(("a",))
        assert theirs is not None
        held = part.seq()
        with other.transaction():  # another process changes a cue
            theirs.replace_cues(0, [CueRecord(0, 0, "text", "their cue")])
        assert part.cues_by_slot([0]) == {0: [CueRecord(0, 0, "text", "their cue")]}
        # Recall's read is served from the record cache, as of the state this process holds...
        assert part.memories_with_cues([0])[0] == both[0]
        # ...until it catches up with the commit, which drops the partition's cached records.
        assert part.changes_since(held, part.n_rows, DIM).seq == held + 1
        assert part.memories_with_cues([0])[0][1] == [CueRecord(0, 0, "text", "their cue")]
    finally:
        other.close()


def test_the_consolidation_lock_is_one_process_at_a_time_and_never_blocks_a_writer(
    storage: PostgresStorage, postgres_url: str
) -> None:
    part = storage.partition(("a",), create=True)
    other = PostgresStorage(postgres_url, durable=False)
    try:
        theirs = other.partition(("a",))
        assert part is not None and theirs is not None
        with part.consolidation_lock() as held:
            assert held
            with theirs.consolidation_lock() as also:
                assert not also
            with other.transaction():  # the write lock is another key: no wait
                other.execute("bounded wait", "SET LOCAL lock_timeout = '2s'")
                theirs.lock_for_write()
                theirs.set_consolidated_at(1.0)
        with theirs.consolidation_lock() as held_now:  # released with the block
            assert held_now
        with pytest.raises(RuntimeError), part.consolidation_lock():
            raise RuntimeError("the pass failed")
        with theirs.consolidation_lock() as after_failure:  # released by the rollback too
            assert after_failure
        with part.consolidation_lock() as held:  # the holder's connection dies mid-pass
            assert held
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = %s AND objid = %s AND objsubid = 2",
                    (CONSOLIDATION_LOCK_CLASS, part.pid),
                ).fetchall()
            assert killed == [(True,)]
            # pg_terminate_backend only signals the backend: its lock goes when it has exited
            deadline = time.monotonic() + 10.0
            taken_over = False
            while not taken_over and time.monotonic() < deadline:
                with theirs.consolidation_lock() as taken_over:
                    pass
                if not taken_over:
                    time.sleep(0.05)
            assert taken_over
        # ... and the block still ended without an error (the pass's own work had committed).
    finally:
        other.close()
