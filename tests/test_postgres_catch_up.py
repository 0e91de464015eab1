"""Incremental catch-up on PostgreSQL: a process holding a partition applies other processes' commits.

The engine that holds a partition (``held``) must end up exactly where a fresh load
of the same committed state ends up, whatever another engine (``writer``) did
meanwhile; a catch-up only reads (it runs through a role that cannot write), and
falls back to a full reload, saying why, when the change log cannot serve it.
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from typing import Any

import _postgres_server
import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, MemoryNotFoundError, StoreError

pytest.importorskip("psycopg")

import psycopg

from hippo_memory import _postgres_partition
from hippo_memory._partition import Partition
from hippo_memory._postgres import PostgresStorage
from hippo_memory._storage import MemoryRecord

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False, partition_depth=1, speaker_key="speaker")
TENANT = ("t1",)
WORDS = (
    "alice bob carol dana lisbon porto cello oboe greyhound pixel garden river coffee tea train "
    "paris berlin moved adopted started learning plays painted bought sold visited"
).split()


def _engine(url: str) -> HippoMemory:
    return HippoMemory(url, encoder=HashingEncoder(64), config=CONFIG)


def _held(memory: HippoMemory, key: tuple[str, ...] = TENANT) -> Partition:
    """The partition ``key`` as ``memory`` holds it, caught up with the database (a recall's first step)."""
    part = memory._partition(key)
    assert part is not None
    return part


def _state(part: Partition) -> dict[str, Any]:
    """Everything recall reads from a partition's RAM, keyed by memory id (slot numbers and ordering aside)."""
    ids = part.slot_id
    live = [s for s, i in enumerate(ids) if i is not None]
    life = part.life
    index = part.index
    rows = np.arange(index.n_rows)
    alive = index.alive(rows)

    def optional(value: float) -> float | None:
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)

    per_memory = {}
    for s in live:
        start, count = (int(v) for v in part.slot_rows[s])
        session = part.slot_session.get(s)
        per_memory[ids[s]] = (
            part.namespaces[int(part.slot_ns[s])],
            None if session is None else (part.namespaces[session[0]], session[1]),
            optional(float(part.slot_time[s])),
            (start, count),
            bool(alive[start : start + count].all()),
            part.speakers[int(part.slot_speaker[s])] if part.slot_speaker[s] >= 0 else None,
            tuple(part.slot_spans[s].ravel().tolist()) if s in part.slot_spans else (),
            tuple(part.assoc.code(s).tolist()),
            part.lexical._terms.get(s),
            float(part.lexical._length[s]),
            (
                round(float(life.salience[s]), 6),
                optional(float(life.novelty[s])),
                round(float(life.learned_at[s]), 6),
                round(float(life.reinforced_at[s]), 6),
                round(float(life.stability[s]), 6),
                int(life.access[s]),
                optional(float(life.last_access[s])),
                int(life.replays[s]),
                optional(float(life.expires_at[s])),
                ids[int(life.superseded_by[s])] if life.superseded_by[s] >= 0 else None,
                tuple(life.merged_from.get(s, ())),
            ),
        )
    return {
        "memories": per_memory,
        "rows": (index.n_rows, index.n_alive, [int(o) for o in index.owners(rows[alive])]),
        "alive_rows": np.flatnonzero(alive).tolist(),
        "links": sorted((ids[a], ids[b], round(w, 9)) for a, b, w in part.assoc.iter_links()),
        "aliases": dict(life.aliases),
        "superseded": life.n_superseded,
        "lexical": (part.lexical.n_documents, dict(part.lexical._df), round(part.lexical._total_length, 6)),
        "sessions": sorted(
            (part.namespaces[ns], name, tuple(ids[s] for s in slots))
            for (ns, name), slots in part.session_slots.items()
        ),
        "namespaces": {part.namespaces[ns]: n for ns, n in part.ns_count.items() if n},
        "ivf": (part.ivf_generation, index.active_kind),
    }


def _assert_like_a_fresh_load(url: str, held: Partition) -> None:
    """``held`` holds what a fresh load of the committed partition holds (its own unflushed accesses aside)."""
    with _engine(url) as fresh:
        loaded = _held(fresh, held.key)
        assert held.seq == loaded.seq
        mine, theirs = _state(held), _state(loaded)
        touched = {held.slot_id[s] for s in held.life.dirty}
        for memory_id in touched:  # recalls in this process: counted in RAM until flushed
            mine["memories"].pop(memory_id, None)
            theirs["memories"].pop(memory_id, None)
        for key in theirs:
            if key == "memories":
                assert mine[key].keys() == theirs[key].keys()
                for memory_id, fields in theirs[key].items():
                    assert mine[key][memory_id] == fields, memory_id
            assert mine[key] == theirs[key], key


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))


def _random_op(rng: random.Random, writer: HippoMemory, ids: list[str]) -> None:
    op = rng.random()
    if op < 0.45 or len(ids) < 4:
        items: list[Any] = []
        for _ in range(rng.randint(1, 3)):
            item: dict[str, Any] = {"text": _sentence(rng), "namespace": ("t1", rng.choice("ab"))}
            if rng.random() < 0.5:
                item["session"] = f"s{rng.randint(1, 3)}"
            if rng.random() < 0.3:
                item["metadata"] = {"speaker": rng.choice(["Alice", "Bob", "Carol"])}
            if rng.random() < 0.2:
                item["timestamp"] = 1_700_000_000 + rng.randint(0, 10**7)
            if rng.random() < 0.1:
                item["text"] += " yesterday"
            if rng.random() < 0.1:
                item["salience"] = rng.random()
            items.append(item)
        if rng.random() < 0.15 and ids:
            older = writer.get(rng.choice(ids))
            items = [{**items[0], "namespace": older.namespace, "supersedes": older.id}]
        with_ids = writer.remember_many(items)
        ids.extend(i for i in with_ids if i not in ids)
    elif op < 0.65:
        target = rng.choice(ids)
        if rng.random() < 0.5:
            writer.update(target, text=_sentence(rng))
        else:
            writer.update(target, metadata={"speaker": rng.choice(["Dana", "Bob"]), "n": rng.randint(0, 9)})
    elif op < 0.8:
        ids.remove(target := rng.choice(ids))
        writer.forget(target)
    elif op < 0.93:
        a, b = rng.sample(ids, 2)
        if writer.get(a).namespace == writer.get(b).namespace:
            writer.associate(a, b, strength=rng.choice([0.5, 1.0, -2.0]))
    else:
        writer.consolidate(compact=rng.random() < 0.3)
        for memory_id in list(ids):  # merged away by consolidation
            try:
                writer.get(memory_id)
            except MemoryNotFoundError:
                ids.remove(memory_id)


@pytest.mark.parametrize("seed", [7, pytest.param(1234, marks=pytest.mark.slow)])
def test_incremental_catch_up_equals_a_full_reload_after_random_writes(postgres_url: str, seed: int) -> None:
    rng = random.Random(seed)
    with _engine(postgres_url) as writer, _engine(postgres_url) as held:
        ids = list(writer.remember_many([_sentence(rng) for _ in range(20)], namespace=("t1", "a"), session="s1"))
        writer.remember("another tenant's memory", namespace=("t2", "x"))
        part = _held(held)
        other = _held(held, ("t2",))
        for step in range(1, 241):
            _random_op(rng, writer, ids)
            if step % 4 == 0:
                assert _held(held) is part  # caught up in place, not dropped and loaded again
            if step % 40 == 0:
                _assert_like_a_fresh_load(postgres_url, part)
        _assert_like_a_fresh_load(postgres_url, part)
        assert part.catch_ups["incremental"] >= 40
        # A full reload only where the log cannot serve: compactions or bulk rewrites.
        assert part.catch_ups["full"] <= 12
        # The other tenant's partition changed only when consolidation passed through it, and holds only its own.
        assert _held(held, ("t2",)) is other and other.catch_ups["full"] == 0
        assert [m.text for m in held.list(("t2",))] == ["another tenant's memory"]
        _assert_like_a_fresh_load(postgres_url, other)
        # Recall agrees with a fresh engine's, hit for hit.
        with _engine(postgres_url) as fresh:
            for query in ("alice lisbon", "cello oboe learning", "greyhound pixel garden", "paris train coffee"):
                mine = held.recall(query, namespace=TENANT, k=8)
                theirs = fresh.recall(query, namespace=TENANT, k=8)
                assert [(h.memory.id, round(h.score, 5)) for h in mine] == [
                    (h.memory.id, round(h.score, 5)) for h in theirs
                ]
                assert all(h.memory.namespace[0] == "t1" for h in mine)


def test_a_write_is_applied_not_reloaded(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _engine(postgres_url) as writer, _engine(postgres_url) as held:
        first = writer.remember_many(["Alice lives in Lisbon.", "Bob plays the cello."], namespace=("t1", "a"))
        part = _held(held)
        loads: list[int] = []

        def iter_memories() -> Any:  # a full reload would read every record
            loads.append(1)
            return iter(())

        monkeypatch.setattr(part.store, "iter_memories", iter_memories)
        second = writer.remember("Alice started learning the oboe.", namespace=("t1", "a"), session="s1")
        writer.update(first[1], text="Bob plays the double bass.")
        writer.forget(first[0])
        assert held.recall("learning the oboe", namespace=TENANT, k=1)[0].memory.id == second
        assert held.recall("double bass", namespace=TENANT, k=1)[0].memory.id == first[1]
        assert first[0] not in part.id_slot and not loads
        assert part.catch_ups == {"incremental": 1, "full": 0}
        monkeypatch.undo()
        _assert_like_a_fresh_load(postgres_url, part)


def test_commits_that_land_out_of_order_are_both_applied(postgres_url: str) -> None:
    """Two transactions of one partition: the one that started first commits last; the reader gets both.

    Neither takes the partition's write lock, so nothing serialises them but the
    sequence itself, which is taken at commit under the catalogue row's lock: had the
    first transaction taken its number when it started, a reader that saw the
    second commit would have skipped the first one for good.
    """
    with _engine(postgres_url) as writer, _engine(postgres_url) as held:
        writer.remember("Alice lives in Lisbon.", namespace=("t1", "a"))
        part = _held(held)
        seq = part.seq
        stores = [PostgresStorage(postgres_url, durable=False) for _ in range(2)]
        inserted, release = threading.Event(), threading.Event()
        failures: list[BaseException] = []

        def record(slot: int, namespace: str) -> MemoryRecord:
            code = np.arange(CONFIG.code_k, dtype=np.uint16).tobytes()
            return MemoryRecord(
                slot, f"m{slot}", f'["t1","{namespace}"]', f"memory {slot} about the oboe", "{}", None, 1.0, 1.0,
                None, code, 0, 0,
            )  # fmt: skip

        def slow() -> None:
            try:
                with stores[0].transaction():
                    stores[0].partition(TENANT).insert_memories([record(100, "b")])  # type: ignore[union-attr]
                    inserted.set()
                    assert release.wait(timeout=30)
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)
                inserted.set()

        thread = threading.Thread(target=slow)
        thread.start()
        try:
            assert inserted.wait(timeout=30)
            with stores[1].transaction():
                stores[1].partition(TENANT).insert_memories([record(101, "c")])  # type: ignore[union-attr]
            assert _held(held) is part and "m101" in part.id_slot and "m100" not in part.id_slot
            assert part.seq == seq + 1
            release.set()
            thread.join(timeout=30)
            assert not failures
            assert _held(held) is part and {"m100", "m101"} <= part.id_slot.keys()
            assert part.seq == seq + 2 and part.catch_ups == {"incremental": 2, "full": 0}
        finally:
            release.set()
            thread.join(timeout=30)
            for store in stores:
                store.close()
        _assert_like_a_fresh_load(postgres_url, part)


def test_catch_up_reloads_in_full_when_the_log_cannot_serve_and_says_why(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _engine(postgres_url) as writer, _engine(postgres_url) as held:
        ids = writer.remember_many([f"note {i} about topic {i % 5}" for i in range(30)], namespace=("t1", "a"))
        part = _held(held)
        # The log was pruned past the sequence held.
        writer.remember("Alice moved to Porto.", namespace=("t1", "a"))
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DELETE FROM hippo_changes")
        assert _held(held) is part and part.catch_ups == {"incremental": 0, "full": 1}
        assert part.last_reload is not None and "no longer reaches back" in part.last_reload
        # Too far behind.
        monkeypatch.setattr(_postgres_partition, "MAX_CATCH_UP_COMMITS", 2)
        for i in range(3):
            writer.remember(f"late note {i}", namespace=("t1", "a"))
        _held(held)
        assert part.catch_ups["full"] == 2 and "commits behind" in (part.last_reload or "")
        # Another process compacted the partition: its vector rows were renumbered.
        writer.forget(ids[:10])
        writer.consolidate(compact=True)
        _held(held)
        assert part.catch_ups["full"] == 3 and "compact" in (part.last_reload or "")
        monkeypatch.undo()
        # And the log serves again from there on.
        writer.remember("Alice bought a bicycle.", namespace=("t1", "a"))
        _held(held)
        assert part.catch_ups == {"incremental": 1, "full": 3}
        _assert_like_a_fresh_load(postgres_url, part)


def test_load_and_catch_up_only_read(postgres_url: str, postgres_server: Any) -> None:
    """A reader whose role may only SELECT, in read-only transactions (a replica's situation), loads and catches up."""
    with _engine(postgres_url) as writer:
        writer.remember_many([f"note {i} about topic {i % 5}" for i in range(20)], namespace=("t1", "a"))
        writer.forget(writer.list(TENANT, limit=3)[0].id)
        writer.consolidate(compact=True)  # a compaction leaves an older generation behind it at most
        role = f"reader_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader'")
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
            conn.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        reader_url = postgres_url.replace(
            f"{_postgres_server.SUPERUSER}:{_postgres_server.PASSWORD}@", f"{role}:reader@"
        )
        with _engine(reader_url) as reader:
            part = _held(reader)
            written = writer.remember("Alice started learning the oboe.", namespace=("t1", "a"))
            writer.update(writer.list(TENANT, limit=1)[0].id, text="Bob plays the double bass.")
            hits = reader.recall("learning the oboe", namespace=TENANT, k=1)
            assert hits[0].memory.id == written
            assert part.catch_ups == {"incremental": 1, "full": 0}
            with pytest.raises(StoreError, match=r"permission denied|read-only"):
                reader.remember("a write through the reader", namespace=("t1", "a"))
            _assert_like_a_fresh_load(postgres_url, part)


def test_an_older_database_gains_the_change_log(postgres_url: str) -> None:
    """A database of schema version 1 (no change log) is upgraded once; its partitions catch up from then on."""
    from hippo_memory._postgres_schema import MIGRATIONS

    with _engine(postgres_url) as writer:
        writer.remember("Alice lives in Lisbon.", namespace=("t1", "a"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # back to version 1, data and sequences kept
        conn.execute("DROP TABLE hippo_changes")
        conn.execute("DELETE FROM hippo_migrations WHERE version > 1")
    with _engine(postgres_url) as writer, _engine(postgres_url) as held:
        part = _held(held)
        writer.remember("Bob plays the cello.", namespace=("t1", "a"))
        assert held.recall("cello", namespace=TENANT, k=1)[0].memory.text == "Bob plays the cello."
        assert part.catch_ups == {"incremental": 1, "full": 0}
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM hippo_migrations ORDER BY version")]
    assert versions == [m.version for m in MIGRATIONS]
