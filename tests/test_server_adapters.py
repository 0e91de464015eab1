"""The adapters over a HippoClient instead of an engine (issue 15: "every adapter can take a client").

The LangChain tools and the agent middleware only call HippoMemory's methods, so a
client works in their place; these tests run them against a live server with an API
key bound to a prefix. The other adapters check ``isinstance(memory, HippoMemory)``
(pydantic fields or explicit checks) or read ``memory.config`` / ``memory.encoder``,
which a client does not have: they are pinned below as strict xfails, so the day an
adapter accepts a client the test says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from _server_support import live_server, small_memory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import BaseTool
from pydantic import Field

from hippo_memory import HippoClient, HippoMemory
from hippo_memory.server import KeyStore, create_app

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


def _langgraph_store(client: HippoClient) -> object:
    from langchain_hippo_memory import HippoStore

    store = HippoStore(client)  # type: ignore[arg-type]
    store.put(ALICE, "pet", {"text": "Alice has a greyhound"})
    return store.search(ALICE, query="greyhound")


def _langchain_retriever(client: HippoClient) -> object:
    from langchain_hippo_memory import HippoRetriever

    return HippoRetriever(memory=client, namespace=ALICE).invoke("greyhound")  # type: ignore[arg-type]


def _langchain_vectorstore(client: HippoClient) -> object:
    from langchain_hippo_memory import HippoVectorStore

    return HippoVectorStore(client)  # type: ignore[arg-type]


def _llama_block(client: HippoClient) -> object:
    from llama_index.memory.hippo import HippoMemoryBlock

    return HippoMemoryBlock(memory=client, namespace=ALICE)


def _llama_chat_memory(client: HippoClient) -> object:
    from llama_index.memory.hippo import HippoChatMemory

    return HippoChatMemory.from_defaults(memory=client, namespace=ALICE)


def _llama_retriever(client: HippoClient) -> object:
    from llama_index.memory.hippo import HippoRetriever

    return HippoRetriever(memory=client, namespace=ALICE).retrieve("greyhound")  # type: ignore[arg-type]


def _llama_tools(client: HippoClient) -> object:
    from llama_index.memory.hippo import HippoToolSpec

    return HippoToolSpec(memory=client, namespace=ALICE).to_tool_list()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "why"),
    [
        (_langgraph_store, "HippoStore reads memory.config and memory.encoder, which HippoClient lacks"),
        (_langchain_retriever, "HippoRetriever's pydantic field is typed HippoMemory (an isinstance check)"),
        (_langchain_vectorstore, "HippoVectorStore checks isinstance(memory, HippoMemory) and encodes locally"),
        (_llama_block, "HippoMemoryBlock's pydantic field is typed HippoMemory"),
        (_llama_chat_memory, "HippoChatMemory's pydantic field is typed HippoMemory"),
        (_llama_retriever, "the LlamaIndex retriever checks isinstance(memory, HippoMemory)"),
        (_llama_tools, "HippoToolSpec checks isinstance(memory, HippoMemory)"),
    ],
)
def test_adapters_that_do_not_take_a_client_yet(
    served: tuple[HippoClient, HippoMemory], build: Callable[[HippoClient], object], why: str
) -> None:
    if build.__name__.startswith("_llama"):
        pytest.importorskip("llama_index.memory.hippo")
    client, _ = served
    try:
        build(client)
    except Exception as exc:
        pytest.xfail(f"{why}: {type(exc).__name__}")
    pytest.fail(f"this adapter now takes a HippoClient: turn this case into a real test ({why})")
