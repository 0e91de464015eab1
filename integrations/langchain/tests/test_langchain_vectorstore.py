"""HippoVectorStore: LangChain's standard vector store suite, then what the suite does not cover."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hippo_memory import (
    HashingEncoder,
    HippoMemory,
    InvalidConfigError,
    InvalidFilterError,
    InvalidInputError,
    InvalidVectorError,
)
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from langchain_hippo_memory import EmbeddingsEncoder, HippoVectorStore, to_hippo_filter


def _engine(embeddings: Any) -> HippoMemory:
    """An in-memory engine that encodes with the given LangChain embeddings."""
    return HippoMemory(encoder=EmbeddingsEncoder(embeddings), device="cpu")


class TestHippoVectorStoreStandard(VectorStoreIntegrationTests):
    """The suite's own DeterministicFakeEmbedding (6 dimensions) is the engine's encoder."""

    @pytest.fixture
    def vectorstore(self) -> Iterator[VectorStore]:  # type: ignore[override]
        memory = _engine(self.get_embeddings())
        try:
            yield HippoVectorStore(memory, namespace=("standard",))
        finally:
            memory.close()


# ---------------------------------------------------------------------- beyond the suite
@pytest.fixture
def hashing_store(memory: HippoMemory) -> HippoVectorStore:
    return HippoVectorStore(memory, namespace=("docs",))


def _pets(store: HippoVectorStore) -> list[str]:
    return store.add_texts(
        [
            "Caroline adopted a dog named Biscuit",
            "Caroline's cat is called Pepper",
            "Melanie paints landscapes on Sundays",
        ],
        [
            {"owner": "caroline", "year": 2021, "kind": "dog"},
            {"owner": "caroline", "year": 2019, "kind": "cat"},
            {"owner": "melanie", "year": 2022},
        ],
        ids=["dog", "cat", "paint"],
    )


def test_embeddings_are_the_engine_encoder(
    hashing_store: HippoVectorStore, encoder: HashingEncoder
) -> None:
    vector = hashing_store.embeddings.embed_query("Biscuit the dog")
    assert len(vector) == encoder.dim
    assert vector == pytest.approx(encoder.encode(["Biscuit the dog"])[0].tolist())


def test_embeddings_of_an_embeddings_encoder_are_the_wrapped_ones() -> None:
    fake = DeterministicFakeEmbedding(size=16)
    assert HippoVectorStore(_engine(fake)).embeddings is fake


def test_search_by_vector_matches_search_by_text(hashing_store: HippoVectorStore) -> None:
    _pets(hashing_store)
    vector = hashing_store.embeddings.embed_query("Pepper the cat")
    assert hashing_store.similarity_search_by_vector(vector, k=1)[0].id == "cat"
    pairs = hashing_store.similarity_search_with_score_by_vector(vector, k=3)
    assert pairs[0][0].id == "cat"
    with pytest.raises(InvalidVectorError):
        hashing_store.similarity_search_by_vector([1.0, 2.0], k=1)


async def test_async_search_by_vector(hashing_store: HippoVectorStore) -> None:
    await hashing_store.aadd_texts(["Pepper the cat sleeps"], ids=["cat"])
    vector = hashing_store.embeddings.embed_query("Pepper the cat")
    assert [d.id for d in await hashing_store.asimilarity_search_by_vector(vector, k=1)] == ["cat"]


def test_scores_are_the_engine_ranking_scores(
    hashing_store: HippoVectorStore, memory: HippoMemory
) -> None:
    _pets(hashing_store)
    pairs = hashing_store.similarity_search_with_score("What is Caroline's dog called?", k=3)
    hits = memory.recall("What is Caroline's dog called?", namespace=("docs",), k=3)
    assert [(doc.id, score) for doc, score in pairs] == [(h.memory.id, h.score) for h in hits]
    assert all(0 < score <= 1 for _, score in pairs)
    assert [s for _, s in pairs] == sorted((s for _, s in pairs), reverse=True)
    relevance = hashing_store.similarity_search_with_relevance_scores("Caroline's dog", k=3)
    assert relevance[0][0].id == "dog"


def test_min_similarity_drops_unrelated_documents(hashing_store: HippoVectorStore) -> None:
    _pets(hashing_store)
    docs = hashing_store.similarity_search("Biscuit dog adopted", k=3, min_similarity=0.3)
    assert [d.id for d in docs] == ["dog"]


def test_filters_are_translated(hashing_store: HippoVectorStore) -> None:
    _pets(hashing_store)
    query = "Caroline pet"
    assert {
        d.id for d in hashing_store.similarity_search(query, k=3, filter={"owner": "caroline"})
    } == {
        "dog",
        "cat",
    }
    both = {"$and": [{"owner": "caroline"}, {"year": {"$gte": 2020}}]}
    assert [d.id for d in hashing_store.similarity_search(query, k=3, filter=both)] == ["dog"]
    assert [
        d.id for d in hashing_store.similarity_search(query, k=3, filter={"kind": {"$in": ["cat"]}})
    ] == ["cat"]
    with pytest.raises(InvalidFilterError):
        hashing_store.similarity_search(query, filter={"$or": [{"owner": "a"}, {"owner": "b"}]})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ({}, None),
        ({"a": 1}, {"a": 1}),
        ({"a": {"$gt": 1}}, {"a": {"$gt": 1}}),
        (
            {"$and": [{"a": {"$gt": 1}}, {"a": {"$lt": 5}}, {"b": "x"}]},
            {"a": {"$gt": 1, "$lt": 5}, "b": "x"},
        ),
        ({"$or": [{"a": 1}]}, {"a": 1}),
        ({"a": 1, "$and": [{"a": 1}]}, {"a": 1}),
        ({"a": {"nested": 1}}, {"a": {"$eq": {"nested": 1}}}),  # a dict value stays equality
        ({"$and": [{"a": 1}, {"a": {"$ne": 2}}]}, {"a": {"$eq": 1, "$ne": 2}}),
    ],
)
def test_to_hippo_filter(given: Any, expected: Any) -> None:
    assert to_hippo_filter(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"$or": [{"a": 1}, {"a": 2}]},
        {"$not": {"a": 1}},
        {"a": {"$exists": True}},
        {"a": {"$like": "x%"}},
        {"$and": [{"a": 1}, {"a": 2}]},
        {"$and": {"a": 1}},
        ["a"],
    ],
)
def test_to_hippo_filter_rejects_what_the_engine_cannot_express(bad: Any) -> None:
    with pytest.raises(InvalidFilterError):
        to_hippo_filter(bad)


def test_the_store_keeps_to_its_namespace(memory: HippoMemory) -> None:
    mine = HippoVectorStore(memory, namespace=("mine",))
    other = HippoVectorStore(memory, namespace=("other",))
    other.add_texts(["a secret about the garden"], ids=["secret"])
    mine.add_texts(["a note about the garden"], ids=["note"])
    assert [d.id for d in mine.similarity_search("garden", k=5)] == ["note"]
    assert mine.get_by_ids(["secret", "note"]) == [
        Document(id="note", page_content="a note about the garden")
    ]
    mine.delete(["secret"])
    assert memory.get("secret").text == "a secret about the garden"
    with pytest.raises(InvalidInputError, match="outside namespace"):
        mine.add_texts(["overwrite"], ids=["secret"])
    mine.delete()
    assert mine.similarity_search("garden", k=5) == []
    assert [d.id for d in other.similarity_search("garden", k=5)] == ["secret"]


def test_add_texts_rejects_bad_batches(hashing_store: HippoVectorStore) -> None:
    with pytest.raises(InvalidInputError):
        hashing_store.add_texts(["a", "b"], ids=["x", "x"])
    with pytest.raises(InvalidInputError):
        hashing_store.add_texts(["a", "b"], [{}])
    with pytest.raises(InvalidInputError):
        hashing_store.add_texts(["a"], unknown_option=1)
    assert hashing_store.add_texts(["a b c"], batch_size=10)  # langchain's index() passes it


def test_mixed_new_and_updated_ids_keep_input_order(hashing_store: HippoVectorStore) -> None:
    hashing_store.add_texts(["first version"], ids=["b"])
    ids = hashing_store.add_texts(["new a", "second version", "new c"], ids=["a", "b", None])  # type: ignore[list-item]
    assert ids[:2] == ["a", "b"] and ids[2] not in ("a", "b")
    assert hashing_store.get_by_ids(["b"])[0].page_content == "second version"


def test_max_marginal_relevance_prefers_diversity(hashing_store: HippoVectorStore) -> None:
    hashing_store.add_texts(
        [
            "the red apple on the kitchen table",
            "the red apple on the kitchen table today",
            "the green pear in the garden",
        ],
        ids=["apple", "apple-again", "pear"],
    )
    relevant = hashing_store.max_marginal_relevance_search(
        "red apple table", k=2, fetch_k=3, lambda_mult=1.0
    )
    assert {d.id for d in relevant} == {"apple", "apple-again"}
    diverse = hashing_store.max_marginal_relevance_search(
        "red apple table", k=2, fetch_k=3, lambda_mult=0.1
    )
    assert diverse[0].id in {"apple", "apple-again"} and diverse[1].id == "pear"
    vector = hashing_store.embeddings.embed_query("red apple table")
    by_vector = hashing_store.max_marginal_relevance_search_by_vector(
        vector, k=2, fetch_k=3, lambda_mult=0.1
    )
    assert by_vector[1].id == "pear"


async def test_async_max_marginal_relevance(hashing_store: HippoVectorStore) -> None:
    await hashing_store.aadd_texts(
        ["red apple", "red apple again", "green pear"], ids=["a", "b", "p"]
    )
    diverse = await hashing_store.amax_marginal_relevance_search(
        "red apple", k=2, fetch_k=3, lambda_mult=0.1
    )
    assert diverse[1].id == "p"


def test_from_texts_builds_an_engine_on_the_embeddings() -> None:
    fake = DeterministicFakeEmbedding(size=8)
    store = HippoVectorStore.from_texts(["foo", "bar"], fake, [{"n": 1}, {"n": 2}], ids=["f", "b"])
    assert store.embeddings is fake
    assert store.similarity_search("bar", k=1) == [
        Document(id="b", page_content="bar", metadata={"n": 2})
    ]
    memory = _engine(fake)
    into = HippoVectorStore.from_texts(["baz"], fake, memory=memory, namespace=("x",))
    assert into.memory is memory and memory.count(("x",)) == 1
    with pytest.raises(InvalidConfigError):
        HippoVectorStore.from_texts(["baz"], DeterministicFakeEmbedding(size=8), memory=memory)


async def test_afrom_texts_and_retriever() -> None:
    fake = DeterministicFakeEmbedding(size=8)
    store = await HippoVectorStore.afrom_texts(["foo", "bar"], fake, ids=["f", "b"])
    retriever = store.as_retriever(search_kwargs={"k": 1})
    assert [d.id for d in await retriever.ainvoke("foo")] == ["f"]
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 1, "fetch_k": 2})
    assert [d.id for d in mmr.invoke("bar")] == ["b"]


def test_constructor_validates() -> None:
    with pytest.raises(InvalidConfigError):
        HippoVectorStore(object())  # type: ignore[arg-type]
