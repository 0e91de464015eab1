"""The adapters over a HippoClient instead of an engine (issue 15: "every adapter can take a client").

Every adapter is typed with :class:`hippo_memory.integration.MemoryBackend`, which
both the engine and the client satisfy. These tests run each one against a live
server with an API key bound to ``users/alice`` (Bob's memory lies beside Alice's),
sync and async, and check both the answers and that the key confines them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from _server_support import live_server, small_memory
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import BaseTool
from pydantic import Field

from hippo_memory import HashingEncoder, HippoClient, HippoMemory, InvalidConfigError
from hippo_memory.integration import NotAMemoryBackendError
from hippo_memory.server import KeyStore, PermissionDeniedError, create_app

ALICE = ("users", "alice")


class _Scripted(GenericFakeChatModel):
    """Replies from a script and records every input (as the adapters' own tests do)."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> _Scripted:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


@pytest.fixture
def served(tmp_path: Any) -> Iterator[tuple[HippoClient, HippoMemory]]:
    """A client with a key bound to users/alice, and the served memory (Bob's memory beside Alice's)."""
    memory = small_memory()
    memory.remember_many(
        ["Alice adopted a greyhound named Pixel", "Pixel chewed the red sofa"], namespace=ALICE, session="s"
    )
    memory.remember("Bob adopted a greyhound named Rex", namespace=("users", "bob"))
    keys = KeyStore(tmp_path / "keys.json")
    token, _ = keys.create("users/alice", ["read", "write"])
    with live_server(create_app(memory, keys=keys, mcp=False)) as url, HippoClient(url, api_key=token) as client:
        yield client, memory
    memory.close()


def _call(tool: BaseTool, args: dict[str, object]) -> ToolMessage:
    message = tool.invoke({"type": "tool_call", "name": tool.name, "args": args, "id": "call-1"})
    assert isinstance(message, ToolMessage)
    return message


def test_langchain_tools_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import create_chain_tool, create_forget_tool, create_recall_tool, create_remember_tool

    client, memory = served
    recalled = _call(create_recall_tool(client, namespace=ALICE, k=5), {"query": "Which greyhound was adopted?"})
    assert "Pixel" in recalled.content and "Rex" not in recalled.content
    chain = _call(create_chain_tool(client, namespace=ALICE), {"query": "Alice adopted a greyhound", "hops": 1})
    assert "hop 0" in chain.content and "Rex" not in chain.content

    made = _call(create_remember_tool(client, namespace=ALICE), {"text": "Alice drinks green tea."})
    assert memory.get(made.artifact).namespace == ALICE
    bob = memory.list(("users", "bob"))[0].id
    refused = _call(create_forget_tool(client, namespace=ALICE), {"memory_id": bob})
    assert refused.artifact is False and memory.get(bob).text == "Bob adopted a greyhound named Rex"
    done = _call(create_forget_tool(client, namespace=ALICE), {"memory_id": made.artifact})
    assert done.artifact is True and memory.count(ALICE) == 2


async def test_langchain_tools_async_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import create_recall_tool

    client, _ = served
    tool = create_recall_tool(client, namespace=ALICE)
    message = await tool.ainvoke({"type": "tool_call", "name": tool.name, "args": {"query": "sofa"}, "id": "c"})
    assert "sofa" in message.content


def test_agent_middleware_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    pytest.importorskip("langchain.agents")
    from langchain.agents import create_agent
    from langchain_hippo_memory import HippoMemoryMiddleware

    client, memory = served
    model = _Scripted(messages=iter([AIMessage(content="Pixel.")]))
    middleware = HippoMemoryMiddleware(client, namespace=ALICE, k=1)
    agent = create_agent(model, middleware=[middleware])
    result = agent.invoke({"messages": [HumanMessage("What is my greyhound called?")]})
    assert result["messages"][-1].content == "Pixel."
    assert "Alice adopted a greyhound named Pixel" in str(model.calls[0][0].content)  # recalled through the server
    stored = {m.text for m in memory.list(ALICE) if m.session == middleware.session}
    assert stored == {"What is my greyhound called?", "Pixel."}  # the exchange, written through the server


def test_langgraph_store_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import HippoStore

    client, memory = served
    store = HippoStore(client)
    assert store.embeddings is None  # the server encodes
    prefs, pets = (*ALICE, "prefs"), (*ALICE, "pets")
    store.put(pets, "dog", {"text": "Alice walks her greyhound Pixel at dawn", "kind": "pet"})
    store.put(prefs, "tea", {"text": "Alice drinks green tea", "kind": "drink"})
    item = store.get(pets, "dog")
    assert item is not None and item.value["kind"] == "pet" and item.key == "dog"
    assert memory.list(pets)[0].namespace == pets  # written where the item lives, through the server

    found = store.search(ALICE, query="greyhound at dawn", limit=2)
    assert next(hit.key for hit in found) == "dog" and found[0].score is not None
    assert [hit.key for hit in store.search(ALICE, filter={"kind": "drink"})] == ["tea"]
    assert sorted(store.list_namespaces()) == [ALICE, pets, prefs]  # Alice's, never Bob's
    assert store.list_namespaces(prefix=("users",)) == store.list_namespaces()  # clipped to the key

    with pytest.raises(PermissionDeniedError):
        store.put(("users", "bob"), "dog", {"text": "Bob's dog"})
    store.delete(prefs, "tea")
    assert store.get(prefs, "tea") is None and memory.count(prefs) == 0
    with pytest.raises(InvalidConfigError, match="dims"):
        HippoStore(client, index={"dims": 128})


async def test_langgraph_store_async_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import HippoStore

    client, _ = served
    store = HippoStore(client)
    await store.aput((*ALICE, "notes"), "n1", {"text": "Pixel chewed the red sofa again"})
    item = await store.aget((*ALICE, "notes"), "n1")
    assert item is not None and item.value == {"text": "Pixel chewed the red sofa again"}
    assert [hit.key for hit in await store.asearch(ALICE, query="sofa")] == ["n1"]
    await store.adelete((*ALICE, "notes"), "n1")
    assert await store.alist_namespaces() == [ALICE]  # the fixture's memories; not Bob's


def test_langchain_retriever_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import HippoRetriever

    client, _ = served
    docs = HippoRetriever(memory=client, namespace=ALICE, k=2).invoke("Which greyhound was adopted?")
    assert docs[0].page_content == "Alice adopted a greyhound named Pixel"
    assert docs[0].metadata["hippo"]["namespace"] == list(ALICE)
    everywhere = HippoRetriever(memory=client, k=5).invoke("greyhound")  # no namespace: the key's prefix
    assert everywhere and all("Rex" not in d.page_content for d in everywhere)
    with pytest.raises(PermissionDeniedError):
        HippoRetriever(memory=client, namespace=("users", "bob")).invoke("greyhound")


async def test_langchain_retriever_async_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import HippoRetriever

    client, _ = served
    docs = await HippoRetriever(memory=client, namespace=ALICE, k=1).ainvoke("red sofa")
    assert [d.page_content for d in docs] == ["Pixel chewed the red sofa"]


class _ServerEncoder(Embeddings):
    """The served engine's encoder model run here, as LangChain embeddings (for vector search and MMR)."""

    def __init__(self) -> None:
        self.encoder = HashingEncoder(dim=128)  # what small_memory() serves

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.encoder.encode(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_langchain_vectorstore_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import HippoVectorStore

    client, memory = served
    docs = (*ALICE, "docs")
    store = HippoVectorStore(client, namespace=docs)
    assert store.embeddings is None
    ids = store.add_texts(
        ["Lisbon has seven hills", "Porto is famous for its wine"],
        [{"city": "lisbon"}, {"city": "porto"}],
        ids=["l", "p"],
    )
    assert ids == ["l", "p"] and memory.count(docs) == 2
    assert [d.id for d in store.similarity_search("wine", k=1)] == ["p"]
    assert [d.id for d in store.similarity_search("hills", k=2, filter={"city": "porto"})] == ["p"]
    assert [d.page_content for d in store.get_by_ids(["l"])] == ["Lisbon has seven hills"]
    store.add_texts(["Lisbon has seven hills and trams"], [{"city": "lisbon"}], ids=["l"])  # an update in place
    assert store.get_by_ids(["l"])[0].page_content.endswith("trams") and memory.count(docs) == 2

    bob = memory.list(("users", "bob"))[0].id
    assert store.get_by_ids([bob]) == []  # Bob's memory is not there for Alice's key
    with pytest.raises(InvalidConfigError, match="embeddings="):
        store.max_marginal_relevance_search("wine", k=1)
    with pytest.raises(PermissionDeniedError):
        HippoVectorStore(client, namespace=("users", "bob")).add_texts(["Bob's doc"])

    local = HippoVectorStore(client, namespace=docs, embeddings=_ServerEncoder())
    vector = local.embeddings.embed_query("Porto wine")  # type: ignore[union-attr]
    assert [d.id for d in local.similarity_search_by_vector(vector, k=1)] == ["p"]
    assert {d.id for d in local.max_marginal_relevance_search("wine", k=2, fetch_k=2)} == {"l", "p"}
    assert store.delete(["p"]) is True and memory.count(docs) == 1
    with pytest.raises(InvalidConfigError):
        HippoVectorStore(memory, embeddings=_ServerEncoder())  # an engine encodes with its own encoder
    with pytest.raises(NotAMemoryBackendError, match="HippoClient"):
        HippoVectorStore(object())  # type: ignore[arg-type]


async def test_langchain_vectorstore_async_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from langchain_hippo_memory import HippoVectorStore

    client, memory = served
    store = HippoVectorStore(client, namespace=(*ALICE, "adocs"))
    assert await store.aadd_texts(["Faro has beaches"], ids=["f"]) == ["f"]
    assert [d.id for d in await store.asimilarity_search("beaches", k=1)] == ["f"]
    assert [d.id for d in await store.aget_by_ids(["f"])] == ["f"]
    assert await store.adelete() is True and memory.count((*ALICE, "adocs")) == 0


def _llama(name: str) -> Any:
    module = pytest.importorskip("llama_index.memory.hippo")
    return getattr(module, name)


async def test_llama_block_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from llama_index.core.base.llms.types import ChatMessage

    client, memory = served
    block = _llama("HippoMemoryBlock")(memory=client, namespace=(*ALICE, "chat"))
    await block.aput([ChatMessage(role="user", content="My cat Miso sleeps on the piano")], session_id="s1")
    assert [m.text for m in memory.list((*ALICE, "chat", "s1"))] == ["My cat Miso sleeps on the piano"]
    context = await block.aget([ChatMessage(role="user", content="Where does Miso sleep?")], session_id="s1")
    assert "Miso sleeps on the piano" in context
    assert await block.aget([ChatMessage(role="user", content="Miso")], session_id="s2") == ""
    bob = _llama("HippoMemoryBlock")(memory=client, namespace=("users", "bob"))
    with pytest.raises(PermissionDeniedError):
        await bob.aput([ChatMessage(role="user", content="Bob's secret")], session_id="s1")


def test_llama_chat_memory_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from llama_index.core.base.llms.types import ChatMessage

    client, memory = served
    chat = _llama("HippoChatMemory").from_defaults(client, session_id="s", namespace=(*ALICE, "chat"))
    chat.put(ChatMessage(role="user", content="The wifi password is tangerine42."))
    assert memory.count((*ALICE, "chat", "s")) == 1
    chat.reset()
    messages = chat.get(input="what is the wifi password")
    assert messages[0].role == "system" and "tangerine42" in (messages[0].content or "")


async def test_llama_chat_memory_async_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from llama_index.core.base.llms.types import ChatMessage

    client, _ = served
    chat = _llama("HippoChatMemory").from_defaults(client, session_id="a", namespace=(*ALICE, "chat"))
    await chat.aput(ChatMessage(role="user", content="My bike is a red Brompton."))
    await chat.areset()
    messages = await chat.aget(input="What colour is my bike?")
    assert "red Brompton" in (messages[0].content or "")


async def test_llama_retriever_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    client, _ = served
    retriever = _llama("HippoRetriever")(client, namespace=("users",), k=5)
    nodes = retriever.retrieve("greyhound")
    texts = [n.node.get_content() for n in nodes]
    assert "Alice adopted a greyhound named Pixel" in texts and all("Rex" not in t for t in texts)
    assert next(n.node.get_content() for n in await retriever.aretrieve("sofa")) == "Pixel chewed the red sofa"
    with pytest.raises(TypeError, match="HippoClient"):
        _llama("HippoRetriever")("not a memory")


async def test_llama_tools_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    client, memory = served
    spec = _llama("HippoToolSpec")(client, namespace=ALICE)
    tools = {tool.metadata.name: tool for tool in spec.to_tool_list()}
    assert set(tools) == {"recall_memory", "recall_chain", "remember", "forget"}
    recalled = str(tools["recall_memory"].call(query="Which greyhound was adopted?"))
    assert "Pixel" in recalled and "Rex" not in recalled
    made = str(tools["remember"].call(text="Alice plays the cello."))
    assert memory.count(ALICE) == 3 and "cello" in str(await tools["recall_memory"].acall(query="cello"))
    bob = memory.list(("users", "bob"))[0].id
    assert "No memory" in str(tools["forget"].call(memory_id=bob))
    assert memory.get(bob).text == "Bob adopted a greyhound named Rex"
    cello = made.removeprefix("Remembered (id ").removesuffix(").")  # the key's own id for it
    assert made == f"Remembered (id {cello})." and client.get(cello).text == "Alice plays the cello."
    assert "Forgot" in str(await tools["forget"].acall(memory_id=cello)) and memory.count(ALICE) == 2


async def test_llama_vector_store_over_a_client(served: tuple[HippoClient, HippoMemory]) -> None:
    from llama_index.core import Document, MockEmbedding, StorageContext, VectorStoreIndex

    client, memory = served
    docs = (*ALICE, "nodes")
    store = _llama("HippoVectorStore")(memory=client, namespace=docs)
    assert store.client is client
    index = VectorStoreIndex.from_documents(
        [Document(text="The spare key is under the blue flowerpot.", id_="house")],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=MockEmbedding(embed_dim=8),
    )
    assert memory.count(docs) == 1
    hits = index.as_retriever(similarity_top_k=1).retrieve("Where is the spare key?")
    assert hits[0].node.ref_doc_id == "house" and "flowerpot" in hits[0].node.get_content()
    assert [h.node.ref_doc_id for h in await index.as_retriever(similarity_top_k=1).aretrieve("key")] == ["house"]
    index.delete_ref_doc("house")
    assert memory.count(docs) == 0
    with pytest.raises(PermissionDeniedError):
        _llama("HippoVectorStore")(memory=client, namespace=("users", "bob")).add([_text_node()])


def _text_node() -> Any:
    from llama_index.core.schema import TextNode

    return TextNode(id_="bob-node", text="Bob's node")
