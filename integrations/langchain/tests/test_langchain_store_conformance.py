"""What LangGraph's own store tests check, run against InMemoryStore and HippoStore alike.

LangGraph tests its stores in ``libs/checkpoint/tests/test_store.py`` (InMemoryStore)
and ``libs/checkpoint-sqlite/tests/test_store.py`` (SqliteStore), MIT-licensed, in
langchain-ai/langgraph. Those files are not copied here: this module re-states, in
its own code, the behaviour each of their store-facing tests checks (each test names
the upstream tests it stands for), and runs every check against every store of the
``store_kind`` fixture: ``InMemoryStore``, ``HippoStore`` in RAM and ``HippoStore`` in
a directory (both opened with :meth:`HippoStore.from_conn_string`, as LangGraph users
open ``SqliteStore``/``PostgresStore``). Upstream tests of one backend's internals
(SQL text, migrations, GLOB escaping, the async batching wrapper,
``get_text_at_path``) have no counterpart: they say nothing about a store's behaviour.

A check a store cannot meet is marked ``xfail(strict=True)`` for that store with the
reason, so it starts failing the day the store meets it. Vector checks use
:class:`CharEmbeddings` (character counts through seeded random projections, as the
upstream tests' fake embeddings) with cosine similarity, and HippoStore reports the
cosine similarity as ``score`` when LangGraph embeddings are configured.
"""

from __future__ import annotations

import asyncio
import math
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from hippo_memory import HashingEncoder, HippoConfig
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from langchain_hippo_memory import HippoStore

STORES = ["inmemory", "hippo-ram", "hippo-dir"]
_CONFIG = HippoConfig(code_dim=1024)
_ENCODER = HashingEncoder(dim=64)


class CharEmbeddings(Embeddings):
    """Deterministic embeddings: character frequencies times a seeded Gaussian per character.

    Texts sharing characters get similar vectors; an exact repeat gets cosine 1.
    """

    def __init__(self, dims: int = 128) -> None:
        self.dims = dims
        self._cache: dict[str, np.ndarray] = {}

    def _char(self, char: str) -> np.ndarray:
        if char not in self._cache:
            rng = np.random.default_rng(zlib.crc32(char.encode("utf-8")))
            self._cache[char] = rng.standard_normal(self.dims)
        return self._cache[char]

    def _one(self, text: str) -> list[float]:
        counts = Counter(text)
        vector = np.zeros(self.dims)
        for char, n in counts.items():
            vector += n * self._char(char)
        norm = float(np.linalg.norm(vector))
        return [float(x) for x in (vector / norm if norm else vector)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


class FixedEmbeddings(Embeddings):
    """Hand-picked vectors for the texts ``a``, ``b``, ``c`` (cosine to ``a``: 1, ~0.999, 0).

    With ``strict`` any other text raises, as in the upstream test; otherwise it gets
    ``[0, 1, 0]``.
    """

    dims = 3
    vectors: ClassVar[dict[str, list[float]]] = {
        "a": [1.0, 0.0, 0.0],
        "b": [2.0, 0.1, 0.0],
        "c": [0.0, 0.0, 1.0],
    }

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict

    def _one(self, text: str) -> list[float]:
        if self.strict or text in self.vectors:
            return list(self.vectors[text])
        return [0.0, 1.0, 0.0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def _cosine(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


StoreFactory = Callable[..., BaseStore]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(store_kind: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory ``make_store(index=None)`` of fresh stores of one kind, closed afterwards."""
    opened: list[Any] = []

    def make(index: dict[str, Any] | None = None) -> BaseStore:
        if store_kind == "inmemory":
            return InMemoryStore(index=index)  # type: ignore[arg-type]
        where = ":memory:" if store_kind == "hippo-ram" else tmp_path / f"s{len(opened)}"
        encoder = None if index and "embed" in index else _ENCODER
        opener = HippoStore.from_conn_string(where, encoder=encoder, config=_CONFIG, index=index)  # type: ignore[arg-type]
        opened.append(opener)
        store = opener.__enter__()
        store.setup()
        return store

    yield make
    for opener in opened:
        opener.__exit__(None, None, None)


@pytest.fixture
def store(make_store: StoreFactory) -> BaseStore:
    return make_store()


def _vector_store(make_store: StoreFactory, **index: Any) -> BaseStore:
    embeddings = index.pop("embed", None) or CharEmbeddings()
    return make_store({"dims": embeddings.dims, "embed": embeddings, **index})


# ---------------------------------------------------------------------- namespaces
TREE = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
    ("b", "a", "f"),
    ("users", "123"),
    ("users", "456", "settings"),
    ("admin", "users", "789"),
]


def _fill(store: BaseStore, namespaces: list[tuple[str, ...]]) -> None:
    for i, ns in enumerate(namespaces):
        store.put(ns, f"id_{i}", {"data": f"value_{i:02d}"})


@pytest.mark.parametrize(
    ("prefix", "suffix", "max_depth", "expected"),
    [
        (("a", "b"), None, None, TREE[:4]),
        (None, ("f",), None, [TREE[3], TREE[4], TREE[5]]),
        (("a",), ("f",), None, [TREE[3], TREE[4]]),
        (("a", "b"), None, 3, [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]),
        (("a", "*", "f"), None, None, [TREE[3], TREE[4]]),
        (None, ("*", "f"), None, [TREE[3], TREE[4], TREE[5]]),
        (("nonexistent",), None, None, []),
        (("users", "123"), None, None, [("users", "123")]),
        (("users", "*"), None, None, [("users", "123"), ("users", "456", "settings")]),
        (("*", "users"), ("*", "settings"), None, []),
        (
            None,
            None,
            2,
            [
                ("a", "b"),
                ("a", "c"),
                ("admin", "users"),
                ("b", "a"),
                ("users", "123"),
                ("users", "456"),
            ],
        ),
        (None, None, None, TREE),
    ],
)
def test_list_namespaces_conditions(
    store: BaseStore,
    prefix: tuple[str, ...] | None,
    suffix: tuple[str, ...] | None,
    max_depth: int | None,
    expected: list[tuple[str, ...]],
) -> None:
    """Upstream: test_list_namespaces_basic, _with_wildcards, _max_depth, _no_conditions."""
    _fill(store, TREE)
    found = store.list_namespaces(prefix=prefix, suffix=suffix, max_depth=max_depth)
    assert sorted(found) == sorted(expected)


def test_list_namespaces_pages_in_sorted_order(store: BaseStore) -> None:
    """Upstream: test_list_namespaces_basic (limit/offset), test_list_namespaces_pagination."""
    _fill(store, TREE)
    assert store.list_namespaces(prefix=("a", "b"), limit=2) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
    ]
    assert store.list_namespaces(prefix=("a", "b"), offset=2) == [
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    _fill(store, [("namespace", f"sub_{i:02d}") for i in range(20)])
    for offset in (0, 5, 15):
        page = store.list_namespaces(prefix=("namespace",), limit=5, offset=offset)
        assert page == [("namespace", f"sub_{i:02d}") for i in range(offset, offset + 5)]


def test_list_namespaces_of_an_empty_store(store: BaseStore) -> None:
    """Upstream: test_list_namespaces_empty_store."""
    assert store.list_namespaces() == []


def test_list_namespaces_match_whole_labels(store: BaseStore) -> None:
    """Upstream (sqlite): test_list_namespaces_segment_boundary, _metacharacter_labels,
    test_namespace_labels_with_trailing_newline."""
    _fill(
        store,
        [
            ("foo",),
            ("foo", "child"),
            ("foobar",),
            ("foobar", "baz"),
            ("uid", "users", "alice"),
            ("uid", "users", "malice"),
            ("uid", "a", "b", "alice"),
            ("users", "alice\n"),
            ("star*",),
            ("starX",),
            ("q?m",),
            ("br[ack]et",),
            ("user_1",),
            ("userX1",),
            ("a%b",),
            ("plus+",),
        ],
    )
    assert set(store.list_namespaces(prefix=["foo"], limit=100)) == {("foo",), ("foo", "child")}
    assert set(store.list_namespaces(suffix=["alice"], limit=100)) == {
        ("uid", "users", "alice"),
        ("uid", "a", "b", "alice"),
    }
    assert store.list_namespaces(prefix=["uid", "*", "alice"]) == [("uid", "users", "alice")]
    assert len(store.list_namespaces(prefix=["uid"])) == 3
    assert store.list_namespaces(prefix=["users", "alice"]) == []
    for label in ("star*", "q?m", "br[ack]et", "user_1", "a%b", "plus+"):
        assert store.list_namespaces(prefix=[label]) == [(label,)]


def test_list_namespaces_with_nested_wildcards(store: BaseStore) -> None:
    """Upstream (sqlite): test_list_namespaces_operations."""
    p = str(uuid.uuid4())
    namespaces = [
        (p, "test", "documents", "public", p),
        (p, "test", "documents", "private", p),
        (p, "test", "images", "public", p),
        (p, "test", "images", "private", p),
        (p, "prod", "documents", "public", p),
        (p, "prod", "documents", "some", "nesting", "public", p),
        (p, "prod", "documents", "private", p),
    ]
    for ns in namespaces:
        store.put(ns, "dummy", {"content": "dummy"})
    assert len(store.list_namespaces(prefix=(p, "test"))) == 4
    assert len(store.list_namespaces(prefix=(p, "test", "documents"))) == 2
    assert len(store.list_namespaces(suffix=("public", p))) == 4
    assert len(store.list_namespaces(prefix=(p, "test"), suffix=("public", p))) == 2
    assert len(store.list_namespaces(prefix=(p, "*", "documents"))) == 5
    assert len(store.list_namespaces(suffix=("*", "public", p))) == 4
    assert store.list_namespaces(suffix=("some", "*", "public", p)) == [namespaces[5]]
    assert all(len(ns) <= 3 for ns in store.list_namespaces(max_depth=3))
    deep = store.list_namespaces(max_depth=4, prefix=(p, "*", "documents"))
    assert len(deep) == len(set(deep)) == 5
    assert len(store.list_namespaces(prefix=(p,), limit=3)) == 3
    assert len(store.list_namespaces(prefix=(p,), offset=3)) == 4
    assert set(store.list_namespaces(prefix=(p,))) == set(namespaces)


# ---------------------------------------------------------------------- namespace rules
async def test_namespace_rules(store: BaseStore) -> None:
    """Upstream: test_cannot_put_empty_namespace."""
    doc = {"foo": "bar"}
    for bad in [(), ("the", "thing.about"), ("some", "fun", ""), ("langgraph", "foo")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(bad, "foo", doc)
        with pytest.raises(InvalidNamespaceError):
            await store.aput(bad, "foo", doc)
    inner = ("foo", "langgraph", "foo")
    store.put(inner, "bar", doc)
    assert store.get(inner, "bar").value == doc  # type: ignore[union-attr]
    assert store.search(inner, query="bar")[0].value == doc
    assert (await store.asearch(inner))[0].value == doc
    await store.adelete(inner, "bar")
    assert await store.aget(inner, "bar") is None
    # LangGraph itself writes under its reserved root, through batch.
    reserved = ("langgraph", "foo")
    await store.abatch([PutOp(reserved, "bar", doc)])
    assert (await store.aget(reserved, "bar")).value == doc  # type: ignore[union-attr]
    assert (await store.asearch(reserved))[0].value == doc
    store.delete(reserved, "bar")
    store.batch([PutOp(reserved, "bar", doc)])
    assert store.search(reserved)[0].value == doc
    store.delete(reserved, "bar")
    assert store.get(reserved, "bar") is None


def test_search_scopes_by_whole_labels(store: BaseStore) -> None:
    """Upstream (sqlite): test_search_namespace_segment_boundary, _wildcard_chars_are_literal,
    _is_case_sensitive, test_search_empty_prefix_is_unconstrained."""
    namespaces = [
        ("foo",),
        ("foo", "child"),
        ("foo", "child", "deep"),
        ("foobar",),
        ("foobar", "baz"),
        ("foo2",),
        ("Foo",),
        ("user_1",),
        ("user_1", "child"),
        ("userX1",),
        ("a%b",),
        ("axxb",),
        ("star*",),
        ("starX",),
    ]
    for ns in namespaces:
        store.put(ns, "k", {"v": 1})

    def scope(prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
        return {item.namespace for item in store.search(prefix, limit=100)}

    assert scope(("foo",)) == {("foo",), ("foo", "child"), ("foo", "child", "deep")}
    assert scope(("foobar",)) == {("foobar",), ("foobar", "baz")}
    assert scope(("foo2",)) == {("foo2",)}
    assert scope(("Foo",)) == {("Foo",)}
    assert scope(("fo",)) == set()
    assert scope(("user_1",)) == {("user_1",), ("user_1", "child")}
    assert scope(("a%b",)) == {("a%b",)}
    assert scope(("star*",)) == {("star*",)}
    assert scope(()) == set(namespaces)


# ---------------------------------------------------------------------- batches
def test_batch_answers_in_order(store: BaseStore) -> None:
    """Upstream (sqlite): test_batch_order, test_batch_get_ops, test_batch_put_ops."""
    store.put(("test", "foo"), "key1", {"data": "value1"})
    store.put(("test", "bar"), "key2", {"data": "value2"})
    results = store.batch(
        [
            GetOp(("test", "foo"), "key1"),
            PutOp(("test", "bar"), "key2", {"data": "value2"}),
            SearchOp(("test",), filter={"data": "value1"}, limit=10, offset=0),
            ListNamespacesOp(match_conditions=None, max_depth=None, limit=10, offset=0),
            GetOp(("test",), "key3"),
        ]
    )
    assert isinstance(results[0], Item) and results[0].value == {"data": "value1"}
    assert results[0].namespace == ("test", "foo")
    assert results[1] is None
    assert [i.key for i in results[2]] == ["key1"]  # type: ignore[union-attr]
    assert {("test", "foo"), ("test", "bar")} <= set(results[3])  # type: ignore[arg-type]
    assert results[4] is None
    results = store.batch(
        [
            SearchOp(("test",), filter=None, limit=5, offset=0),
            PutOp(("test",), "key3", {"data": "value3"}),
            PutOp(("test",), "gone", None),
            GetOp(("test", "foo"), "key1"),
        ]
    )
    assert len(results[0]) == 2  # type: ignore[arg-type]
    assert results[1] is None and results[2] is None
    assert results[3].key == "key1"  # type: ignore[union-attr]
    assert store.get(("test",), "key3").value == {"data": "value3"}  # type: ignore[union-attr]
    assert store.get(("test",), "gone") is None


def test_batch_searches_and_listings(store: BaseStore) -> None:
    """Upstream (sqlite): test_batch_search_ops, test_batch_list_namespaces_ops."""
    store.put(("test", "foo"), "key1", {"data": "value1", "tag": "a"})
    store.put(("test", "bar"), "key2", {"data": "value2", "tag": "a"})
    store.put(("test", "baz"), "key3", {"data": "value3", "tag": "b"})
    store.put(("prod", "documents", "public"), "doc3", {"content": "prod doc"})
    results = store.batch(
        [
            SearchOp(("test",), filter={"tag": "a"}, limit=10, offset=0),
            SearchOp(("test",), filter=None, limit=2, offset=0),
            SearchOp(("test", "foo"), filter=None, limit=10, offset=0),
            ListNamespacesOp(match_conditions=None, max_depth=1, limit=10, offset=0),
            ListNamespacesOp((MatchCondition("suffix", ("public",)),), None, 10, 0),
        ]
    )
    assert {i.key for i in results[0]} == {"key1", "key2"}  # type: ignore[union-attr]
    assert len(results[1]) == 2  # type: ignore[arg-type]
    assert [i.namespace for i in results[2]] == [("test", "foo")]  # type: ignore[union-attr]
    assert sorted(results[3]) == [("prod",), ("test",)]  # type: ignore[arg-type]
    assert results[4] == [("prod", "documents", "public")]


# ---------------------------------------------------------------------- items and filters
def test_put_get_update_delete(store: BaseStore) -> None:
    """Upstream (sqlite): TestSqliteStore.test_basic_store_ops, test_basic_store_operations."""
    uid = uuid.uuid4().hex
    namespace = (uid, "test", "documents")
    assert store.search((uid,)) == []
    store.put(namespace, "doc1", {"title": "Test Document", "content": "Hello, World!"})
    item = store.get(namespace, "doc1")
    assert item is not None and item.namespace == namespace and item.key == "doc1"
    assert item.value == {"title": "Test Document", "content": "Hello, World!"}
    store.put(namespace, "doc1", {"title": "Updated", "content": "Hello, LangGraph!"})
    updated = store.get(namespace, "doc1")
    assert updated is not None and updated.value["title"] == "Updated"
    assert updated.updated_at >= item.updated_at
    assert store.get((uid, "test", "other"), "doc1") is None
    store.put(namespace, "doc2", {"title": "Another", "content": "Greetings!"})
    assert {i.key for i in store.search((uid, "test"), limit=10)} == {"doc1", "doc2"}
    assert namespace in store.list_namespaces(prefix=(uid, "test"))
    store.delete(namespace, "doc1")
    store.delete(namespace, "doc2")
    assert store.get(namespace, "doc1") is None
    assert store.search((uid, "test"), limit=10) == []


def test_search_filters_and_pages(store: BaseStore) -> None:
    """Upstream (sqlite): TestSqliteStore.test_search, test_search_items."""
    items = [
        (
            ("t", "documents", "user1"),
            {"title": "Doc 1", "author": "John Doe", "tags": ["important"]},
        ),
        (
            ("t", "documents", "user2"),
            {"title": "Doc 2", "author": "Jane Smith", "tags": ["draft"]},
        ),
        (("t", "reports", "dep1"), {"title": "Report A", "author": "John Doe", "tags": ["final"]}),
        (("t", "reports", "dep2"), {"title": "Report B", "author": "Alice", "tags": ["draft"]}),
    ]
    for ns, value in items:
        store.put(ns, f"item_{ns[-1]}", value)
    assert len(store.search(("t", "documents"))) == 2
    first, second = store.search(("t",), limit=2), store.search(("t",), limit=2, offset=2)
    assert len(first) == len(second) == 2
    assert {i.key for i in first}.isdisjoint({i.key for i in second})
    assert len(store.search(("t",), offset=3)) == 1
    johns = store.search(("t",), filter={"author": "John Doe"})
    assert sorted(i.key for i in johns) == ["item_dep1", "item_user1"]
    drafts = store.search(("t",), filter={"tags": ["draft"]})
    assert sorted(i.key for i in drafts) == ["item_dep2", "item_user2"]


def test_filter_values_are_literal(store: BaseStore) -> None:
    """Upstream (sqlite): test_sql_injection_vulnerability, test_sql_injection_filter_values."""
    for key, access, title in [
        ("doc1", "public", "Public Document"),
        ("doc2", "private", "Private Document"),
        ("doc3", "secret", "Secret Document"),
        ("doc4", "public", "O'Brien's Document"),
    ]:
        store.put(("docs",), key, {"access": access, "title": title})
    for hostile in [
        "public' OR '1'='1",
        "public'; --",
        "public' UNION SELECT * FROM store --",
        "public\x00' OR '1'='1",
        "''''",
        "public' OR 'א'='א",
    ]:
        assert store.search(("docs",), filter={"access": hostile}) == []
    assert store.search(("docs",), filter={"access') = 'public' OR '1'='1' OR x('$.": "d"}) == []
    assert [i.key for i in store.search(("docs",), filter={"title": "O'Brien's Document"})] == [
        "doc4"
    ]


def test_numeric_and_boolean_filters(store: BaseStore) -> None:
    """Upstream (sqlite): test_numeric_filter_safety, test_boolean_filter_safety."""
    for i, price in enumerate([10, 20, 30, -10]):
        store.put(("items",), f"item{i + 1}", {"price": price, "active": price > 15})
    assert {i.key for i in store.search(("items",), filter={"price": {"$gt": 15}})} == {
        "item2",
        "item3",
    }
    assert [i.key for i in store.search(("items",), filter={"price": {"$lt": 0}})] == ["item4"]
    assert len(store.search(("items",), filter={"price": {"$lt": 10**100}})) == 4
    assert len(store.search(("items",), filter={"active": True})) == 2
    assert len(store.search(("items",), filter={"active": False})) == 2


@pytest.mark.parametrize(
    ("condition", "expected"),
    [({"$lt": math.inf}, 3), ({"$gt": -math.inf}, 3), ({"$eq": math.nan}, 0)],
)
def test_non_finite_filter_bounds(
    store: BaseStore, condition: dict[str, float], expected: int
) -> None:
    """Upstream (sqlite): test_numeric_filter_safety (infinities and NaN)."""
    for i, price in enumerate([10, 20, 30]):
        store.put(("items",), f"item{i}", {"price": price})
    assert len(store.search(("items",), filter={"price": condition})) == expected


def test_filter_keys_with_hyphens_and_digits(store: BaseStore) -> None:
    """Upstream (sqlite): test_filter_keys_with_hyphens_and_digits."""
    store.put(("docs",), "hyphen", {"access-level": "public", "user": {"access-level": "nested"}})
    store.put(("docs",), "digit", {"123abc": "ok", "user": {"123abc": "ok2"}})
    assert [r.key for r in store.search(("docs",), filter={"access-level": "public"})] == ["hyphen"]
    assert [
        r.key for r in store.search(("docs",), filter={"user": {"access-level": "nested"}})
    ] == ["hyphen"]
    assert [r.key for r in store.search(("docs",), filter={"123abc": "ok"})] == ["digit"]


# ---------------------------------------------------------------------- vector search
def test_index_configuration_is_kept(make_store: StoreFactory) -> None:
    """Upstream: test_vector_store_initialization (both files)."""
    embeddings = CharEmbeddings()
    store = make_store({"dims": embeddings.dims, "embed": embeddings, "fields": ["content"]})
    assert store.index_config is not None  # type: ignore[attr-defined]
    assert store.index_config["dims"] == embeddings.dims  # type: ignore[attr-defined]
    assert store.index_config["embed"] is embeddings  # type: ignore[attr-defined]
    assert store.index_config["fields"] == ["content"]  # type: ignore[attr-defined]
    assert store.embeddings is embeddings  # type: ignore[attr-defined]


DOCS = [
    ("doc1", {"text": "short text"}),
    ("doc2", {"text": "longer text document"}),
    ("doc3", {"text": "longest text document here"}),
    ("doc4", {"description": "text in description field"}),
    ("doc5", {"content": "text in content field"}),
    ("doc6", {"body": "text in body field"}),
]


async def test_search_finds_embedded_items(make_store: StoreFactory) -> None:
    """Upstream: test_vector_insert_with_auto_embedding and its async twin."""
    store = _vector_store(make_store)
    for key, value in DOCS[:3]:
        store.put(("test",), key, value)
    for key, value in DOCS[3:]:
        await store.aput(("test",), key, value)
    for results in (
        store.search(("test",), query="long text"),
        await store.asearch(("test",), query="long text"),
    ):
        assert {"doc2", "doc3"} <= {r.key for r in results}


def test_update_moves_the_embedding(make_store: StoreFactory) -> None:
    """Upstream: test_vector_update_with_embedding (both files)."""
    store = _vector_store(make_store)
    store.put(("test",), "doc1", {"text": "zany zebra Xerxes"})
    store.put(("test",), "doc2", {"text": "something about dogs"})
    store.put(("test",), "doc3", {"text": "text about birds"})
    before = store.search(("test",), query="Zany Xerxes")
    assert before[0].key == "doc1" and before[0].score is not None
    store.put(("test",), "doc1", {"text": "new text about dogs"})
    after = next(r.score for r in store.search(("test",), query="Zany Xerxes") if r.key == "doc1")
    assert after is not None and after < before[0].score
    again = next(
        r.score for r in store.search(("test",), query="new text about dogs") if r.key == "doc1"
    )
    assert again is not None and again > after
    store.put(("test",), "doc4", {"text": "new text about dogs"}, index=False)
    assert "doc4" not in {
        r.key for r in store.search(("test",), query="new text about dogs", limit=3)
    }


COLOURED = [
    ("doc1", {"text": "red apple", "color": "red", "score": 4.5}),
    ("doc2", {"text": "red car", "color": "red", "score": 3.0}),
    ("doc3", {"text": "green apple", "color": "green", "score": 4.0}),
    ("doc4", {"text": "blue car", "color": "blue", "score": 3.5}),
]


def test_search_with_filters_ranks_within_them(make_store: StoreFactory) -> None:
    """Upstream: test_vector_search_with_filters (both files)."""
    store = _vector_store(make_store)
    for key, value in COLOURED:
        store.put(("test",), key, value)
    results = store.search(("test",), query="apple", filter={"color": "red"})
    assert [r.key for r in results][:1] == ["doc1"] and len(results) == 2
    results = store.search(("test",), query="car", filter={"color": "red"})
    assert [r.key for r in results][:1] == ["doc2"] and len(results) == 2
    results = store.search(("test",), query="bbbbluuu", filter={"score": {"$gt": 3.2}})
    assert results[0].key == "doc4" and {r.key for r in results} == {"doc1", "doc3", "doc4"}
    results = store.search(
        ("test",), query="apple", filter={"score": {"$gte": 4.0}, "color": "green"}
    )
    assert [r.key for r in results] == ["doc3"]


async def test_concurrent_searches_respect_filters(make_store: StoreFactory) -> None:
    """Upstream: test_async_batched_vector_search_concurrent."""
    store = _vector_store(make_store)
    colours, things = (
        ["red", "blue", "green", "yellow", "purple"],
        ["apple", "car", "house", "book", "phone"],
    )
    docs = [
        (
            f"doc{i}",
            {"text": f"{colours[i % 5]} {things[i % 5]}", "color": colours[i % 5], "index": i},
        )
        for i in range(25)
    ]
    await asyncio.gather(*[store.aput(("test",), k, v) for k, v in docs])
    await asyncio.gather(*[store.adelete(("test",), k) for k, _ in docs[:10]])
    await asyncio.gather(*[store.aput(("test",), k, v) for k, v in docs[:10]])
    queries = [
        ("apple", {"color": "red"}),
        ("house", {"index": {"$gt": 12}}),
        ("phone", {"index": {"$lte": 10}}),
    ]
    answers = await asyncio.gather(
        *[store.asearch(("test",), query=q, filter=f) for q, f in queries]
    )
    for results, (_, condition) in zip(answers, queries, strict=True):
        assert results
        for r in results:
            if "color" in condition:
                assert r.value["color"] == condition["color"]
            bound = condition.get("index", {})
            assert r.value["index"] > bound.get("$gt", -1) and r.value["index"] <= bound.get(
                "$lte", 99
            )


def test_query_pages_do_not_overlap(make_store: StoreFactory) -> None:
    """Upstream: test_vector_search_pagination (both files)."""
    store = _vector_store(make_store)
    for i in range(5):
        store.put(("test",), f"doc{i}", {"text": f"test document number {i}"})
    first = store.search(("test",), query="test", limit=2)
    second = store.search(("test",), query="test", limit=2, offset=2)
    assert len(first) == len(second) == 2
    assert {r.key for r in first}.isdisjoint({r.key for r in second})
    assert len(store.search(("test",), query="test", limit=10)) == 5


def test_odd_queries(make_store: StoreFactory) -> None:
    """Upstream (sqlite): test_vector_search_edge_cases."""
    store = _vector_store(make_store)
    store.put(("test",), "doc1", {"text": "test document"})
    for query in ["", None, "test " * 100, "test!@#$%^&*()"]:
        assert len(store.search(("test",), query=query)) == 1


def test_store_level_fields(make_store: StoreFactory) -> None:
    """Upstream: test_embed_with_path (both files)."""
    store = _vector_store(make_store, fields=["key0", "key1", "key3"])
    store.put(("test",), "doc1", {"key1": "xxx", "key2": "yyy", "key3": "zzz"})
    store.put(("test",), "doc2", {"key0": "uuu", "key1": "vvv", "key2": "www", "key3": "xxx"})
    results = store.search(("test",), query="xxx")
    assert len(results) == 2 and all(r.score is not None and r.score > 0.9 for r in results)
    assert results[0].score == pytest.approx(results[1].score, abs=1e-5)
    for query, best in (("uuu", "doc2"), ("zzz", "doc1")):
        results = store.search(("test",), query=query)
        assert results[0].key == best and results[0].score > results[1].score  # type: ignore[operator]
    assert all(r.score is not None and r.score < 0.9 for r in store.search(("test",), query="www"))


def test_put_level_fields(make_store: StoreFactory) -> None:
    """Upstream: test_embed_with_path (operation level), test_embed_with_path_operation_config."""
    store = _vector_store(make_store, fields=["key17"])
    store.put(
        ("test",),
        "doc3",
        {"key0": "aaa", "key1": "bbb", "key2": "ccc", "key3": "ddd"},
        index=["key0", "key1"],
    )
    store.put(
        ("test",),
        "doc4",
        {"key0": "eee", "key1": "bbb", "key2": "fff", "key3": "ggg"},
        index=["key1", "key3"],
    )
    for query, best in (("aaa", "doc3"), ("ggg", "doc4")):
        results = store.search(("test",), query=query)
        assert len(results) == 2 and results[0].key == best
        assert results[0].score > results[1].score  # type: ignore[operator]
    tie = store.search(("test",), query="bbb")
    assert tie[0].score == tie[1].score  # the same text: the same score, exactly
    assert all(r.score is not None and r.score < 0.9 for r in store.search(("test",), query="ccc"))
    store.put(("test",), "doc5", {"key0": "hhh", "key1": "iii"}, index=False)
    results = store.search(("test",), query="hhh")
    assert len(results) == 3 and next(r for r in results if r.key == "doc5").score is None
    assert len(store.search(("test",))) == 3


@pytest.mark.parametrize("query", ["aaa", "bbb", "ccc", "abcd", "poisson"])
def test_score_is_cosine_similarity(make_store: StoreFactory, query: str) -> None:
    """Upstream (sqlite): test_scores."""
    embeddings = CharEmbeddings()
    store = _vector_store(make_store, embed=embeddings, fields=["key0"])
    store.put(("test",), "doc", {"key0": "aaa"}, index=["key0", "key1"])
    results = store.search((), query=query)
    expected = _cosine(embeddings.embed_query(query), embeddings.embed_query("aaa"))
    assert len(results) == 1 and results[0].score == pytest.approx(expected, abs=1e-3)


_PROBES = (
    "the engine also encodes texts of its own (probe sentences when a store opens, "
    "cue variants such as key phrases), so embeddings must accept any text"
)


@pytest.mark.parametrize("strict", [True, False], ids=["lookup-only", "any-text"])
def test_closest_ranks_first(
    request: pytest.FixtureRequest, store_kind: str, make_store: StoreFactory, strict: bool
) -> None:
    """Upstream (sqlite): test_vector_search_ranks_closest_first (cosine)."""
    if strict and store_kind.startswith("hippo"):
        request.applymarker(pytest.mark.xfail(strict=True, reason=_PROBES))
    store = _vector_store(make_store, embed=FixedEmbeddings(strict=strict), fields=["text"])
    for key in ("a", "b", "c"):
        store.put(("docs",), key, {"text": key})
    results = store.search(("docs",), query="a")
    assert [r.key for r in results] == ["a", "b", "c"]
    for r, expected in zip(results, [1.0, 2.0 / math.sqrt(4.01), 0.0], strict=True):
        assert r.score == pytest.approx(expected, abs=1e-5)


def test_non_ascii(make_store: StoreFactory) -> None:
    """Upstream: test_non_ascii (both files)."""
    store = _vector_store(make_store)
    texts = ["这是中文", "これは日本語です", "이건 한국어야", "Это русский", "यह रूसी है"]
    for i, text in enumerate(texts, 1):
        store.put(("user_123", "memories"), str(i), {"text": text})
    for i, text in enumerate(texts, 1):
        assert store.search(("user_123", "memories"), query=text)[0].key == str(i)
