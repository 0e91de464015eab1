"""HippoRetriever: the LangChain standard retriever suite plus its own behaviour."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hippo_memory import HashingEncoder, HippoMemory, InvalidInputError
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_hippo_memory import HippoRetriever

CORPUS = [
    "Caroline adopted a golden retriever named Biscuit in March.",
    "Caroline's sister Dana lives in Porto and teaches chemistry.",
    "Melanie painted a sunrise over the lake last summer.",
    "Biscuit the dog loves swimming in the lake.",
    "Dana visited Caroline to meet Biscuit for the first time.",
    "Melanie and Caroline went camping near the mountains.",
]


@functools.cache
def corpus_memory() -> HippoMemory:
    memory = HippoMemory(encoder=HashingEncoder(dim=256))
    memory.remember_many(
        [{"text": t, "metadata": {"i": i}} for i, t in enumerate(CORPUS)],
        namespace=("chat", "caroline"),
        session="s1",
    )
    return memory


class TestHippoRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[HippoRetriever]:
        return HippoRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"memory": corpus_memory(), "namespace": ("chat",)}

    @property
    def retriever_query_example(self) -> str:
        return "What is the name of Caroline's dog?"


def test_documents_carry_scores_and_diagnostics() -> None:
    retriever = HippoRetriever(memory=corpus_memory(), namespace=("chat", "caroline"), k=3)
    docs = retriever.invoke("dog named Biscuit")
    assert len(docs) == 3
    first = docs[0]
    assert isinstance(first, Document)
    assert "Biscuit" in first.page_content
    assert first.id is not None
    assert isinstance(first.metadata["i"], int)  # the memory's own metadata
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    diag = first.metadata["hippo"]
    assert diag["id"] == first.id and diag["rank"] == 0
    assert diag["namespace"] == ["chat", "caroline"]
    assert diag["session"] == "s1"
    for key in ("similarity", "attention", "cues_matched", "best_cue", "best_cue_kind"):
        assert key in diag


def test_call_options_override_fields() -> None:
    retriever = HippoRetriever(memory=corpus_memory(), k=5)
    assert len(retriever.invoke("Caroline", k=2)) == 2
    docs = retriever.invoke("Caroline", filter={"i": {"$gte": 4}})
    assert {d.metadata["i"] for d in docs} == {4, 5}
    assert retriever.invoke("Caroline", namespace=("elsewhere",)) == []
    with pytest.raises(InvalidInputError, match="unknown retriever options"):
        retriever.invoke("Caroline", top_k=2)


async def test_async_matches_sync() -> None:
    retriever = HippoRetriever(memory=corpus_memory(), namespace=("chat",), k=4)
    sync = retriever.invoke("Dana Porto chemistry")
    asynchronous = await retriever.ainvoke("Dana Porto chemistry")
    assert [d.id for d in sync] == [d.id for d in asynchronous]
    assert await retriever.ainvoke("x", namespace=("nobody",)) == []


def test_k_is_validated() -> None:
    with pytest.raises(ValueError):
        HippoRetriever(memory=corpus_memory(), k=0)
