"""Keep-out fuzzing of every input boundary of the public API.

Invariant: each call either succeeds or raises a :class:`HippoMemoryError`, and a
rejected call leaves every stored memory exactly as it was. Only the public API is
used, so the suite keeps guarding the engine while its internals are rewritten.

The default run draws about 50 examples per boundary; ``-m slow`` draws 1,000.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, HippoMemoryError, Memory

_PROFILES = {
    "fast": settings(
        max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
    ),
    "slow": settings(max_examples=1_000, deadline=None, suppress_health_check=list(HealthCheck), database=None),
}
profiles = pytest.mark.parametrize("profile", ["fast", pytest.param("slow", marks=pytest.mark.slow)])


# ---------------------------------------------------------------------------- strategies
class _Deep(dict[str, Any]):
    """Metadata nested ``depth`` levels, with a short repr (a full one overflows the stack)."""

    def __init__(self, depth: int) -> None:
        node: dict[str, Any] = {}
        for _ in range(depth - 1):
            node = {"k": node}
        super().__init__(k=node)
        self.depth = depth

    def __repr__(self) -> str:
        return f"<dict nested {self.depth} levels>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


_SPECIAL = ["\ud800", "\udfff", "\x00", "\u200b", "\ufeff", "\u202e", "\n", "\t", " ", ".", "$", "🧠", "é"]
_chars = st.one_of(st.characters(), st.sampled_from(_SPECIAL))
_text = st.one_of(
    st.text(_chars, max_size=30),
    st.sampled_from(["", " ", "\u200b", "\x00", "\ud800", "keep me", "x" * 5000, "a\x00b", "tea ☕"]),
)
_tz = st.one_of(st.none(), st.just(UTC), st.integers(-23, 23).map(lambda h: timezone(timedelta(hours=h))))
_datetimes = st.datetimes(timezones=_tz)
_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.sampled_from([0, -1, 1e20, -1e13, 2.5e11, -6.3e10, math.nan, math.inf, 10**400]),
)
_scalar = st.one_of(st.none(), st.booleans(), _numbers, _text, st.binary(max_size=4))
_json_ish = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(_text, st.integers(), st.none()), inner, max_size=3),
    ),
    max_leaves=8,
)
_anything = st.one_of(
    _json_ish,
    _datetimes,
    st.sets(st.integers(), max_size=2),
    st.just(object()),
    st.builds(_Deep, st.sampled_from([63, 64, 65, 3_000])),
)
_metadata = st.one_of(st.none(), st.dictionaries(_text, _json_ish, max_size=4), _anything)
_label = st.one_of(st.sampled_from(["a", "b", "x", "users"]), _text)
_namespace = st.one_of(
    st.lists(_label, min_size=1, max_size=3).map(tuple),
    st.lists(_label, max_size=3),
    _text,
    _anything,
)
_time = st.one_of(st.none(), _numbers, _datetimes, _datetimes.map(lambda d: d.isoformat()), _text, st.booleans())
_count = st.one_of(st.integers(-3, 12), st.integers(), st.none(), st.booleans(), st.floats(), _text)
_cues = st.one_of(st.none(), st.lists(_text, max_size=3), _text, _anything)
_id = st.one_of(st.none(), _text, st.integers(), st.binary(max_size=3))
_operator = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$or", "$regex", "$and"])
_filter = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(_text, st.sampled_from(["topic", "n", "$or", "nested.k"])), _json_ish, max_size=3),
    st.dictionaries(st.sampled_from(["topic", "n"]), st.dictionaries(_operator, _json_ish, max_size=2), max_size=2),
    _anything,
)


# ---------------------------------------------------------------------------- the memory under test
_SEED = [
    {"text": "keep me alpha tea", "namespace": ("a",), "metadata": {"topic": "tea", "n": 1}, "timestamp": 1.7e9},
    {"text": "keep me beta coffee", "namespace": ("a", "x"), "metadata": {"topic": "coffee", "n": 2}},
    {"text": "keep me gamma water", "namespace": ("b",), "metadata": {"nested": {"k": [1, 2]}}},
    {"text": "keep me delta juice", "namespace": ("b",), "session": "s1"},
]


def _seeded() -> HippoMemory:
    memory = HippoMemory(
        None, encoder=HashingEncoder(dim=64), config=HippoConfig(code_dim=2048, code_k=32, durable=False)
    )
    for item in _SEED:
        memory.remember(
            item["text"],
            namespace=item["namespace"],
            metadata=item.get("metadata"),
            timestamp=item.get("timestamp"),
            session=item.get("session"),
        )
    same_namespace = [m.id for m in memory.list(("b",))]
    memory.associate(same_namespace[0], same_namespace[1], strength=1.0)
    return memory


def _view(memory: Memory) -> tuple[Any, ...]:
    return (
        memory.text,
        memory.namespace,
        json.dumps(memory.metadata, sort_keys=True),
        memory.timestamp,
        memory.session,
        tuple(sorted(c.text for c in memory.cues)),
    )


def _snapshot(memory: HippoMemory) -> dict[str, tuple[Any, ...]]:
    return {m.id: _view(m) for m in memory.list()}


def _check(memory: HippoMemory, call: Callable[[], Any], *, may_change: frozenset[str] = frozenset()) -> Any:
    """Run ``call``: it succeeds or raises a HippoMemoryError that changed nothing."""
    before = _snapshot(memory)
    try:
        result = call()
    except HippoMemoryError:
        assert _snapshot(memory) == before, "a rejected call changed stored memories"
        for memory_id, view in before.items():
            assert _view(memory.get(memory_id)) == view
        return None
    after = _snapshot(memory)
    for memory_id, view in before.items():
        if memory_id not in may_change:
            assert after.get(memory_id) == view, f"call changed or lost memory {memory_id}"
    return result


def _kwargs(data: st.DataObject, **strategies: st.SearchStrategy[Any]) -> dict[str, Any]:
    """A random subset of keyword arguments: an omitted one keeps its default."""
    return {name: data.draw(strategy, label=name) for name, strategy in strategies.items() if data.draw(st.booleans())}


# ---------------------------------------------------------------------------- boundaries
@profiles
def test_fuzz_remember(profile: str) -> None:
    memory = _seeded()

    @_PROFILES[profile]
    @given(text=st.one_of(_text, _anything), data=st.data())
    def run(text: Any, data: st.DataObject) -> None:
        kwargs = _kwargs(data, namespace=_namespace, metadata=_metadata, timestamp=_time, cues=_cues, id=_id)
        new_id = _check(memory, lambda: memory.remember(text, **kwargs))
        if new_id is not None:
            stored = memory.get(new_id)
            assert stored.text == text
            assert dict(stored.metadata) == json.loads(json.dumps(kwargs.get("metadata") or {}))
            assert stored.timestamp is None or 1 <= stored.timestamp.year <= 9999
            memory.forget(new_id)

    run()
    memory.close()


@profiles
def test_fuzz_remember_many(profile: str) -> None:
    memory = _seeded()
    item = st.one_of(
        _text,
        st.fixed_dictionaries(
            {"text": _text},
            optional={"metadata": _metadata, "timestamp": _time, "cues": _cues, "id": _id, "namespace": _namespace},
        ),
        _anything.filter(lambda value: not _has_non_string_key(value)),  # test_fuzz_remember_many_item_keys
    )

    @_PROFILES[profile]
    @given(
        items=st.one_of(st.lists(item, max_size=4), _anything.filter(lambda value: not _has_non_string_key(value))),
        data=st.data(),
    )
    def run(items: Any, data: st.DataObject) -> None:
        kwargs = _kwargs(data, namespace=_namespace, metadata=_metadata, timestamp=_time)
        ids = _check(memory, lambda: memory.remember_many(items, **kwargs))
        if ids:
            assert len(set(ids)) == len(ids)
            memory.forget(ids)

    run()
    memory.close()


@profiles
def test_fuzz_recall(profile: str) -> None:
    memory = _seeded()

    @_PROFILES[profile]
    @given(query=st.one_of(_text, _anything), data=st.data())
    def run(query: Any, data: st.DataObject) -> None:
        kwargs = _kwargs(
            data,
            namespace=st.one_of(st.none(), _namespace),
            k=_count,
            filter=_filter,
            since=_time,
            until=_time,
            min_similarity=st.one_of(st.none(), _numbers),
        )
        result = _check(memory, lambda: memory.recall(query, **kwargs))
        if result is not None:
            assert len(result.hits) <= kwargs.get("k", 5)
            namespace = kwargs.get("namespace")
            for hit in result.hits:
                assert namespace is None or hit.memory.namespace[: len(namespace)] == tuple(namespace)

    run()
    memory.close()


@profiles
def test_fuzz_recall_chain_and_list(profile: str) -> None:
    memory = _seeded()

    @_PROFILES[profile]
    @given(query=st.one_of(_text, _anything), data=st.data())
    def run(query: Any, data: st.DataObject) -> None:
        chain_kwargs = _kwargs(
            data,
            hops=_count,
            namespace=st.one_of(st.none(), _namespace),
            min_strength=_numbers.filter(lambda x: not isinstance(x, int) or abs(x) < 2**1000),  # see test_bad_input
            filter=_filter,
        )
        _check(memory, lambda: memory.recall_chain(query, **chain_kwargs))
        list_kwargs = _kwargs(data, filter=_filter, limit=_count, offset=_count, newest_first=st.booleans())
        namespace = data.draw(st.one_of(st.none(), _namespace))
        listed = _check(memory, lambda: memory.list(namespace, **list_kwargs))
        if listed is not None and isinstance(list_kwargs.get("limit"), int):
            assert len(listed) <= list_kwargs["limit"]
        _check(memory, lambda: memory.count(namespace))
        _check(memory, lambda: memory.namespaces(namespace))

    run()
    memory.close()


@profiles
def test_fuzz_update_associate_forget(profile: str) -> None:
    memory = _seeded()
    existing = [m.id for m in memory.list()]

    @_PROFILES[profile]
    @given(target=st.sampled_from(existing), other=st.sampled_from(existing), data=st.data())
    def run(target: str, other: str, data: st.DataObject) -> None:
        kwargs = _kwargs(data, text=_text, metadata=_metadata, timestamp=_time, cues=_cues)
        _check(memory, lambda: memory.update(target, **kwargs), may_change=frozenset({target}))
        strength = data.draw(st.one_of(_numbers, _anything))
        _check(memory, lambda: memory.associate(target, other, strength=strength))
        ids = data.draw(st.one_of(_anything, st.lists(st.sampled_from(["nope", "", " "]), max_size=2)))
        _check(memory, lambda: memory.forget(ids))

    run()
    memory.close()


@profiles
def test_fuzz_forget_namespace_rejects_without_loss(profile: str) -> None:
    """Only malformed namespaces: a well-formed one would (rightly) delete memories."""
    memory = _seeded()

    @_PROFILES[profile]
    @given(namespace=st.one_of(_anything, _text, st.lists(st.sampled_from(["", "a.b", "\ud800"]), max_size=2)))
    def run(namespace: Any) -> None:
        labels = namespace if isinstance(namespace, list | tuple) else []
        if labels and all(isinstance(x, str) and x and "." not in x and "\ud800" not in x for x in labels):
            return  # well formed: forget_namespace would rightly delete
        with pytest.raises(HippoMemoryError):
            memory.forget_namespace(namespace)
        assert memory.count() == len(_SEED)

    run()
    memory.close()


# ---------------------------------------------------------------------------- boundaries with engine defects
def _has_non_string_key(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_has_non_string_key(item) for item in value)
    return isinstance(value, dict) and any(not isinstance(key, str) for key in value)


@profiles
def test_fuzz_remember_many_item_keys(profile: str) -> None:
    memory = _seeded()

    @_PROFILES[profile]
    @example(item={"": None, 0: None})
    @given(item=st.dictionaries(st.one_of(_text, st.integers(), st.none()), _json_ish, min_size=1, max_size=3))
    def run(item: dict[Any, Any]) -> None:
        ids = _check(memory, lambda: memory.remember_many([item], namespace=("k",)))
        if ids:
            memory.forget(ids)

    run()
    memory.close()


@profiles
def test_fuzz_session(profile: str) -> None:
    memory = _seeded()

    @_PROFILES[profile]
    @given(session=st.one_of(_text, _anything))
    def run(session: Any) -> None:
        new_id = _check(memory, lambda: memory.remember("a session turn", namespace=("s",), session=session))
        if new_id is not None:
            assert memory.get(new_id).session == session
            memory.forget(new_id)

    run()
    memory.close()


@profiles
def test_fuzz_lookup_ids(profile: str) -> None:
    memory = _seeded()

    @_PROFILES[profile]
    @given(memory_id=st.one_of(_text, _anything))
    def run(memory_id: Any) -> None:
        _check(memory, lambda: memory.get(memory_id))
        _check(memory, lambda: memory.associations(memory_id))
        _check(
            memory,
            lambda: memory.update(memory_id, metadata={"x": 1}),
            may_change=frozenset({memory_id} if isinstance(memory_id, str) else ()),
        )
        _check(memory, lambda: memory.associate(memory_id, memory.list()[0].id))

    run()
    memory.close()


@profiles
def test_fuzz_salience_and_ttl(profile: str) -> None:
    memory = _seeded()

    @_PROFILES[profile]
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        ttl = st.one_of(st.sampled_from([1e300, 1e20, 10**30, 0, -1, math.nan, math.inf]), _numbers, _anything)
        kwargs = _kwargs(data, salience=st.one_of(_numbers, _anything), ttl=ttl)
        new_id = _check(memory, lambda: memory.remember("salient or short-lived", namespace=("t",), **kwargs))
        if new_id is not None:
            memory.forget(new_id)

    run()
    memory.close()
