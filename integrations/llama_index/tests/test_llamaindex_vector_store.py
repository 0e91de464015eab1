"""HippoVectorStore inside a VectorStoreIndex (MockEmbedding), and on its own."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import Document, MockEmbedding, StorageContext, VectorStoreIndex
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.memory.hippo import HippoVectorStore
from llama_index.memory.hippo.vector_store import to_hippo_filter

from hippo_memory import HippoMemory, InvalidFilterError, InvalidInputError, InvalidNamespaceError

EMBED = MockEmbedding(embed_dim=8)
NAMESPACE = ("docs",)
PETS = [
    TextNode(id_="dog", text="Caroline adopted a dog named Biscuit", metadata={"owner": "caroline", "year": 2021}),
    TextNode(id_="cat", text="Caroline's cat is called Pepper", metadata={"owner": "caroline", "year": 2019}),
    TextNode(id_="paint", text="Melanie paints landscapes on Sundays", metadata={"owner": "melanie", "year": 2022}),
]


@pytest.fixture
def store(engine: HippoMemory) -> HippoVectorStore:
    return HippoVectorStore(memory=engine, namespace=NAMESPACE)


def _index(store: HippoVectorStore, nodes: list[TextNode] | None = None) -> VectorStoreIndex:
    return VectorStoreIndex(
        [node.model_copy() for node in (nodes if nodes is not None else PETS)],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=EMBED,
    )


def _filters(*items: MetadataFilter | MetadataFilters, condition: str = "and") -> MetadataFilters:
    return MetadataFilters(filters=list(items), condition=FilterCondition(condition))


def test_index_retrieves_through_the_engine(store: HippoVectorStore, engine: HippoMemory) -> None:
    index = _index(store)
    assert index.index_struct.nodes_dict == {}  # stores_text: the store keeps the nodes
    hits = index.as_retriever(similarity_top_k=2).retrieve("What is the name of Caroline's dog?")
    assert hits[0].node.node_id == "dog"
    assert hits[0].node.get_content() == "Caroline adopted a dog named Biscuit"
    assert hits[0].node.metadata == {"owner": "caroline", "year": 2021}
    assert 0 < hits[1].score <= hits[0].score <= 1
    assert engine.count(NAMESPACE) == 3


async def test_index_retrieves_async(store: HippoVectorStore) -> None:
    index = _index(store)
    hits = await index.as_retriever(similarity_top_k=1).aretrieve("Pepper the cat")
    assert [hit.node.node_id for hit in hits] == ["cat"]


def test_index_filters_are_translated(store: HippoVectorStore) -> None:
    index = _index(store)
    filters = _filters(
        MetadataFilter(key="owner", value="caroline"),
        MetadataFilter(key="year", value=2020, operator=FilterOperator.GTE),
    )
    hits = index.as_retriever(similarity_top_k=3, filters=filters).retrieve("Caroline pet")
    assert [hit.node.node_id for hit in hits] == ["dog"]


def test_index_insert_and_delete_ref_doc(store: HippoVectorStore, engine: HippoMemory) -> None:
    index = _index(store, [])
    index.insert(Document(text="The spare key is under the blue flowerpot.", id_="house-notes"))
    index.insert(Document(text="The wifi password is on the fridge.", id_="other-notes"))
    assert engine.count(NAMESPACE) == 2
    hits = index.as_retriever(similarity_top_k=1).retrieve("Where is the spare key?")
    assert hits[0].node.ref_doc_id == "house-notes"
    index.delete_ref_doc("house-notes")
    assert [m.text for m in engine.list(NAMESPACE)] == ["The wifi password is on the fridge."]


def test_readding_a_node_updates_it(store: HippoVectorStore, engine: HippoMemory) -> None:
    store.add([TextNode(id_="n", text="first version", metadata={"v": 1})])
    assert store.add([TextNode(id_="n", text="second version", metadata={"v": 2})]) == ["n"]
    assert engine.count(NAMESPACE) == 1
    (node,) = store.get_nodes(["n"])
    assert node.get_content() == "second version" and node.metadata == {"v": 2}


def test_store_keeps_to_its_namespace(engine: HippoMemory) -> None:
    mine = HippoVectorStore(memory=engine, namespace=("mine",))
    other = HippoVectorStore(memory=engine, namespace=("other",))
    other.add([TextNode(id_="secret", text="a secret about the garden", metadata={"k": 1})])
    mine.add([TextNode(id_="note", text="a note about the garden", metadata={"k": 1})])
    result = mine.query(VectorStoreQuery(query_str="garden", similarity_top_k=5))
    assert result.ids == ["note"]
    assert [n.node_id for n in mine.get_nodes(["secret", "note"])] == ["note"]
    mine.delete_nodes(["secret"])
    mine.delete_nodes(filters=_filters(MetadataFilter(key="k", value=1)))
    assert engine.get("secret").text == "a secret about the garden"
    assert mine.query(VectorStoreQuery(query_str="garden", similarity_top_k=5)).ids == []
    with pytest.raises(InvalidInputError, match="outside namespace"):
        mine.add([TextNode(id_="secret", text="overwrite")])
    other.clear()
    assert engine.count() == 0


def test_query_by_engine_vector(store: HippoVectorStore, engine: HippoMemory) -> None:
    store.add([node.model_copy() for node in PETS])
    vector = engine.encoder.encode(["Pepper the cat"])[0].tolist()
    result = store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=1))
    assert result.ids == ["cat"] and result.nodes is not None
    assert result.nodes[0].get_content() == "Caroline's cat is called Pepper"


def test_query_doc_ids_and_unsupported_requests(store: HippoVectorStore) -> None:
    store.add([TextNode(id_="a", text="apples are red"), TextNode(id_="b", text="apples are green")])
    source = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc")}
    store.add([TextNode(id_="c", text="apples are yellow", relationships=source)])
    assert store.query(VectorStoreQuery(query_str="apples", similarity_top_k=3, doc_ids=["doc"])).ids == ["c"]
    assert store.query(VectorStoreQuery(query_str="apples", similarity_top_k=3, doc_ids=["nothing"])).ids == []
    with pytest.raises(NotImplementedError):
        store.query(VectorStoreQuery(query_str="apples", mode=VectorStoreQueryMode.SVM))
    with pytest.raises(NotImplementedError):
        store.query(VectorStoreQuery(query_str="apples", node_ids=["a"]))
    with pytest.raises(InvalidInputError):
        store.query(VectorStoreQuery(similarity_top_k=1))
    hybrid = store.query(VectorStoreQuery(query_str="red apples", mode=VectorStoreQueryMode.HYBRID))
    assert hybrid.ids == ["a"]


def test_empty_store_answers_empty(store: HippoVectorStore) -> None:
    result = store.query(VectorStoreQuery(query_str="anything", similarity_top_k=2))
    assert (result.nodes, result.ids, result.similarities) == ([], [], [])
    assert store.get_nodes(["x"]) == [] and store.get_nodes() == []


async def test_async_twins(store: HippoVectorStore, engine: HippoMemory) -> None:
    assert await store.async_add([node.model_copy() for node in PETS]) == ["dog", "cat", "paint"]
    result = await store.aquery(VectorStoreQuery(query_str="Biscuit the dog", similarity_top_k=1))
    assert result.ids == ["dog"]
    assert [n.node_id for n in await store.aget_nodes(["cat"])] == ["cat"]
    await store.adelete_nodes(["cat"])
    await store.adelete("None")  # nodes without a document: ref_doc_id is "None"
    assert engine.count(NAMESPACE) == 0
    await store.async_add([PETS[0].model_copy()])
    await store.aclear()
    assert engine.count(NAMESPACE) == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        (MetadataFilters(filters=[]), None),
        (_filters(MetadataFilter(key="a", value=1)), {"a": {"$eq": 1}}),
        (
            _filters(
                MetadataFilter(key="a", value=1, operator=FilterOperator.GT),
                _filters(MetadataFilter(key="a", value=5, operator=FilterOperator.LT)),
                MetadataFilter(key="b", value=["x", "y"], operator=FilterOperator.NIN),
            ),
            {"a": {"$gt": 1, "$lt": 5}, "b": {"$nin": ["x", "y"]}},
        ),
        (_filters(MetadataFilter(key="a", value="x"), condition="or"), {"a": {"$eq": "x"}}),
        (_filters(MetadataFilter(key="a", value=2, operator=FilterOperator.NE)), {"a": {"$ne": 2}}),
    ],
)
def test_to_hippo_filter(given: Any, expected: Any) -> None:
    assert to_hippo_filter(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        _filters(MetadataFilter(key="a", value=1), MetadataFilter(key="b", value=2), condition="or"),
        _filters(MetadataFilter(key="a", value=1), condition="not"),
        _filters(MetadataFilter(key="a", value="x", operator=FilterOperator.TEXT_MATCH)),
        _filters(MetadataFilter(key="a", value=["x"], operator=FilterOperator.ANY)),
        _filters(MetadataFilter(key="a", value=1), MetadataFilter(key="a", value=2)),
        {"a": 1},
    ],
)
def test_to_hippo_filter_rejects_what_the_engine_cannot_express(bad: Any) -> None:
    with pytest.raises(InvalidFilterError):
        to_hippo_filter(bad)


def test_constructor_validates(engine: HippoMemory) -> None:
    with pytest.raises(InvalidNamespaceError):
        HippoVectorStore(memory=engine, namespace=("a.b",))
    with pytest.raises(TypeError):
        HippoVectorStore(memory=object())
    assert tuple(HippoVectorStore(memory=engine).to_dict()["namespace"]) == ("llama_index", "vectors")


def test_from_params_opens_a_directory_and_close_closes_it(tmp_path: Any) -> None:
    from hippo_memory import HashingEncoder, StoreClosedError

    encoder = HashingEncoder(dim=64)
    store = HippoVectorStore.from_params(tmp_path / "vectors", namespace=NAMESPACE, encoder=encoder)
    store.add([node.model_copy() for node in PETS[:1]])
    store.close()
    with pytest.raises(StoreClosedError):
        store.query(VectorStoreQuery(query_str="dog", similarity_top_k=1))
    again = HippoVectorStore.from_params(str(tmp_path / "vectors"), namespace=NAMESPACE, encoder=encoder)
    try:
        result = again.query(VectorStoreQuery(query_str="Biscuit the dog", similarity_top_k=1))
        assert result.ids == ["dog"]
    finally:
        again.close()


def test_from_params_in_memory_and_a_shared_engine_is_left_open(engine: HippoMemory) -> None:
    from hippo_memory import HashingEncoder

    store = HippoVectorStore.from_params(":memory:", encoder=HashingEncoder(dim=64))
    store.add([node.model_copy() for node in PETS])
    assert len(store.query(VectorStoreQuery(query_str="cat", similarity_top_k=3)).ids or []) == 3
    store.close()
    shared = HippoVectorStore(memory=engine, namespace=NAMESPACE)
    shared.close()  # the caller's engine: not closed
    shared.add([PETS[0].model_copy()])
