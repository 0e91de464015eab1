"""Consolidation and forgetting: write policy, supersession, decay, replay, merging,
TTL, export, compaction, concurrency and crash safety. Model-free (HashingEncoder)."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pytest

from hippo_memory import (
    HashingEncoder,
    HippoConfig,
    HippoMemory,
    InvalidConfigError,
    InvalidInputError,
    MemoryNotFoundError,
)
from hippo_memory._cli_consolidate import register_command
from hippo_memory._consolidation import (
    duplicate_groups,
    memory_strength,
    reinforced_stability,
    replay_priority,
)
from hippo_memory._policy import is_update, value_tokens

DAY = 86_400.0
T = TypeVar("T")
BASE = HippoConfig(code_dim=2048, code_k=32, durable=False)


class Clock:
    """A settable clock for the lifecycle."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float) -> None:
        self.now += days * DAY


def make(path: Path | None = None, clock: Clock | None = None, **settings: object) -> HippoMemory:
    memory = HippoMemory(path, encoder=HashingEncoder(128), config=BASE.model_copy(update=settings))
    if clock is not None:
        memory.clock = clock
    return memory


@pytest.fixture
def clock() -> Clock:
    return Clock()


def texts(result: object) -> list[str]:
    return [hit.memory.text for hit in result]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- pure functions
def test_strength_halves_per_half_life_and_reinforcement_follows_spacing() -> None:
    s = memory_strength(10.0, np.array([10.0, 0.0, -10.0]), np.array([10.0, 10.0, 10.0]))
    assert s.tolist() == pytest.approx([1.0, 0.5, 0.25])
    grown = reinforced_stability(np.array([10.0, 10.0]), np.array([1.0, 0.0]), 3.0)
    assert grown.tolist() == pytest.approx([10.0, 30.0])  # fresh gains nothing, faded triples
    priority = replay_priority(np.array([0.0, 1.0, 0.0]), np.array([0, 0, 5]), np.array([0.5, 0.5, 1.0]))
    assert priority[1] > priority[0] and priority[2] == 0.0


def test_duplicate_groups_merge_into_the_oldest() -> None:
    base = np.eye(4, dtype=np.float32)
    vectors = np.stack([base[0], base[1], base[0], base[0], base[1]])
    groups = np.array([0, 0, 0, 1, 0])
    fresh = np.array([False, False, True, True, True])
    assert duplicate_groups(vectors, groups, fresh, 0.99) == {2: 0, 4: 1}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "I've completed 4 projects since starting painting classes.",
            "I just finished my 5th project since starting painting classes!",
            True,
        ),
        (
            "I'm eligible for Premier Silver status on United Airlines.",
            "I just reached Premier Gold status on United Airlines.",
            True,
        ),
        ("I've tried out two of Emma's recipes.", "I've tried out 3 of Emma's recipes so far.", True),
        ("Alice lives in Lisbon.", "Alice lives in Lisbon with two cats.", False),  # a detail, not an update
        ("Do you have any suggestions?", "Do you have any suggestions for Paris?", False),
        ("I'm staying in Paris for 5 nights.", "I'm booking an apartment in the Latin Quarter of Paris.", False),
    ],
)
def test_update_heuristic(old: str, new: str, expected: bool) -> None:
    assert is_update(old, new) is expected


def test_value_tokens() -> None:
    numbers, names = value_tokens("Yesterday I met Priya in Porto and bought three books for 20 euros.")
    assert numbers == {"three", "20"}
    assert names == {"priya", "porto"}


# ---------------------------------------------------------------------------- write policy
@pytest.mark.parametrize("policy", ["store_all", "gate", "merge_duplicates"])
def test_adding_the_same_memory_twice_never_loses_it(tmp_path: Path, policy: str) -> None:
    memory = make(tmp_path / "s", write_policy=policy)
    first = memory.remember("Alice adopted a cat named Miso", namespace=("alice",))
    second = memory.remember("Alice adopted a cat named Miso", namespace=("alice",))
    assert (first == second) is (policy != "store_all")
    memory.consolidate(compact=True)
    for id_ in (first, second):
        assert memory.get(id_).text == "Alice adopted a cat named Miso"
    assert texts(memory.recall("cat named Miso", namespace=("alice",), k=1)) == ["Alice adopted a cat named Miso"]
    assert memory.count(("alice",)) == 1
    memory.close()
    reopened = make(tmp_path / "s")
    for id_ in (first, second):
        assert reopened.get(id_).text == "Alice adopted a cat named Miso"
    reopened.close()


@pytest.mark.parametrize("batch", [False, True], ids=["two-writes", "one-batch"])
@pytest.mark.parametrize("policy", ["store_all", "gate", "merge_duplicates"])
def test_a_duplicate_without_ttl_outlives_the_temporary_copy(
    store_path: Path, clock: Clock, policy: str, batch: bool
) -> None:
    # The same fact written first for an hour, then for good: skipping, merging at write
    # time or merging by consolidation must not tie the permanent write to the ttl.
    memory = make(store_path, clock=clock, write_policy=policy)
    text = "the spare key is under the blue flowerpot"
    if batch:
        first, second = memory.remember_many([{"text": text, "ttl": 3600}, {"text": text}])
    else:
        first = memory.remember(text, ttl=3600)
        second = memory.remember(text)
    memory.consolidate()  # merges the two under store_all
    assert memory.get(second).expires_at is None
    memory.close()
    reopened = make(store_path, clock=clock)  # the later expiry was persisted
    clock.advance(2 / 24)
    reopened.consolidate()
    for id_ in (first, second) if policy != "store_all" else (second,):
        assert reopened.get(id_).text == text
    assert texts(reopened.recall("where is the spare key", k=1)) == [text]
    reopened.close()


def test_a_duplicate_extends_a_ttl_and_never_shortens_it(clock: Clock) -> None:
    memory = make(clock=clock, write_policy="gate")
    a = memory.remember("the printer code is 5521", ttl=3600)
    assert memory.remember("the printer code is 5521", ttl=7200) == a
    assert memory.get(a).expires_at == datetime.fromtimestamp(clock.now + 7200, tz=UTC)
    assert memory.remember("the printer code is 5521", ttl=60) == a
    assert memory.get(a).expires_at == datetime.fromtimestamp(clock.now + 7200, tz=UTC)
    clock.advance(1.5 / 24)
    assert memory.consolidate().expired == 0
    clock.advance(1 / 24)
    assert memory.consolidate().expired == 1
    memory.close()


def test_gate_skips_duplicates_unless_salient_and_counts_decisions() -> None:
    memory = make(write_policy="gate", novelty_threshold=0.1, salience_threshold=0.5)
    a = memory.remember("the server password rotates every monday")
    assert memory.remember("the server password rotates every monday") == a
    assert memory.remember("The server password rotates every Monday!") == a
    salient = memory.remember("the server password rotates every monday", salience=0.9)
    assert salient != a
    b = memory.remember("lunch is at noon in the cafeteria")
    assert b not in (a, salient)
    stats = memory.stats()["write_policy"]
    assert stats == {"stored": 3, "skipped": 2, "merged": 0, "superseded": 0}
    assert memory.get(a).access_count == 2  # a repeated write rehearses the memory
    assert memory.get(salient).salience == 0.9
    memory.close()


def test_gate_counts_survive_reopen(store_path: Path) -> None:
    memory = make(store_path, write_policy="gate")
    memory.remember_many(["one fact here", "one fact here", "another fact"])
    memory.close()
    reopened = make(store_path)
    assert reopened.stats()["write_policy"]["skipped"] == 1
    reopened.close()


def test_novelty_and_salience_are_recorded() -> None:
    memory = make()
    a = memory.remember("Bob plays the cello on Sundays", salience=True)
    b = memory.remember("Bob plays the cello on Sundays")
    c = memory.remember("Carol builds model ships", namespace=("other",))
    assert memory.get(a).novelty == 1.0 and memory.get(a).salience == 1.0
    assert memory.get(b).novelty == pytest.approx(0.0, abs=1e-5)
    assert memory.get(b).salience == 0.0
    assert memory.get(c).novelty == 1.0  # novelty is measured within the namespace
    with pytest.raises(InvalidInputError):
        memory.remember("x", salience=1.5)
    with pytest.raises(InvalidInputError):
        memory.remember("x", ttl=-1)
    with pytest.raises(InvalidConfigError):
        HippoConfig.create(write_policy="keep_some")
    memory.close()


def test_merge_duplicates_policy_keeps_both_wordings() -> None:
    memory = make(write_policy="merge_duplicates", novelty_threshold=0.45)
    a = memory.remember("Dana keeps her passport in the blue drawer")
    b = memory.remember("Dana keeps her passport in the blue drawer of the desk", salience=0.7)
    assert a == b
    merged = memory.get(a)
    assert any(c.kind == "merged" and "desk" in c.text for c in merged.cues)
    assert merged.salience == 0.7
    hit = memory.recall("passport drawer of the desk", k=1)[0]
    assert hit.memory.id == a
    assert memory.stats()["write_policy"]["merged"] == 1
    memory.close()


# ---------------------------------------------------------------------------- supersession
def test_explicit_supersession_hides_the_old_version() -> None:
    memory = make()
    old = memory.remember("Alice lives in Lisbon", namespace=("alice",))
    new = memory.remember("Alice lives in Porto now", namespace=("alice",), supersedes=old)
    assert memory.get(old).superseded_by == new
    assert texts(memory.recall("Where does Alice live?", namespace=("alice",))) == ["Alice lives in Porto now"]
    both = memory.recall("Alice lives in Lisbon", namespace=("alice",), include_superseded=True)
    assert texts(both) == ["Alice lives in Porto now", "Alice lives in Lisbon"]  # old ranked below
    memory.forget(new)  # the newer version is gone: the old one is current again
    assert memory.get(old).superseded_by is None
    assert texts(memory.recall("Where does Alice live?", namespace=("alice",))) == ["Alice lives in Lisbon"]
    with pytest.raises(MemoryNotFoundError):
        memory.remember("x", supersedes="no-such-id")
    memory.close()


def test_supersede_method_persists(store_path: Path) -> None:
    memory = make(store_path)
    old = memory.remember("the team meets on Tuesdays")
    new = memory.remember("the team meets on Thursdays")
    memory.supersede(old, new)
    with pytest.raises(InvalidInputError):
        memory.supersede(old, old)
    with pytest.raises(InvalidInputError):
        memory.supersede(new, old)
    memory.close()
    reopened = make(store_path)
    assert reopened.get(old).superseded_by == new
    assert texts(reopened.recall("when does the team meet", k=5)) == ["the team meets on Thursdays"]
    assert reopened.stats()["superseded"] == 1
    reopened.close()


def test_detected_supersession_uses_timestamps() -> None:
    memory = make(detect_supersession=True, supersede_similarity=0.3)
    lisbon = memory.remember("Alice lives in Lisbon.", timestamp="2023-01-01")
    porto = memory.remember("These days Alice lives in Porto.", timestamp="2024-01-01")
    assert memory.get(lisbon).superseded_by == porto
    # an older fact arriving late is superseded on arrival
    braga = memory.remember("Back then Alice lived in Braga.", timestamp="2020-06-01")
    unrelated = memory.remember("Bob lives in Oslo.", timestamp="2025-01-01")
    assert memory.get(unrelated).superseded_by is None
    assert memory.get(porto).superseded_by is None
    assert texts(memory.recall("Where does Alice live?", k=2))[0] == "These days Alice lives in Porto."
    assert braga in {m.id for m in memory.list()}
    memory.close()


def test_detected_supersession_within_one_batch() -> None:
    memory = make(detect_supersession=True, supersede_similarity=0.3)
    old, new = memory.remember_many(
        [
            {"text": "I have read 200 pages of Dune.", "timestamp": "2023-05-01"},
            {"text": "I have read 320 pages of Dune.", "timestamp": "2023-06-01"},
        ]
    )
    assert memory.get(old).superseded_by == new
    assert memory.stats()["write_policy"]["superseded"] == 1
    memory.close()


# ---------------------------------------------------------------------------- forgetting
def test_ttl_hides_then_consolidation_removes(clock: Clock) -> None:
    memory = make(clock=clock)
    temp = memory.remember("parking spot is B12 today", ttl=3600)
    keep = memory.remember("parking permit expires in June")
    assert memory.get(temp).expires_at == datetime.fromtimestamp(clock.now + 3600, tz=UTC)
    assert temp in {h.memory.id for h in memory.recall("parking spot", k=2)}
    clock.advance(1 / 24 + 1e-3)
    assert texts(memory.recall("parking spot", k=2)) == ["parking permit expires in June"]
    report = memory.consolidate()
    assert report.expired == 1
    with pytest.raises(MemoryNotFoundError):
        memory.get(temp)
    assert memory.get(keep).text == "parking permit expires in June"
    memory.close()


def test_forget_before(clock: Clock) -> None:
    memory = make(clock=clock)
    memory.remember("old trip to Rome", timestamp="2020-03-01", namespace=("a",))
    memory.remember("old trip to Oslo", timestamp="2020-04-01", namespace=("b",))
    recent = memory.remember("recent trip to Lima", timestamp="2024-03-01", namespace=("a",))
    undated = memory.remember("an undated note", namespace=("a",))
    assert memory.forget_before(datetime(2021, 1, 1, tzinfo=UTC), namespace=("a",)) == 1
    assert memory.count() == 3
    assert memory.forget_before("2021-01-01") == 1
    assert {m.id for m in memory.list()} == {recent, undated}
    assert memory.forget_before(clock.now + 1) == 1  # undated memories count from when they were stored
    assert [m.id for m in memory.list()] == [recent]
    memory.close()


def test_decay_forgets_unreplayed_memories_and_replay_keeps_them(clock: Clock) -> None:
    settings = {"half_life_days": 1.0, "forget_below": 0.1, "stability_growth": 3.0}
    outcome = {}
    for budget in (0, 10):
        memory = make(clock=clock, **settings)
        ids = memory.remember_many([f"fact number {i} about the garden" for i in range(10)])
        for _ in range(6):
            clock.advance(1)
            memory.consolidate(replay_budget=budget)
        outcome[budget] = sum(1 for i in ids if i in {m.id for m in memory.list()})
        memory.close()
    assert outcome == {0: 0, 10: 10}


def test_replay_prefers_salient_and_accessed_memories(clock: Clock) -> None:
    memory = make(clock=clock, half_life_days=1.0, forget_below=0.2)
    plain = memory.remember("plain note about paint")
    salient = memory.remember("salient note about keys", salience=1.0)
    accessed = memory.remember("accessed note about bread")
    clock.advance(1.5)
    memory.recall("accessed note about bread", k=1)  # an access resets its clock
    clock.advance(1.5)
    report = memory.consolidate(replay_budget=1)
    assert report.replayed == 1
    alive = {m.id for m in memory.list()}
    assert salient in alive  # slower decay and replayed first
    assert accessed in alive  # reinforced by the recall
    assert plain not in alive and report.decayed == 1
    memory.close()


def test_access_counts_are_flushed_and_reinforce(store_path: Path, clock: Clock) -> None:
    memory = make(store_path, clock=clock, half_life_days=2.0)
    a = memory.remember("the wifi code is on the fridge")
    clock.advance(2)
    assert memory.get(a).strength == pytest.approx(0.5)
    memory.recall("wifi code", k=1)
    memory.recall("wifi code", k=1)
    got = memory.get(a)
    assert got.access_count == 2 and got.strength == pytest.approx(1.0)
    clock.advance(3)  # the first recall doubled the half-life (growth 2 at strength 0.5: 1.5x)
    assert memory.get(a).strength == pytest.approx(2 ** (-3 / 3.0), rel=1e-3)
    assert memory.stats()["accesses_unflushed"] == 1
    memory.close()  # flushed on close
    reopened = make(store_path, clock=clock)
    assert reopened.get(a).access_count == 2
    reopened.recall("wifi code", k=1)
    assert reopened.consolidate().accesses_flushed == 1
    reopened.close()


def test_capacity_evicts_the_weakest(clock: Clock) -> None:
    memory = make(clock=clock, max_memories=3, half_life_days=1.0)
    ids = []
    for i in range(5):
        ids.append(memory.remember(f"note {i} about topic {'abcde'[i]}", namespace=("n",)))
        clock.advance(0.5)
    memory.remember("another namespace is not counted", namespace=("m",))
    memory.recall("note 0 about topic a", namespace=("n",), k=1)
    report = memory.consolidate(replay=False)
    assert report.evicted == 2
    alive = {m.id for m in memory.list(("n",))}
    assert alive == {ids[0], ids[3], ids[4]}
    assert memory.count(("m",)) == 1
    memory.close()


# ---------------------------------------------------------------------------- associations
def test_links_decay_are_repotentiated_by_replay_and_pruned(clock: Clock) -> None:
    memory = make(clock=clock, link_half_life_days=1.0, link_prune_below=0.2, replay_rate=1.0)
    ids = memory.remember_many(["first step", "second step", "third step"], session="s")
    assert memory.associations(ids[0]) == [(ids[1], 1.0)]
    clock.advance(1)
    memory.consolidate(replay=False)
    assert memory.associations(ids[0]) == [(ids[1], pytest.approx(0.5))]
    assert memory.associations(ids[1]) == [(ids[2], pytest.approx(0.5)), (ids[0], pytest.approx(0.25))]
    clock.advance(1)
    report = memory.consolidate(replay=False)
    assert report.links_pruned == 2  # the 0.125 backward links fell below 0.2
    assert memory.associations(ids[1]) == [(ids[2], pytest.approx(0.25))]
    clock.advance(1)  # replay re-potentiates (x2): 0.25 * 0.5 * 2 stays above the pruning line
    report = memory.consolidate(replay_budget=3)
    assert report.replayed == 3 and report.links_pruned == 0
    assert memory.associations(ids[1]) == [(ids[2], pytest.approx(0.25))]
    clock.advance(1)  # without replay the same link would fall to 0.125 and be pruned
    assert memory.consolidate(replay=False).links_pruned == 2
    memory.close()


def test_homeostasis_caps_outgoing_strength() -> None:
    memory = make(max_out_strength=2.0)
    hub, *spokes = memory.remember_many(["hub memory", "spoke one", "spoke two", "spoke three", "spoke four"])
    for spoke in spokes:
        memory.associate(hub, spoke, strength=1.0)
    memory.consolidate(replay=False, decay=False)
    strengths = [s for _, s in memory.associations(hub)]
    assert sum(strengths) == pytest.approx(2.0)
    assert strengths == pytest.approx([0.5] * 4)
    memory.close()


# ---------------------------------------------------------------------------- merging
def test_consolidation_merges_near_duplicates_with_provenance(store_path: Path) -> None:
    memory = make(store_path, merge_similarity=0.8)
    a = memory.remember("Erin's locker code is 4417", session="s")
    other = memory.remember("Erin goes swimming after work", session="s")
    b = memory.remember("Erin's locker code is 4417 at the gym", session="t")
    elsewhere = memory.remember("Erin's locker code is 4417", namespace=("elsewhere",))
    memory.associate(other, b, strength=0.7)
    report = memory.consolidate(replay=False)
    assert report.merged == 1
    survivor = memory.get(b)
    assert survivor.id == a and survivor.merged_from == (b,)
    assert any(c.kind == "merged" and c.text.endswith("at the gym") for c in survivor.cues)
    assert memory.get(elsewhere).id == elsewhere  # other namespaces are not merged
    assert dict(memory.associations(other))[a] == pytest.approx(0.7 + 0.5)  # re-pointed and summed
    assert memory.recall("locker code at the gym", namespace=("default",), k=1)[0].memory.id == a
    assert memory.consolidate().merged == 0  # only new memories are compared again
    memory.close()
    reopened = make(store_path)
    assert reopened.get(b).id == a
    assert reopened.get(a).merged_from == (b,)
    reopened.close()


# ---------------------------------------------------------------------------- export
def test_export_jsonl(tmp_path: Path) -> None:
    memory = make()
    old = memory.remember("Finn works at the bakery", namespace=("finn",), metadata={"src": "chat"}, salience=0.4)
    new = memory.remember("Finn works at the library", namespace=("finn",), supersedes=old)
    memory.remember("Gus likes chess", namespace=("gus",))
    target = tmp_path / "out" / "finn.jsonl"
    assert memory.export_jsonl(target, namespace=("finn",)) == 1
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["id"] for r in rows] == [new]
    assert rows[0]["namespace"] == ["finn"] and rows[0]["cues"][0] == {
        "text": "Finn works at the library",
        "kind": "text",
    }
    assert memory.export_jsonl(target, include_superseded=True) == 3
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows[0]["superseded_by"] == new and rows[0]["metadata"] == {"src": "chat"} and rows[0]["salience"] == 0.4
    assert not list(target.parent.glob(".*.tmp"))
    memory.close()


# ---------------------------------------------------------------------------- compaction
def test_compaction_rewrites_the_vector_file(store_path: Path) -> None:
    memory = make(store_path)
    ids = memory.remember_many([f"memory {i} about {w}" for i, w in enumerate("abcdefghijklmnopqrst")])
    memory.forget(ids[:12])
    before = {q: texts(memory.recall(q, k=3)) for q in ("memory 15 about p", "about t", "memory 12")}
    report = memory.consolidate()
    assert report.compacted and report.rows_after < report.rows_before
    assert sorted(p.name for p in store_path.glob("partitions/*.f32")) == ["p1.1.f32"]
    assert {q: texts(memory.recall(q, k=3)) for q in before} == before
    extra = memory.remember("written after compaction")
    memory.close()
    reopened = make(store_path)
    assert {q: texts(reopened.recall(q, k=3)) for q in before} == before
    assert reopened.get(extra).text == "written after compaction"
    reopened.forget(extra)
    assert reopened.consolidate(compact=True).rows_after == reopened.stats()["cue_vectors"]
    assert sorted(p.name for p in store_path.glob("partitions/*.f32")) == ["p1.2.f32"]
    reopened.close()


def test_stale_generation_files_are_removed_on_open(store_path: Path) -> None:
    memory = make(store_path)
    memory.remember("kept")
    memory.close()
    (store_path / "partitions" / "p1.7.f32").write_bytes(b"\0" * 512)  # from an interrupted compaction
    reopened = make(store_path)
    assert texts(reopened.recall("kept", k=1)) == ["kept"]  # loads the partition, then removes leftovers
    assert not (store_path / "partitions" / "p1.7.f32").exists()
    assert texts(reopened.recall("kept", k=1)) == ["kept"]
    reopened.close()


def _unblocked(fn: Callable[[], T], timeout: float = 20.0) -> T:
    """Run ``fn`` in another thread and fail if it does not return in time (blocked on a lock)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # pragma: no cover - re-raised below
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked while a consolidation pass was running"
    if "error" in out:
        raise out["error"]
    return cast(T, out["value"])


def test_recall_and_writes_proceed_while_compaction_copies(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = make(store_path)
    ids = memory.remember_many([f"archive entry {i} on {w}" for i, w in enumerate("abcdefghijklmnopqrst")])
    memory.forget(ids[:10])
    copied, release = threading.Event(), threading.Event()
    part = memory._partition(("default",))
    assert part is not None
    store = part.store
    write = store.write_vector_file

    def paused(name: str, vectors: Any, *, first_row: int = 0) -> None:
        write(name, vectors, first_row=first_row)
        if not copied.is_set():  # the unlocked copy; the catch-up write runs under the lock
            copied.set()
            release.wait(60)

    monkeypatch.setattr(store, "write_vector_file", paused)
    reports: list[Any] = []
    worker = threading.Thread(target=lambda: reports.append(memory.consolidate(compact=True)))
    worker.start()
    try:
        assert copied.wait(60)
        hit = _unblocked(lambda: memory.recall("archive entry 15 on p", k=1)[0])
        assert hit.memory.id == ids[15]
        new = _unblocked(lambda: memory.remember("written while compaction was copying"))
        _unblocked(lambda: memory.forget(ids[12]))
        assert not reports
    finally:
        release.set()
        worker.join(60)
    (report,) = reports
    # 10 rows copied + 1 written meanwhile; the one forgotten meanwhile is a dead row of the new file
    assert report.compacted and (report.rows_before, report.rows_after) == (20, 12)
    assert memory.stats()["cue_vectors"] == 11
    assert texts(memory.recall("written while compaction was copying", k=1)) == ["written while compaction was copying"]
    assert ids[12] not in {h.memory.id for h in memory.recall("archive entry 12 on m", k=10)}
    assert memory.recall("archive entry 15 on p", k=1)[0].memory.id == ids[15]
    kept = {m.id for m in memory.list()}
    assert kept == set(ids[10:12]) | set(ids[13:]) | {new}
    memory.close()
    reopened = make(store_path)
    assert {m.id for m in reopened.list()} == kept
    assert reopened.recall("archive entry 15 on p", k=1)[0].memory.id == ids[15]
    reopened.close()


async def test_aconsolidate() -> None:
    memory = make()
    memory.remember_many(["alpha note", "alpha note"])
    report = await memory.aconsolidate(full=True)
    assert report.merged == 1
    memory.close()


# ---------------------------------------------------------------------------- crash safety
CRASH_CONFIG = HippoConfig(code_dim=1024, code_k=16, merge_similarity=0.9)


@pytest.fixture(scope="module")
def crash_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A store with duplicates to merge and dead rows to compact, built once."""
    path = tmp_path_factory.mktemp("crash") / "template"
    memory = HippoMemory(path, encoder=HashingEncoder(64), config=CRASH_CONFIG)
    ids = memory.remember_many(
        [f"crash memory {i} about {i % 13}" for i in range(120)]
        + [f"crash memory {i} about {i % 13}" for i in range(0, 120, 5)],
        session="s",
    )
    gone = set(ids[1:60:4])
    memory.forget(sorted(gone))
    memory.close()
    return path, [i for i in ids if i not in gone]


_SLEEP = textwrap.dedent(
    """
    import sys
    from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
    config = HippoConfig(code_dim=1024, code_k=16, merge_similarity=0.9)
    memory = HippoMemory(sys.argv[1], encoder=HashingEncoder(64), config=config)
    memory.consolidate(compact=True, full=True)
    print("done", flush=True)
    memory.close()
    """
)

_POINTS = [
    "consolidate:planned",
    "consolidate:appended",
    "consolidate:in-transaction",
    "consolidate:committed",
    "compact:written",
    "compact:remapped",
    "compact:committed",
]


def _run(script: str, path: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HIPPO_MEMORY_FAULT", None)
    if fault:
        env["HIPPO_MEMORY_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env, timeout=120
    )


def _check_store(path: Path, ids: list[str]) -> None:
    memory = HippoMemory(path, encoder=HashingEncoder(64))
    for id_ in ids:
        memory.get(id_)  # survives, merged or not
    texts_before = {memory.get(i).text for i in ids}
    assert {m.text for m in memory.list()} == texts_before
    hit = memory.recall("crash memory 7 about 7", k=1)[0]
    assert hit.memory.text == "crash memory 7 about 7"
    memory.remember("writable after the crash")
    memory.consolidate(compact=True, full=True)  # and a later pass completes
    for id_ in ids:
        memory.get(id_)
    memory.close()


@pytest.mark.parametrize("point", _POINTS)
def test_kill_9_during_consolidation_loses_nothing(
    tmp_path: Path, point: str, crash_template: tuple[Path, list[str]]
) -> None:
    template, ids = crash_template
    path = tmp_path / "store"
    shutil.copytree(template, path)
    crashed = _run(_SLEEP, path, fault=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    _check_store(path, ids)


_LOOP = textwrap.dedent(
    """
    import sys
    from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
    config = HippoConfig(code_dim=1024, code_k=16, merge_similarity=0.9, compact_dead_fraction=0.05)
    memory = HippoMemory(sys.argv[1], encoder=HashingEncoder(64), config=config)
    night = 0
    while True:
        batch = memory.remember_many(
            [f"loop memory {night} {i} about {i % 7}" for i in range(30)]
            + [f"loop memory {night} {i} about {i % 7}" for i in range(0, 30, 3)], session=str(night))
        memory.forget(batch[:5])
        print("ack", *sorted(set(batch[5:])), flush=True)
        memory.consolidate(full=True)
        night += 1
    """
)


@pytest.mark.parametrize("delay", [0.9, 1.7, 2.6])
def test_kill_9_at_random_times_keeps_every_acknowledged_memory(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "store"
    process = subprocess.Popen(
        [sys.executable, "-c", _LOOP, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "HIPPO_MEMORY_FAULT"},
    )
    lines: list[str] = []
    deadline = time.time() + 60
    while not lines and time.time() < deadline:  # at least one night acknowledged
        line = process.stdout.readline() if process.stdout else ""
        if line:
            lines.append(line)
    time.sleep(delay * random.Random(delay).random())
    os.kill(process.pid, signal.SIGKILL)
    rest, _ = process.communicate()
    lines += rest.splitlines()
    acknowledged = [i for line in lines if line.startswith("ack") for i in line.split()[1:]]
    assert acknowledged
    memory = HippoMemory(path, encoder=HashingEncoder(64))
    for id_ in acknowledged:
        assert memory.get(id_).text.startswith("loop memory")
    assert memory.recall("loop memory 0 7 about 0", k=1)[0].memory.text == "loop memory 0 7 about 0"
    memory.close()


# ---------------------------------------------------------------------------- command line
def test_consolidate_command(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memory = make(store_path, merge_similarity=0.9)
    memory.remember_many(["note for the command", "note for the command"])
    memory.close()
    parser = argparse.ArgumentParser()
    parser.add_argument("--store")
    parser.add_argument("--encoder")
    register_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["--store", str(store_path), "--encoder", "hashing:128", "consolidate", "--full", "--json"]
    )
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["merged"] == 1 and report["memories_after"] == 1


def test_supersession_compares_sentences_of_longer_memories() -> None:
    memory = make(detect_supersession=True, supersede_similarity=0.3)
    old = memory.remember("We talked about the move for a long time. Alice lives in Lisbon.", timestamp="2023-01-01")
    new = memory.remember("These days Alice lives in Porto.", timestamp="2024-01-01")
    assert memory.get(old).superseded_by == new
    # whole multi-sentence texts are not compared as one sentence
    a = memory.remember("Tom has 3 cats at home. The garden is big.", timestamp="2024-02-01")
    b = memory.remember("Tom planted 12 roses there. The garden is small.", timestamp="2024-03-01")
    assert is_update("Tom has 3 cats at home. The garden is big.", "Tom planted 12 roses there. The garden is small.")
    assert memory.get(a).superseded_by is None and memory.get(b).superseded_by is None
    memory.close()


# ---------------------------------------------------------------------------- benchmark smoke test
def test_nightly_benchmark_runs_and_replay_matters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hippo_memory.bench._nightly import register_command as register_bench

    parser = argparse.ArgumentParser()
    register_bench(parser.add_subparsers(dest="benchmark"))
    out = tmp_path / "nightly.json"
    args = parser.parse_args(
        [
            "nightly",
            "--encoder",
            "hashing:128",
            "--days",
            "4",
            "--per-day",
            "20",
            "--budget",
            "20",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert args.func(args) == 0
    assert "prioritised replay" in capsys.readouterr().out
    report = json.loads(out.read_text())
    first_day = {arm: data["per_day"][0]["retained"] for arm, data in report["arms"].items()}
    assert first_day["no replay"] < 0.5 < first_day["prioritised replay"]


def test_a_failed_commit_changes_nothing(store_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    import hippo_memory._consolidation as consolidation

    memory = make(store_path, clock=clock, merge_similarity=0.9)
    a, b = memory.remember_many(["the same note twice", "the same note twice"])
    memory.recall("the same note", k=2)
    clock.advance(1)
    before = [memory.get(a), memory.get(b)]

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(consolidation, "_commit_sql", fail)
    with pytest.raises(RuntimeError):
        memory.consolidate(full=True)
    assert [memory.get(a), memory.get(b)] == before
    monkeypatch.undo()
    assert memory.consolidate(full=True).merged == 1
    assert memory.get(b).id == a and memory.get(a).access_count == 2
    memory.close()


def test_knowledge_update_benchmark_on_a_small_fixture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hippo_memory.bench._nightly import register_command as register_bench

    def session(*texts: str) -> list[dict[str, str]]:
        return [
            turn
            for text in texts
            for turn in ({"role": "user", "content": text}, {"role": "assistant", "content": "ok"})
        ]

    item = {
        "question_id": "ku1",
        "question_type": "knowledge-update",
        "question": "How many pages of Dune have I read?",
        "answer": "320",
        "question_date": "2023/07/01 (Sat) 10:00",
        "haystack_session_ids": ["new", "old", "other"],
        "haystack_dates": ["2023/06/01 (Thu) 10:00", "2023/05/01 (Mon) 10:00", "2023/05/15 (Mon) 10:00"],
        "haystack_sessions": [
            session("I have read 320 pages of Dune.", "The desert planet is vivid."),
            session("I have read 200 pages of Dune.", "Spice is the key resource."),
            session("My sister adopted a kitten.", "We named the kitten Miso."),
        ],
        "answer_session_ids": ["old", "new"],
    }
    data = tmp_path / "lme.json"
    data.write_text(json.dumps([item, {**item, "question_id": "ku1_abs"}, {**item, "question_type": "other"}]))
    parser = argparse.ArgumentParser()
    register_bench(parser.add_subparsers(dest="benchmark"))
    out = tmp_path / "ku.json"
    argv = ["knowledge-update", str(data), "--encoder", "hashing:128", "--json", str(out), "--quiet"]
    args = parser.parse_args([*argv, "--config", "lexical_weight=0", "--config", "spread=0"])
    assert args.func(args) == 0
    assert "lexical_weight 0, spread 0" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["questions"] == 1 and report["settings"]["config"] == {"lexical_weight": 0, "spread": 0}
    hidden = report["per_question"][0]["systems"]["with supersession (hidden)"]
    assert hidden["superseded_turns"] == 1 and hidden["outdated_rank"] != 0 and hidden["latest_above"]
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--config", "lexical_weight"])
    with pytest.raises(InvalidConfigError):
        args.func(parser.parse_args([*argv, "--config", "lexical_weight=-1"]))
    with pytest.raises(InvalidConfigError):
        args.func(parser.parse_args([*argv, "--config", "no_such_field=1"]))
