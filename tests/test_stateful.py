"""Keep-out state-machine and concurrency tests against the public API.

A hypothesis ``RuleBasedStateMachine`` drives remember / remember_many / update /
forget / recall / list / get / associate / forget_namespace over four namespaces
and keeps a model of what must be stored. Invariants: every call succeeds or raises
a :class:`HippoMemoryError`, nothing committed is lost, and recall or list in a
namespace never returns another namespace's memory.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, HippoMemoryError, Namespace

_NAMESPACES: list[Namespace] = [("t1",), ("t2",), ("t2", "sub"), ("t3",)]
_WORDS = ["apple", "berry", "cider", "dates", "eggs", "figs", "grape", "honey", "ice", "jam"]
_CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False)


def _under(namespace: Namespace, prefix: Namespace) -> bool:
    return namespace[: len(prefix)] == prefix


class _MemoryMachine(RuleBasedStateMachine):
    """The model: id -> (text, namespace, metadata as canonical JSON)."""

    def __init__(self) -> None:
        super().__init__()
        self.memory = HippoMemory(None, encoder=HashingEncoder(dim=64), config=_CONFIG)
        self.model: dict[str, tuple[str, Namespace, str]] = {}
        self.counter = 0

    @initialize()
    def start(self) -> None:
        self.memory.remember("seed memory apple", namespace=("t1",))
        self.model[self.memory.list()[0].id] = ("seed memory apple", ("t1",), "{}")

    def _text(self, words: list[str]) -> str:
        self.counter += 1
        return f"note {self.counter} " + " ".join(words)

    def _ids(self, namespace: Namespace | None = None) -> list[str]:
        return sorted(i for i, (_, ns, _) in self.model.items() if namespace is None or _under(ns, namespace))

    # -------------------------------------------------------------- writes
    @rule(namespace=st.sampled_from(_NAMESPACES), words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4))
    def remember(self, namespace: Namespace, words: list[str]) -> None:
        text = self._text(words)
        metadata = {"w": words[0], "n": self.counter}
        memory_id = self.memory.remember(text, namespace=namespace, metadata=metadata, session=namespace[-1])
        self.model[memory_id] = (text, namespace, json.dumps(metadata, sort_keys=True))

    @rule(namespace=st.sampled_from(_NAMESPACES), n=st.integers(0, 4), poison=st.booleans())
    def remember_many(self, namespace: Namespace, n: int, poison: bool) -> None:
        texts = [self._text([_WORDS[i % len(_WORDS)]]) for i in range(n)]
        items: list[Any] = [*texts, ""] if poison else texts
        try:
            ids = self.memory.remember_many(items, namespace=namespace)
        except HippoMemoryError:
            assert poison, "a valid batch was rejected"
            return
        assert not poison, "a batch with a blank item was accepted"
        for memory_id, text in zip(ids, texts, strict=True):
            self.model[memory_id] = (text, namespace, "{}")

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3), what=st.integers(0, 2))
    def update(self, data: st.DataObject, words: list[str], what: int) -> None:
        memory_id = data.draw(st.sampled_from(self._ids()))
        text, namespace, metadata = self.model[memory_id]
        if what in (0, 2):
            text = self._text(words)
        if what in (1, 2):
            metadata = json.dumps({"updated": words}, sort_keys=True)
        self.memory.update(
            memory_id, text=text if what != 1 else None, metadata=json.loads(metadata) if what != 0 else None
        )
        self.model[memory_id] = (text, namespace, metadata)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def forget(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self._ids()), min_size=1, max_size=2, unique=True))
        assert self.memory.forget(ids) == len(ids)
        for memory_id in ids:
            del self.model[memory_id]

    @rule(data=st.data())
    def forget_unknown(self, data: st.DataObject) -> None:
        known = self._ids()
        ids = [*(data.draw(st.lists(st.sampled_from(known), max_size=1)) if known else []), "no-such-id"]
        with pytest.raises(HippoMemoryError):
            self.memory.forget(ids)  # all or nothing: the known id survives

    @rule(namespace=st.sampled_from(_NAMESPACES))
    def forget_namespace(self, namespace: Namespace) -> None:
        doomed = self._ids(namespace)
        assert self.memory.forget_namespace(namespace) == len(doomed)
        for memory_id in doomed:
            del self.model[memory_id]

    @rule(data=st.data(), strength=st.floats(-2, 2, allow_nan=False))
    def associate(self, data: st.DataObject, strength: float) -> None:
        ids = self._ids()
        if len(ids) < 2:
            return
        source, target = data.draw(st.lists(st.sampled_from(ids), min_size=2, max_size=2, unique=True))
        same = self.model[source][1] == self.model[target][1]
        try:
            self.memory.associate(source, target, strength=strength)
        except HippoMemoryError:
            assert not same, "an association within one namespace was rejected"

    # -------------------------------------------------------------- reads
    @rule(namespace=st.sampled_from([None, *_NAMESPACES]), words=st.lists(st.sampled_from(_WORDS), max_size=3))
    def recall(self, namespace: Namespace | None, words: list[str]) -> None:
        query = "note " + " ".join(words)
        try:
            result = self.memory.recall(query, namespace=namespace, k=5)
        except HippoMemoryError:
            assert namespace is not None and not self._ids(namespace), "recall failed in a non-empty namespace"
            return
        for hit in result.hits:
            assert hit.memory.id in self.model, "recall returned a forgotten memory"
            assert namespace is None or _under(hit.memory.namespace, namespace), "recall leaked another namespace"
            assert hit.memory.text == self.model[hit.memory.id][0]

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def recall_own_text(self, data: st.DataObject) -> None:
        memory_id = data.draw(st.sampled_from(self._ids()))
        text, namespace, _ = self.model[memory_id]
        hits = self.memory.recall(text, namespace=namespace, k=10).hits
        assert memory_id in [hit.memory.id for hit in hits], "a stored memory is not recallable by its own text"

    @rule(namespace=st.sampled_from([None, *_NAMESPACES]))
    def list_namespace(self, namespace: Namespace | None) -> None:
        listed = self.memory.list(namespace)
        assert sorted(m.id for m in listed) == self._ids(namespace)
        assert self.memory.count(namespace) == len(listed)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        memory_id = data.draw(st.sampled_from(self._ids()))
        stored = self.memory.get(memory_id)
        assert (stored.text, stored.namespace, json.dumps(dict(stored.metadata), sort_keys=True)) == self.model[
            memory_id
        ]

    @invariant()
    def nothing_committed_is_lost(self) -> None:
        assert self.memory.count() == len(self.model)

    def teardown(self) -> None:
        self.memory.close()


_PROFILES = {
    "fast": settings(
        max_examples=15,
        stateful_step_count=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    ),
    "slow": settings(
        max_examples=300, stateful_step_count=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    ),
}


@pytest.mark.parametrize("profile", ["fast", pytest.param("slow", marks=pytest.mark.slow)])
def test_state_machine(profile: str) -> None:
    run_state_machine_as_test(_MemoryMachine, settings=_PROFILES[profile])


# ---------------------------------------------------------------------------- concurrency
@pytest.fixture
def disk_memory(tmp_path: Path) -> Iterator[tuple[Path, HippoMemory]]:
    path = tmp_path / "store"
    memory = HippoMemory(path, encoder=HashingEncoder(dim=64), config=HippoConfig(code_dim=2048, code_k=32))
    yield path, memory
    memory.close()


def _text(i: int) -> str:
    return f"entry{i} marker{i} about topic{i % 7}"


def _check_consistent(memory: HippoMemory, expected: dict[str, str]) -> None:
    listed = {m.id: m.text for m in memory.list()}
    assert listed == expected
    assert memory.count() == len(expected)
    for memory_id, text in expected.items():
        hits = memory.recall(text, namespace=("c",), k=3).hits
        assert memory_id in [hit.memory.id for hit in hits], f"{memory_id} is not recallable"


async def _race(memory: HippoMemory, ids: list[str]) -> list[Any]:
    calls = []
    for i, memory_id in enumerate(ids):
        calls.append(memory.aupdate(memory_id, metadata={"round": i}, text=_text(i) + " updated"))
        calls.append(memory.aforget(memory_id))
    return await asyncio.gather(*calls, return_exceptions=True)


async def _disjoint(memory: HippoMemory, ids: list[str]) -> list[Any]:
    calls = [
        memory.aupdate(memory_id, text=_text(i) + " updated") if i % 2 else memory.aforget(memory_id)
        for i, memory_id in enumerate(ids)
    ]
    return await asyncio.gather(*calls)


def test_async_disjoint_writes_then_compact_and_reopen(disk_memory: tuple[Path, HippoMemory]) -> None:
    path, memory = disk_memory
    ids = memory.remember_many([_text(i) for i in range(100)], namespace=("c",))
    asyncio.run(_disjoint(memory, ids))
    expected = {memory_id: _text(i) + " updated" for i, memory_id in enumerate(ids) if i % 2}
    _check_consistent(memory, expected)
    memory.consolidate(compact=True)
    _check_consistent(memory, expected)
    more = memory.remember_many([_text(i) for i in range(100, 130)], namespace=("c",))
    expected.update({memory_id: _text(100 + i) for i, memory_id in enumerate(more)})
    memory.close()
    with HippoMemory(path, encoder=HashingEncoder(dim=64)) as reopened:
        _check_consistent(reopened, expected)
        reopened.remember("after reopen", namespace=("c",))
        assert reopened.count() == len(expected) + 1


def test_async_update_races_forget_then_compact_and_reopen(disk_memory: tuple[Path, HippoMemory]) -> None:
    path, memory = disk_memory
    ids = memory.remember_many([_text(i) for i in range(100)], namespace=("c",))
    outcomes = asyncio.run(_race(memory, ids))
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException) or isinstance(outcome, HippoMemoryError), repr(outcome)
    assert outcomes[1::2] == [1] * 100, "every aforget deletes its memory, whenever its aupdate ran"
    assert memory.count() == 0 and memory.list() == [], "an update raced a forget and resurrected a memory"
    memory.consolidate(compact=True)
    more = memory.remember_many([_text(i) for i in range(100, 130)], namespace=("c",))
    expected = {memory_id: _text(100 + i) for i, memory_id in enumerate(more)}
    _check_consistent(memory, expected)
    memory.close()
    with HippoMemory(path, encoder=HashingEncoder(dim=64)) as reopened:
        _check_consistent(reopened, expected)
        reopened.remember("after reopen", namespace=("c",))


def test_threads_write_read_and_consolidate_together(disk_memory: tuple[Path, HippoMemory]) -> None:
    path, memory = disk_memory
    ids = memory.remember_many([_text(i) for i in range(60)], namespace=("c",))
    rng = random.Random(7)
    doomed = set(rng.sample(ids, 30))

    def work(i: int) -> Any:
        memory_id = ids[i % 60]
        try:
            if i % 4 == 0 and memory_id in doomed:
                return memory.forget(memory_id)
            if i % 4 == 1 and memory_id not in doomed:
                return memory.update(memory_id, metadata={"touched": i})
            if i % 4 == 2:
                return memory.recall(_text(i % 60), namespace=("c",), k=3)
            if i == 101:
                return memory.consolidate(compact=True)
            return memory.list(("c",), limit=5)
        except HippoMemoryError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(240)))
    for result in results:
        assert not isinstance(result, BaseException) or isinstance(result, HippoMemoryError)
    for memory_id in doomed:
        if memory_id in {m.id for m in memory.list()}:
            memory.forget(memory_id)
    expected = {memory_id: _text(i) for i, memory_id in enumerate(ids) if memory_id not in doomed}
    _check_consistent(memory, expected)
    memory.close()
    with HippoMemory(path, encoder=HashingEncoder(dim=64)) as reopened:
        _check_consistent(reopened, expected)
