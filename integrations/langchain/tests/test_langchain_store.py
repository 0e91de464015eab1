"""HippoStore: every operation, filter, namespace rule, persistence, TTL and async twin."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hippo_memory import (
    HashingEncoder,
    HippoConfig,
    HippoMemory,
    InvalidConfigError,
    InvalidInputError,
)
from langchain_core.embeddings import DeterministicFakeEmbedding
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
)

from langchain_hippo_memory import HippoStore, InvalidValueError, item_id
from langchain_hippo_memory import _store as store_module

FACTS = {
    "pet": {"text": "Alice adopted a dog named Biscuit", "year": 2019, "kind": "pet"},
    "job": {"text": "Alice works as a nurse in Lisbon", "year": 2021, "kind": "work"},
    "trip": {"text": "Alice flew to Tokyo for a conference", "year": 2023, "kind": "travel"},
    "food": {"text": "Alice is allergic to peanuts", "year": 2015, "kind": "health"},
}


@pytest.fixture
def alice(store: HippoStore) -> HippoStore:
    for key, value in FACTS.items():
        store.put(("users", "alice"), key, value)
    return store


def keys(items: list[Any]) -> list[str]:
    return [item.key for item in items]


# ---------------------------------------------------------------- get / put / delete
def test_put_get_roundtrip_returns_value_unchanged(store: HippoStore) -> None:
    value = {
        "text": "Caroline's pet is a dog",
        "nested": {"a": [1, 2.5, None, True], "b": {"c": "d"}},
        "unicode": "café ☕",
        "empty": {},
    }
    store.put(("users", "caroline"), "pet", value)
    item = store.get(("users", "caroline"), "pet")
    assert isinstance(item, Item)
    assert item.value == value
    assert item.key == "pet"
    assert item.namespace == ("users", "caroline")
    assert item.created_at.tzinfo is not None and item.updated_at >= item.created_at
    assert abs((datetime.now(tz=UTC) - item.created_at).total_seconds()) < 60


def test_get_missing_returns_none(alice: HippoStore) -> None:
    assert alice.get(("users", "alice"), "nope") is None
    assert alice.get(("users", "bob"), "pet") is None
    assert alice.get(("users",), "pet") is None


def test_update_keeps_created_at_and_reencodes(alice: HippoStore) -> None:
    before = alice.get(("users", "alice"), "pet")
    assert before is not None
    alice.put(("users", "alice"), "pet", {"text": "Alice adopted a parrot called Kiwi"})
    after = alice.get(("users", "alice"), "pet")
    assert after is not None
    assert after.value == {"text": "Alice adopted a parrot called Kiwi"}
    assert after.created_at == before.created_at
    assert after.updated_at >= before.updated_at
    assert alice.memory.count(("users", "alice")) == len(FACTS)
    hits = alice.search(("users",), query="parrot Kiwi", limit=1)
    assert keys(hits) == ["pet"]


def test_update_with_same_text_only_changes_metadata(alice: HippoStore) -> None:
    memory_id = item_id(("users", "alice"), "pet")
    cues_before = alice.memory.get(memory_id).cues
    alice.put(("users", "alice"), "pet", {**FACTS["pet"], "year": 2020})
    assert alice.memory.get(memory_id).cues == cues_before
    item = alice.get(("users", "alice"), "pet")
    assert item is not None and item.value["year"] == 2020


def test_delete_and_put_none(alice: HippoStore) -> None:
    alice.delete(("users", "alice"), "pet")
    assert alice.get(("users", "alice"), "pet") is None
    alice.batch([PutOp(("users", "alice"), "job", None)])
    assert alice.get(("users", "alice"), "job") is None
    alice.delete(("users", "alice"), "never-existed")  # no-op
    assert sorted(keys(alice.search(("users", "alice")))) == ["food", "trip"]


# ---------------------------------------------------------------- search
def test_search_with_query_ranks_by_recall(alice: HippoStore) -> None:
    results = alice.search(("users", "alice"), query="dog named Biscuit")
    assert all(isinstance(r, SearchItem) for r in results)
    assert results[0].key == "pet"
    assert results[0].value == FACTS["pet"]
    scores = [r.score for r in results]
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 + 1e-6 for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert alice.search(("users",), query="Tokyo conference", limit=1)[0].key == "trip"


def test_search_limit_and_offset_with_query(alice: HippoStore) -> None:
    full = keys(alice.search(("users",), query="Alice", limit=10))
    assert sorted(full) == sorted(FACTS)
    assert keys(alice.search(("users",), query="Alice", limit=2)) == full[:2]
    assert keys(alice.search(("users",), query="Alice", limit=2, offset=2)) == full[2:4]
    assert alice.search(("users",), query="Alice", limit=2, offset=10) == []
    assert len(alice.search(("users",), query="Alice", limit=3)) == 3


def test_search_without_query_lists_newest_first(alice: HippoStore) -> None:
    newest_first = list(reversed(FACTS))
    listed = alice.search(("users", "alice"))
    assert keys(listed) == newest_first
    assert all(r.score is None for r in listed)
    assert keys(alice.search(("users", "alice"), limit=2, offset=1)) == newest_first[1:3]
    alice.put(
        ("users", "alice"), "pet", {**FACTS["pet"], "year": 2018}
    )  # an update keeps its place
    assert keys(alice.search(("users",))) == newest_first
    assert alice.search(("users",), limit=0) == []
    alice.memory.remember("a newer memory that is not an item", namespace=("users", "alice"))
    assert keys(alice.search(("users",), limit=1)) == newest_first[:1]


def test_search_empty_or_unknown_namespace(store: HippoStore) -> None:
    assert store.search(("nobody",), query="anything") == []
    assert store.search((), query="anything") == []
    assert store.search(()) == []
    assert store.list_namespaces() == []


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"kind": "pet"}, {"pet"}),
        ({"kind": {"$eq": "work"}}, {"job"}),
        ({"kind": {"$ne": "work"}}, {"pet", "trip", "food"}),
        ({"year": {"$gt": 2019}}, {"job", "trip"}),
        ({"year": {"$gte": 2019}}, {"pet", "job", "trip"}),
        ({"year": {"$lt": 2019}}, {"food"}),
        ({"year": {"$lte": 2019}}, {"pet", "food"}),
        ({"year": {"$gte": 2016, "$lt": 2022}}, {"pet", "job"}),
        ({"year": {"$gt": 2015}, "kind": {"$ne": "pet"}}, {"job", "trip"}),
        ({"missing": {"$ne": 1}}, set(FACTS)),
        ({"missing": 1}, set()),
    ],
)
def test_filters(alice: HippoStore, filter: dict[str, Any], expected: set[str]) -> None:
    assert set(keys(alice.search(("users",), filter=filter))) == expected
    ranked = alice.search(("users",), query="Alice", filter=filter)
    assert set(keys(ranked)) == expected


def test_nested_filter_matches_subset(store: HippoStore) -> None:
    store.put(("docs",), "a", {"text": "alpha", "meta": {"lang": "en", "tags": ["x"]}})
    store.put(("docs",), "b", {"text": "beta", "meta": {"lang": "pt"}})
    assert keys(store.search(("docs",), filter={"meta": {"lang": "en"}})) == ["a"]
    assert keys(store.search(("docs",), filter={"meta.lang": "pt"})) == ["b"]
    assert keys(store.search(("docs",), filter={"meta": {"tags": ["x"]}})) == ["a"]


def test_bad_filter_operator_is_rejected(alice: HippoStore) -> None:
    with pytest.raises(ValueError, match="operator"):
        alice.search(("users",), filter={"year": {"$regex": "20"}})


# ---------------------------------------------------------------- index config
def test_index_fields_choose_what_is_searched(memory: HippoMemory) -> None:
    store = HippoStore(memory, index={"fields": ["title"]})
    store.put(("docs",), "a", {"title": "volcano eruption", "body": "penguins on ice"})
    store.put(("docs",), "b", {"title": "penguins on ice", "body": "volcano eruption"})
    assert store.search(("docs",), query="volcano eruption", limit=1)[0].key == "a"
    # a per-put index overrides the store's fields
    store.put(("docs",), "c", {"title": "nothing", "body": "glacier"}, index=["body"])
    assert store.search(("docs",), query="glacier", limit=1)[0].key == "c"


def test_array_fields_become_cue_variants(store: HippoStore) -> None:
    messages = [{"content": f"message about topic{i} and nothing else"} for i in range(12)]
    store.put(("chats",), "long", {"messages": messages}, index=["messages[*].content"])
    store.put(("chats",), "other", {"text": "completely unrelated words here"})
    cues = store.memory.get(item_id(("chats",), "long")).cues
    assert sum(c.kind == "explicit" for c in cues) == 12
    assert store.search(("chats",), query="topic7", limit=1)[0].key == "long"
    assert sorted(keys(store.search(("chats",)))) == ["long", "other"]


def test_default_text_field_and_json_fallback(store: HippoStore) -> None:
    store.put(("n",), "t", {"text": "the text field", "x": 1})
    store.put(("n",), "c", {"content": "the content field"})
    store.put(("n",), "j", {"colour": "turquoise", "count": 3})
    get = store.memory.get
    assert get(item_id(("n",), "t")).text == "the text field"
    assert get(item_id(("n",), "c")).text == "the content field"
    assert "turquoise" in get(item_id(("n",), "j")).text
    assert store.search(("n",), query="turquoise", limit=1)[0].key == "j"


def test_unindexed_items_follow_ranked_ones_without_score(store: HippoStore) -> None:
    store.put(("d",), "indexed", {"text": "zebra stripes"})
    store.put(("d",), "hidden", {"text": "zebra stripes exactly"}, index=False)
    store.put(("d",), "nofield", {"other": "zebra"}, index=["title"])
    results = store.search(("d",), query="zebra stripes")
    assert results[0].key == "indexed" and results[0].score is not None
    assert sorted(keys(results[1:])) == ["hidden", "nofield"]
    assert len(results) == 3
    assert all(r.score is None for r in results[1:])
    store.put(("d",), "empty", {"text": "zebra"}, index=[])  # an empty list indexes nothing
    assert store.search(("d",), query="zebra")[-1].score is None
    assert keys(store.search(("d",), query="zebra", limit=1)) == ["indexed"]
    assert len(store.search(("d",), query="zebra", limit=2, offset=1)) == 2


def test_embed_index_config_wraps_langchain_embeddings() -> None:
    with HippoStore(index={"embed": DeterministicFakeEmbedding(size=32), "dims": 32}) as store:
        assert store.memory.encoder.name.startswith("langchain:DeterministicFakeEmbedding")
        store.put(("e",), "k", {"text": "hello"})
        assert keys(store.search(("e",), query="hello")) == ["k"]


def test_embeddings_dims_are_probed_when_omitted() -> None:
    with HippoStore(index={"embed": DeterministicFakeEmbedding(size=24)}) as store:
        assert store.memory.encoder.dim == 24


async def _async_embed(texts: list[str]) -> list[list[float]]:
    return DeterministicFakeEmbedding(size=16).embed_documents(texts)


def test_an_async_only_embed_function_works_from_sync_code() -> None:
    """LangGraph accepts an ``async def`` as ``index["embed"]``; it has no sync twin."""
    with HippoStore(index={"embed": _async_embed, "fields": ["text"]}) as store:
        assert store.memory.encoder.dim == 16  # probed through the async function
        store.put(("u",), "k", {"text": "the violin lesson moved to Friday"})
        assert [item.key for item in store.search(("u",), query="violin lesson")] == ["k"]


async def test_an_async_only_embed_function_works_inside_a_running_loop() -> None:
    with HippoStore(index={"embed": _async_embed, "dims": 16, "fields": ["text"]}) as store:
        await store.aput(("u",), "k", {"text": "the violin lesson moved to Friday"})
        assert [item.key for item in await store.asearch(("u",), query="violin lesson")] == ["k"]
        # a sync call from inside the loop runs the coroutine on a helper thread
        store.put(("u",), "k2", {"text": "a quiet walk by the river"})
        assert store.get(("u",), "k2") is not None


def test_index_dims_must_match_encoder(memory: HippoMemory) -> None:
    with pytest.raises(InvalidConfigError, match="dims"):
        HippoStore(memory, index={"dims": 999})
    with pytest.raises(InvalidConfigError):
        HippoStore(memory, encoder=HashingEncoder())
    with pytest.raises(InvalidConfigError, match="unknown"):
        HippoStore(memory, index={"field": ["x"]})  # type: ignore[typeddict-unknown-key]


# ---------------------------------------------------------------- namespaces
def test_namespace_isolation(store: HippoStore) -> None:
    store.put(("a",), "k", {"text": "in a"})
    store.put(("a", "x"), "k", {"text": "in a x"})
    store.put(("ab",), "k", {"text": "in ab"})
    store.put(("b",), "k", {"text": "in b"})
    assert store.get(("a",), "k").value == {"text": "in a"}  # type: ignore[union-attr]
    assert store.get(("a", "x"), "k").value == {"text": "in a x"}  # type: ignore[union-attr]
    found = {(r.namespace, r.value["text"]) for r in store.search(("a",), query="in")}
    assert found == {(("a",), "in a"), (("a", "x"), "in a x")}
    assert {r.namespace for r in store.search(("b",), query="in a")} == {("b",)}
    store.delete(("a",), "k")
    assert store.get(("a", "x"), "k") is not None


def test_foreign_memories_are_invisible(store: HippoStore) -> None:
    store.memory.remember("a plain engine memory about Lisbon", namespace=("users", "alice"))
    store.put(("users", "alice"), "job", FACTS["job"])
    assert keys(store.search(("users",), query="Lisbon")) == ["job"]
    assert keys(store.search(("users",))) == ["job"]
    store.memory.remember("only foreign here", namespace=("foreign",))
    # list_namespaces reads the engine's catalogue (no item is loaded), so a namespace
    # holding only foreign memories is listed; see "Differences from InMemoryStore".
    assert store.list_namespaces() == [("foreign",), ("users", "alice")]
    assert store.search(("foreign",)) == []


def test_list_namespaces(store: HippoStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("x", "b", "c"), ("x",)]:
        store.put(ns, "k", {"text": "v"})
    assert store.list_namespaces() == sorted(
        [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("x", "b", "c"), ("x",)]
    )
    assert store.list_namespaces(prefix=("a",)) == [("a", "b", "c"), ("a", "b", "d"), ("a", "e")]
    assert store.list_namespaces(prefix=("a", "b")) == [("a", "b", "c"), ("a", "b", "d")]
    assert store.list_namespaces(suffix=("c",)) == [("a", "b", "c"), ("x", "b", "c")]
    assert store.list_namespaces(prefix=("*", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("x", "b", "c"),
    ]
    assert store.list_namespaces(suffix=("b", "*")) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("x", "b", "c"),
    ]
    assert store.list_namespaces(prefix=("a",), suffix=("d",)) == [("a", "b", "d")]
    assert store.list_namespaces(max_depth=1) == [("a",), ("x",)]
    assert store.list_namespaces(max_depth=2) == [("a", "b"), ("a", "e"), ("x",), ("x", "b")]
    assert store.list_namespaces(limit=2) == [("a", "b", "c"), ("a", "b", "d")]
    assert store.list_namespaces(limit=2, offset=3) == [("x",), ("x", "b", "c")]
    assert store.list_namespaces(prefix=("nope",)) == []
    store.delete(("x",), "k")
    assert ("x",) not in store.list_namespaces()


@pytest.mark.parametrize("namespace", [("a.b",), ("",), ("ok", ""), ("ok", "a.b"), ("bad\x00",)])
def test_invalid_namespace_raises_langgraph_error(store: HippoStore, namespace: Any) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp(namespace, "k", {"text": "x"})])
    with pytest.raises(InvalidNamespaceError):
        store.get(namespace, "k")
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp(namespace, "k")])
    with pytest.raises(InvalidNamespaceError):
        store.batch([SearchOp(namespace)])
    with pytest.raises(InvalidNamespaceError):
        store.batch([ListNamespacesOp((MatchCondition("prefix", namespace),))])
    assert store.memory.count() == 0


def test_empty_and_reserved_namespaces_rejected_for_put(store: HippoStore) -> None:
    for namespace in [(), ("langgraph", "x")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(namespace, "k", {"text": "x"})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp((), "k", {"text": "x"})])
    assert store.memory.count() == 0


def test_reserved_root_is_writable_through_batch(store: HippoStore) -> None:
    """As InMemoryStore: only ``put`` refuses the "langgraph" root; LangGraph writes there."""
    ns = ("langgraph", "checkpoint")
    assert store.batch([PutOp(ns, "k", {"text": "internal"})]) == [None]
    assert store.get(ns, "k").value == {"text": "internal"}  # type: ignore[union-attr]
    assert store.list_namespaces(prefix=("langgraph",)) == [ns]
    store.delete(ns, "k")
    assert store.get(ns, "k") is None


@pytest.mark.parametrize(
    "value",
    [
        "a string",
        ["a", "list"],
        {"set": {1, 2}},
        {"obj": object()},
        {"nan": math.nan},
        {"inf": [math.inf]},
        {"tuple": (1, 2)},
        {1: "int key"},
        {"nested": {2: "int key"}},
        {"when": datetime(2024, 1, 1)},
    ],
)
def test_non_json_values_raise_typed_error(store: HippoStore, value: Any) -> None:
    with pytest.raises(InvalidValueError):
        store.put(("ns",), "k", value)
    assert isinstance(InvalidValueError("x"), ValueError)
    with pytest.raises(InvalidValueError):  # one bad op: the whole batch is rejected
        store.batch([PutOp(("ns",), "good", {"text": "ok"}), PutOp(("ns",), "bad", value)])
    assert store.get(("ns",), "good") is None


def test_other_malformed_ops(store: HippoStore) -> None:
    with pytest.raises(InvalidInputError):
        store.batch([SearchOp(("a",), limit=-1)])
    with pytest.raises(InvalidInputError):
        store.batch([PutOp(("a",), "k", {"text": "x"}, ttl=-5)])
    with pytest.raises(InvalidInputError):
        store.batch([GetOp(("a",), 3)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.batch(["not an op"])  # type: ignore[list-item]


# ---------------------------------------------------------------- batch semantics
def test_batch_reads_before_writes_and_last_put_wins(store: HippoStore) -> None:
    ns = ("b",)
    results = store.batch(
        [
            PutOp(ns, "k", {"text": "first"}),
            GetOp(ns, "k"),
            PutOp(ns, "k", {"text": "second"}),
            SearchOp(ns),
            ListNamespacesOp(),
        ]
    )
    assert results == [None, None, None, [], []]
    item = store.get(ns, "k")
    assert item is not None and item.value == {"text": "second"}
    results = store.batch([GetOp(ns, "k"), PutOp(ns, "k", None), GetOp(ns, "k")])
    assert results[0] == item and results[2] == item
    assert store.get(ns, "k") is None


# ---------------------------------------------------------------- persistence
def test_persistence_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with HippoStore.from_path(path, encoder=HashingEncoder(dim=256)) as store:
        for key, value in FACTS.items():
            store.put(("users", "alice"), key, value)
        store.delete(("users", "alice"), "food")
        store.put(("users", "bob"), "pet", {"text": "Bob has a cat"}, ttl=60)
        before = store.get(("users", "alice"), "pet")
    with HippoStore.from_path(path, encoder=HashingEncoder(dim=256)) as store:
        assert store.get(("users", "alice"), "pet") == before
        assert store.get(("users", "alice"), "food") is None
        assert store.search(("users",), query="dog Biscuit", limit=1)[0].key == "pet"
        assert store.list_namespaces() == [("users", "alice"), ("users", "bob")]
        assert len(store.search(("users",), filter={"year": {"$gte": 2020}})) == 2
        assert store.get(("users", "bob"), "pet") is not None


def test_engine_policies_that_drop_puts_are_refused(encoder: HashingEncoder) -> None:
    if "write_policy" not in HippoConfig.model_fields:
        pytest.skip("this engine has no write policies")
    config = HippoConfig(write_policy="merge_duplicates")  # type: ignore[call-arg]
    with (
        HippoMemory(encoder=encoder, config=config) as memory,
        pytest.raises(InvalidConfigError, match="store_all"),
    ):
        HippoStore(memory)


def test_store_that_does_not_own_memory_leaves_it_open(memory: HippoMemory) -> None:
    HippoStore(memory).close()
    assert memory.count() == 0  # still usable


# ---------------------------------------------------------------- TTL
class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(store_module, "_now", fake)
    return fake


def test_ttl_refresh_on_read_and_expiry(store: HippoStore, clock: Clock) -> None:
    assert store.supports_ttl
    ns = ("ttl",)
    store.put(ns, "k", {"text": "short lived"}, ttl=1)  # minutes
    store.put(ns, "forever", {"text": "long lived"})
    clock.now += 45
    assert store.get(ns, "k") is not None  # refreshes: expires 60 s from now
    clock.now += 45
    assert store.get(ns, "k", refresh_ttl=False) is not None  # 45 s after refresh
    assert keys(store.search(ns, query="short lived", refresh_ttl=False))[0] == "k"
    clock.now += 30  # 75 s after the last refresh
    assert store.get(ns, "k") is None
    assert keys(store.search(ns)) == ["forever"]
    assert keys(store.search(ns, query="short lived")) == ["forever"]
    store.put(("gone",), "k", {"text": "x"}, ttl=1)
    clock.now += 61
    assert store.search(("gone",)) == []
    assert ("gone",) in store.list_namespaces()  # listed until swept (catalogue read)
    assert store.sweep_ttl() == 2
    assert ("gone",) not in store.list_namespaces()
    assert store.memory.count() == 1
    assert store.sweep_ttl() == 0


def test_expired_items_do_not_shorten_pages(store: HippoStore, clock: Clock) -> None:
    for key in ("a", "b", "c"):
        store.put(("pg",), key, {"text": f"item {key}"})
    for key in ("x", "y"):
        store.put(("pg",), key, {"text": f"item {key}"}, ttl=1)
    clock.now += 120
    assert keys(store.search(("pg",), limit=2)) == ["c", "b"]
    assert keys(store.search(("pg",), limit=2, offset=2)) == ["a"]
    assert len(store.search(("pg",), query="item", limit=3)) == 3


def test_ttl_search_refreshes(store: HippoStore, clock: Clock) -> None:
    store.put(("s",), "k", {"text": "refreshed by search"}, ttl=1)
    clock.now += 50
    assert keys(store.search(("s",), query="refreshed")) == ["k"]
    clock.now += 50
    assert keys(store.search(("s",))) == ["k"]
    clock.now += 50
    assert store.get(("s",), "k") is not None


def test_put_over_expired_item_starts_afresh(store: HippoStore, clock: Clock) -> None:
    store.put(("p",), "k", {"text": "old"}, ttl=1)
    created = store.get(("p",), "k").created_at  # type: ignore[union-attr]
    clock.now += 120
    store.put(("p",), "k", {"text": "new"})
    item = store.get(("p",), "k")
    assert item is not None and item.value == {"text": "new"}
    assert item.created_at >= created


def test_default_ttl_from_config(memory: HippoMemory, clock: Clock) -> None:
    store = HippoStore(memory, ttl={"default_ttl": 1, "refresh_on_read": False})
    store.put(("d",), "k", {"text": "x"})
    store.put(("d",), "keep", {"text": "y"}, ttl=None)
    clock.now += 40
    assert store.get(("d",), "k") is not None  # no refresh by default here
    clock.now += 40
    assert store.get(("d",), "k") is None
    assert store.get(("d",), "keep") is not None


def test_ttl_sweeper_thread_starts_and_stops(store: HippoStore) -> None:
    store.start_ttl_sweeper(sweep_interval_minutes=60)
    store.start_ttl_sweeper(sweep_interval_minutes=60)  # idempotent
    assert store.stop_ttl_sweeper(timeout=5)
    with pytest.raises(InvalidConfigError):
        store.start_ttl_sweeper(sweep_interval_minutes=0)


# ---------------------------------------------------------------- async
async def test_async_operations(store: HippoStore) -> None:
    ns = ("async", "user")
    for key, value in FACTS.items():
        await store.aput(ns, key, value)
    item = await store.aget(ns, "pet")
    assert item is not None and item.value == FACTS["pet"]
    ranked = await store.asearch(("async",), query="dog named Biscuit", limit=2)
    assert ranked[0].key == "pet" and len(ranked) == 2
    filtered = await store.asearch(("async",), filter={"year": {"$lt": 2020}})
    assert set(keys(filtered)) == {"pet", "food"}
    assert await store.alist_namespaces(prefix=("async",)) == [ns]
    await store.adelete(ns, "pet")
    assert await store.aget(ns, "pet") is None
    results = await store.abatch([GetOp(ns, "job"), SearchOp(ns, query="nurse", limit=1)])
    assert results[0].value == FACTS["job"]  # type: ignore[union-attr]
    assert keys(results[1]) == ["job"]  # type: ignore[arg-type]
    with pytest.raises(InvalidNamespaceError):
        await store.aput(("bad.label",), "k", {"text": "x"})
    with pytest.raises(InvalidValueError):
        await store.aput(ns, "k", {"bad": {1, 2}})


def test_index_config_and_embeddings_as_langgraph_stores(memory: HippoMemory) -> None:
    """As InMemoryStore: ``None`` when not configured, the config and embeddings when so."""
    plain = HippoStore(memory)
    assert plain.index_config is None and plain.embeddings is None
    assert HippoStore(memory, index={"fields": ["text"]}).index_config == {"fields": ["text"]}
    fake = DeterministicFakeEmbedding(size=32)
    with HippoStore(index={"embed": fake, "dims": 32, "fields": ["text"]}) as store:
        assert store.embeddings is fake
        assert store.index_config == {"embed": fake, "dims": 32, "fields": ["text"]}


def test_scores_present_with_query_absent_without(alice: HippoStore) -> None:
    """As InMemoryStore with an index: a query scores every indexed item, a listing none."""
    assert all(isinstance(r.score, float) for r in alice.search(("users",), query="Alice"))
    assert all(r.score is None for r in alice.search(("users",)))
