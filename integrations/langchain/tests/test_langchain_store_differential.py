"""HippoStore against LangGraph's InMemoryStore: random operation sequences, same answers.

A hypothesis state machine applies each random ``put``/``get``/``search``/``delete``/
``list_namespaces``/``batch`` to both stores and compares what a user could tell
apart:

* ``get``: the item (namespace, key, value) exactly, ``None`` alike;
* ``search``: the set of matching items exactly (ranking legitimately differs: Hopfield
  recall against cosine similarity, newest first against insertion order), whether
  each carries a score (query against no query, indexed against ``index=False``), and
  for a page (``limit``/``offset``) its size and that it holds only matching items;
* ``list_namespaces``: exactly, with prefix/suffix/wildcards/max_depth/limit/offset.

InMemoryStore has no TTL, so TTL is checked against a model: a fake clock advances,
the reference forgets an item when the model says it expired, and every read that
refreshes (``refresh_ttl``) pushes the expiry of what HippoStore returned.

Deliberate differences (documented in the README, "Differences from InMemoryStore")
are taken out of the comparison here and nowhere else: the reference lists only
namespaces that hold items (InMemoryStore's dict keeps emptied namespaces), and a page
of a query search is sized as ``items[offset:offset + limit]`` (InMemoryStore ignores
``offset`` for its unscored tail).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from langchain_hippo_memory import HippoStore
from langchain_hippo_memory import _store as store_module

DIMS = 64
_ENCODER = HashingEncoder(dim=DIMS)
_CONFIG = HippoConfig(code_dim=1024, candidates=16)
FIELDS = ["text"]
EVERYTHING = 10_000


def _embed(texts: Sequence[str]) -> list[list[float]]:
    return [[float(x) for x in row] for row in _ENCODER.encode(list(texts))]


class Reference(InMemoryStore):
    """InMemoryStore listing only namespaces that hold items.

    Its ``_data`` is a ``defaultdict``: a namespace stays a key after its last item is
    deleted, and a ``get`` in an unknown namespace adds it. That is an artefact of the
    dict, not a store semantic, and HippoStore does not reproduce it.
    """

    def _handle_list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        for namespace in [ns for ns, items in self._data.items() if not items]:
            del self._data[namespace]
        return super()._handle_list_namespaces(op)


# ---------------------------------------------------------------- strategies
LABELS = st.sampled_from(["a", "b", "c"])
NAMESPACES = st.lists(LABELS, min_size=1, max_size=3).map(tuple)
KEYS = st.sampled_from(["k1", "k2", "k3", "k4"])
WORDS = st.sampled_from(["dog", "cat", "sofa", "Lisbon", "Tokyo", "nurse", "peanuts"])
TEXTS = st.lists(WORDS, min_size=1, max_size=4).map(" ".join)
VALUES = st.fixed_dictionaries(
    {},
    optional={
        "text": TEXTS,
        "n": st.integers(0, 3),
        "tag": st.sampled_from(["x", "y"]),
        "flag": st.booleans(),
        "nested": st.fixed_dictionaries({"m": st.integers(0, 2)}),
        "items": st.lists(st.integers(0, 2), max_size=2),
    },
)
INDEX = st.sampled_from([None, None, False, ["text"], ["tag"], []])
FILTERS = st.one_of(
    st.none(),
    st.fixed_dictionaries({"tag": st.sampled_from(["x", "y"])}),
    st.fixed_dictionaries({"n": st.integers(0, 3)}),
    st.fixed_dictionaries({"flag": st.booleans()}),
    st.fixed_dictionaries({"tag": st.fixed_dictionaries({"$ne": st.sampled_from(["x", "y"])})}),
    st.fixed_dictionaries({"n": st.fixed_dictionaries({"$eq": st.integers(0, 3)})}),
    st.fixed_dictionaries({"nested": st.fixed_dictionaries({"m": st.integers(0, 2)})}),
    st.fixed_dictionaries({"items": st.lists(st.integers(0, 2), max_size=2)}),
    st.fixed_dictionaries({"tag": st.sampled_from(["x", "y"]), "n": st.integers(0, 3)}),
)
QUERIES = st.one_of(st.none(), TEXTS)
LIMITS = st.integers(0, 5)
OFFSETS = st.integers(0, 4)
PATHS = st.lists(st.sampled_from(["a", "b", "c", "*"]), min_size=1, max_size=3).map(tuple)
TTLS = st.sampled_from([1.0, 2.0, 5.0])


def _list_op(
    prefix: tuple[str, ...] | None,
    suffix: tuple[str, ...] | None,
    max_depth: int | None,
    limit: int,
    offset: int,
) -> ListNamespacesOp:
    conditions = []
    if prefix:
        conditions.append(MatchCondition("prefix", prefix))
    if suffix:
        conditions.append(MatchCondition("suffix", suffix))
    return ListNamespacesOp(tuple(conditions), max_depth, limit, offset)


GET_OPS = st.builds(GetOp, NAMESPACES, KEYS)
PUT_OPS = st.builds(
    PutOp,
    st.one_of(NAMESPACES, NAMESPACES.map(lambda ns: ("langgraph", *ns))),
    KEYS,
    st.one_of(VALUES, st.none()),
    INDEX,
)
SEARCH_OPS = st.builds(
    SearchOp,
    st.lists(LABELS, max_size=2).map(tuple),
    FILTERS,
    LIMITS,
    OFFSETS,
    QUERIES,
)
LIST_OPS = st.builds(
    _list_op,
    st.none() | PATHS,
    st.none() | PATHS,
    st.none() | st.integers(1, 3),
    st.integers(1, 6),
    OFFSETS,
)
BATCHES = st.lists(st.one_of(GET_OPS, PUT_OPS, SEARCH_OPS, LIST_OPS), min_size=1, max_size=5)


# ---------------------------------------------------------------- comparison
def _plain(item: Item | None) -> tuple[tuple[str, ...], str, str] | None:
    """What a user sees of an item, hashable (timestamps differ between the stores)."""
    if item is None:
        return None
    return (tuple(item.namespace), item.key, json.dumps(item.value, sort_keys=True))


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


class StoreComparison(RuleBasedStateMachine):
    """The same operations on InMemoryStore and HippoStore; their answers compared."""

    clock: Clock

    def __init__(self) -> None:
        super().__init__()
        self.reference = Reference(index={"dims": DIMS, "embed": _embed, "fields": FIELDS})
        self.memory = HippoMemory(encoder=_ENCODER, config=_CONFIG)
        self.store = HippoStore(self.memory, index={"fields": FIELDS})
        self.expiry: dict[tuple[tuple[str, ...], str], tuple[float, float]] = {}
        # Expired items HippoStore has not swept yet: their namespaces are still listed.
        self.unswept: set[tuple[tuple[str, ...], str]] = set()

    def teardown(self) -> None:
        self.store.close()
        self.memory.close()

    # ------------------------------------------------------------ TTL model
    def _expire(self) -> None:
        """Make the reference forget what the model says has expired by now."""
        for (namespace, key), (_, expires_at) in list(self.expiry.items()):
            if expires_at <= self.clock.now:
                self.reference.delete(namespace, key)
                del self.expiry[(namespace, key)]
                self.unswept.add((namespace, key))

    def _swept(self) -> None:
        """Sweep before listing namespaces when expired items are left (documented)."""
        if self.unswept:
            self.store.sweep_ttl()
            self.unswept.clear()

    def _refreshed(self, items: Sequence[Item | None], refresh: bool) -> None:
        if not refresh:
            return
        for item in items:
            if item is None:
                continue
            slot = (tuple(item.namespace), item.key)
            if slot in self.expiry:
                ttl, _ = self.expiry[slot]
                self.expiry[slot] = (ttl, self.clock.now + ttl * 60.0)

    def _written(self, ops: Sequence[PutOp], ttl: float | None = None) -> None:
        for op in ops:
            slot = (tuple(op.namespace), op.key)
            self.expiry.pop(slot, None)
            self.unswept.discard(slot)  # a put or delete replaces the expired item
            if op.value is not None and ttl is not None:
                self.expiry[slot] = (ttl, self.clock.now + ttl * 60.0)

    # ------------------------------------------------------------ comparisons
    def _full(self, op: SearchOp) -> dict[tuple[tuple[str, ...], str], SearchItem]:
        everything = op._replace(limit=EVERYTHING, offset=0, refresh_ttl=False)
        found = self.reference.batch([everything])[0]
        return {(tuple(i.namespace), i.key): i for i in found}

    def _check_search(
        self,
        op: SearchOp,
        full: dict[tuple[tuple[str, ...], str], SearchItem],
        got: list[SearchItem],
    ) -> None:
        assert all(isinstance(item, SearchItem) for item in got)
        got_keys = [(tuple(i.namespace), i.key) for i in got]
        assert len(set(got_keys)) == len(got_keys), f"duplicates in {got_keys}"
        assert set(got_keys) <= set(full), f"{op}: {set(got_keys) - set(full)} do not match"
        expected = max(0, min(op.limit, len(full) - op.offset))
        assert len(got) == expected, f"{op}: {len(got)} items, expected {expected}"
        for item in got:
            want = full[(tuple(item.namespace), item.key)]
            assert item.value == want.value
            assert (item.score is None) == (want.score is None), (op, item, want)
        if op.limit + op.offset >= len(full) and op.offset == 0:
            assert set(got_keys) == set(full), op

    def _check(self, op: Op, got: Any, reference: Any, full: Any) -> None:
        if isinstance(op, GetOp):
            assert got is None or type(got) is Item, got
            assert _plain(got) == _plain(reference), op
        elif isinstance(op, SearchOp):
            self._check_search(op, full, got)
        elif isinstance(op, ListNamespacesOp):
            assert got == reference, op
        else:
            assert got is None and reference is None

    def _run(self, ops: Sequence[Op], ttl: float | None = None) -> None:
        self._expire()
        if any(isinstance(op, ListNamespacesOp) for op in ops):
            self._swept()
        fulls = [self._full(op) if isinstance(op, SearchOp) else None for op in ops]
        reference = self.reference.batch(ops)
        got = self.store.batch(
            [op._replace(ttl=ttl) if isinstance(op, PutOp) else op for op in ops]
        )
        assert len(got) == len(ops)
        for op, mine, theirs, full in zip(ops, got, reference, fulls, strict=True):
            self._check(op, mine, theirs, full)
        for op, mine in zip(ops, got, strict=True):
            if isinstance(op, GetOp):
                self._refreshed([mine], op.refresh_ttl)
            elif isinstance(op, SearchOp):
                self._refreshed(mine, op.refresh_ttl)
        self._written([op for op in ops if isinstance(op, PutOp)], ttl)

    # ------------------------------------------------------------ rules
    @rule(namespace=NAMESPACES, key=KEYS, value=VALUES, index=INDEX)
    def put(self, namespace: tuple[str, ...], key: str, value: dict[str, Any], index: Any) -> None:
        self._expire()
        self.reference.put(namespace, key, value, index=index)
        self.store.put(namespace, key, value, index=index)
        self._written([PutOp(namespace, key, value)])

    @rule(namespace=NAMESPACES, key=KEYS, value=VALUES, index=INDEX, ttl=TTLS)
    def put_with_ttl(
        self, namespace: tuple[str, ...], key: str, value: dict[str, Any], index: Any, ttl: float
    ) -> None:
        self._run([PutOp(namespace, key, value, index)], ttl=ttl)

    @rule(namespace=NAMESPACES, key=KEYS)
    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        self._expire()
        self.reference.delete(namespace, key)
        self.store.delete(namespace, key)
        self._written([PutOp(namespace, key, None)])

    @rule(namespace=NAMESPACES, key=KEYS, refresh=st.booleans())
    def get(self, namespace: tuple[str, ...], key: str, refresh: bool) -> None:
        self._expire()
        got = self.store.get(namespace, key, refresh_ttl=refresh)
        assert _plain(got) == _plain(self.reference.get(namespace, key))
        self._refreshed([got], refresh)

    @rule(
        prefix=st.lists(LABELS, max_size=2).map(tuple),
        query=QUERIES,
        filter=FILTERS,
        limit=LIMITS,
        offset=OFFSETS,
        refresh=st.booleans(),
    )
    def search(
        self,
        prefix: tuple[str, ...],
        query: str | None,
        filter: dict[str, Any] | None,
        limit: int,
        offset: int,
        refresh: bool,
    ) -> None:
        op = SearchOp(prefix, filter, limit, offset, query, refresh)
        self._expire()
        full = self._full(op)
        got = self.store.search(
            prefix, query=query, filter=filter, limit=limit, offset=offset, refresh_ttl=refresh
        )
        self._check_search(op, full, got)
        self._refreshed(got, refresh)

    @rule(op=LIST_OPS)
    def list_namespaces(self, op: ListNamespacesOp) -> None:
        self._expire()
        self._swept()
        prefix = next((c.path for c in op.match_conditions if c.match_type == "prefix"), None)
        suffix = next((c.path for c in op.match_conditions if c.match_type == "suffix"), None)
        got = self.store.list_namespaces(
            prefix=prefix, suffix=suffix, max_depth=op.max_depth, limit=op.limit, offset=op.offset
        )
        assert got == self.reference.list_namespaces(
            prefix=prefix, suffix=suffix, max_depth=op.max_depth, limit=op.limit, offset=op.offset
        )

    @rule(ops=BATCHES)
    def batch(self, ops: list[Op]) -> None:
        # InMemoryStore embeds each distinct text once but counts it per put, and
        # raises when two puts of one batch share a text: not a case to compare.
        texts = [
            op.value[path]
            for op in ops
            if isinstance(op, PutOp) and op.value is not None and op.index is not False
            for path in (FIELDS if op.index is None else op.index)
            if path in op.value
        ]
        assume(len(texts) == len(set(texts)))
        self._run(ops)

    @rule(minutes=st.sampled_from([0.5, 1.0, 1.5, 3.0]))
    def wait(self, minutes: float) -> None:
        self.clock.now += minutes * 60.0

    @rule()
    def sweep(self) -> None:
        self._expire()
        self.store.sweep_ttl()
        self.unswept.clear()

    @invariant()
    def same_items(self) -> None:
        self._expire()
        everything = SearchOp((), None, EVERYTHING, 0, None, False)
        mine = {_plain(i) for i in self.store.batch([everything])[0]}
        theirs = {_plain(i) for i in self.reference.batch([everything])[0]}
        assert mine == theirs


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(store_module, "_now", fake)
    yield fake


def _run(clock: Clock, examples: int, steps: int) -> None:
    class Machine(StoreComparison):
        pass

    Machine.clock = clock
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_hippo_store_behaves_as_in_memory_store(clock: Clock) -> None:
    _run(clock, examples=30, steps=20)


@pytest.mark.slow
def test_hippo_store_behaves_as_in_memory_store_long(clock: Clock) -> None:
    _run(clock, examples=500, steps=50)
