"""HippoRetriever: NodeWithScore results with the engine's metadata and diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode
from llama_index.memory.hippo import HippoRetriever

from hippo_memory import (
    EmptyTextError,
    HashingEncoder,
    HippoMemory,
    InvalidFilterError,
    InvalidInputError,
    InvalidNamespaceError,
)

FACTS = [
    ("Alice moved to Lisbon in 2021 to work at a bakery.", {"topic": "home"}),
    ("Alice's brother Tomas is a violinist in Vienna.", {"topic": "family"}),
    ("Alice runs a half marathon every October.", {"topic": "sport"}),
    ("Alice prefers green tea over coffee.", {"topic": "food"}),
]


@pytest.fixture
def filled(engine: HippoMemory) -> HippoMemory:
    for text, metadata in FACTS:
        engine.remember(text, namespace=("users", "alice"), metadata=metadata, timestamp="2024-03-01")
    engine.remember("Bob moved to Lisbon last year.", namespace=("users", "bob"))
    return engine


def test_returns_scored_text_nodes_with_metadata(filled: HippoMemory) -> None:
    nodes = HippoRetriever(filled, namespace=("users", "alice"), k=3).retrieve("Where has Alice moved to?")
    assert len(nodes) == 3
    assert all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
    top = nodes[0]
    assert top.node.get_content() == FACTS[0][0]
    scores = [n.score or 0.0 for n in nodes]
    assert scores == sorted(scores, reverse=True)
    meta = top.node.metadata
    assert top.node.node_id == meta["id"] == filled.recall("Alice moved", k=1)[0].memory.id
    assert meta["namespace"] == ["users", "alice"]
    assert meta["timestamp"].startswith("2024-03-01")
    assert meta["metadata"] == {"topic": "home"}
    diagnostics = meta["diagnostics"]
    assert set(diagnostics) == {
        "similarity",
        "candidate_rank",
        "attention",
        "cues_matched",
        "best_cue",
        "best_cue_kind",
        "rank",
    }
    assert 0.0 < diagnostics["attention"] <= 1.0 and diagnostics["rank"] == 0
    # The LLM sees the text, the time and the memory's metadata, not the internals.
    llm_view = top.node.get_content(metadata_mode=MetadataMode.LLM)
    assert "2024-03-01" in llm_view and "diagnostics" not in llm_view and meta["id"] not in llm_view


def test_namespace_scoping_and_empty_namespace(filled: HippoMemory) -> None:
    everything = HippoRetriever(filled, k=10).retrieve("moved to Lisbon")
    assert {tuple(n.node.metadata["namespace"]) for n in everything} == {
        ("users", "alice"),
        ("users", "bob"),
    }
    bob = HippoRetriever(filled, namespace=("users", "bob"), k=10).retrieve("moved to Lisbon")
    assert [n.node.get_content() for n in bob] == ["Bob moved to Lisbon last year."]
    assert HippoRetriever(filled, namespace=("users", "carol")).retrieve("anything") == []


def test_filter_and_min_similarity(filled: HippoMemory) -> None:
    family = HippoRetriever(filled, k=5, filter={"topic": "family"}).retrieve("Where does Alice live?")
    assert [n.node.metadata["metadata"]["topic"] for n in family] == ["family"]
    strict = HippoRetriever(filled, k=5, min_similarity=0.99).retrieve("violinist Vienna")
    assert strict == []


def test_min_similarity_floor_is_applied_by_the_engine(filled: HippoMemory) -> None:
    ids = [hit.memory.id for hit in filled.recall("Alice", namespace=("users", "alice"), k=10)]
    before = {i: filled.get(i).access_count for i in ids}
    retriever = HippoRetriever(filled, namespace=("users", "alice"), k=4, min_similarity=0.99)
    assert retriever.retrieve("violinist Vienna") == []
    # Memories below the floor are not returned, so they must not count as recalled either.
    assert {i: filled.get(i).access_count for i in ids} == before


async def test_async_retrieve_and_query_engine(filled: HippoMemory) -> None:
    retriever = HippoRetriever(filled, namespace=("users", "alice"), k=2)
    nodes = await retriever.aretrieve("Which instrument does Tomas play?")
    assert "violinist" in nodes[0].node.get_content()
    from llama_index.core.llms import MockLLM

    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = await engine.aquery("Which instrument does Tomas play?")
    assert any("violinist" in n.node.get_content() for n in response.source_nodes)


def test_persists_across_reopening(store_path: Path) -> None:
    with HippoMemory(store_path, encoder=HashingEncoder()) as engine:
        memory_id = engine.remember("The spare key is under the blue flowerpot.", namespace=("home",))
    with HippoMemory(store_path, encoder=HashingEncoder()) as reopened:
        nodes = HippoRetriever(reopened, namespace=("home",)).retrieve("Where is the spare key?")
        assert nodes[0].node.node_id == memory_id


def test_bad_input_raises_typed_errors(filled: HippoMemory) -> None:
    with pytest.raises(InvalidNamespaceError):
        HippoRetriever(filled, namespace=("users.alice",))
    with pytest.raises(InvalidInputError):
        HippoRetriever(filled, k=0)
    with pytest.raises(InvalidInputError):
        HippoRetriever(filled, min_similarity=float("nan"))
    with pytest.raises(InvalidInputError):
        HippoRetriever(filled, min_similarity="high")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        HippoRetriever("engine")  # type: ignore[arg-type]
    with pytest.raises(EmptyTextError):
        HippoRetriever(filled).retrieve("   ")
    with pytest.raises(InvalidFilterError):
        HippoRetriever(filled, filter={"topic": {"$regex": "f.*"}})
    with pytest.raises(InvalidFilterError):
        HippoRetriever(filled, filter=[("topic", "home")])  # type: ignore[arg-type]
