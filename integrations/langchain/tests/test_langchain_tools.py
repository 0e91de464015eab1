"""recall_memory, recall_chain, remember and forget tools, on their own."""

from __future__ import annotations

import pytest
from hippo_memory import HippoMemory
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from langchain_hippo_memory import (
    RecallAssociationsInput,
    RecallChainInput,
    RecallMemoryInput,
    create_chain_tool,
    create_memory_tools,
    create_recall_tool,
)

STORY = [
    "Caroline adopted a golden retriever named Biscuit.",
    "Biscuit chewed the red leather sofa in the living room.",
    "The sofa was replaced with a blue velvet couch from Porto.",
    "The Porto furniture shop is owned by Dana's uncle.",
]


@pytest.fixture
def story(memory: HippoMemory) -> HippoMemory:
    memory.remember_many(STORY, namespace=("users", "caroline"), session="day-1")
    memory.remember("Bob collects stamps.", namespace=("users", "bob"))
    return memory


def call(tool: BaseTool, args: dict[str, object], **config: object) -> ToolMessage:
    message = tool.invoke(
        {"type": "tool_call", "name": tool.name, "args": args, "id": "call-1"},
        config={"configurable": config} if config else None,
    )
    assert isinstance(message, ToolMessage)
    return message


def test_recall_tool_schema_and_output(story: HippoMemory) -> None:
    tool = create_recall_tool(story, namespace=("users", "caroline"), k=2)
    assert tool.name == "recall_memory"
    assert tool.args_schema is RecallMemoryInput
    assert set(tool.args) == {"query", "k"}
    message = call(tool, {"query": "golden retriever Biscuit"})
    assert "Caroline adopted a golden retriever named Biscuit." in message.content
    assert len(message.artifact) == 2
    assert message.artifact[0]["text"] in STORY
    assert {"score", "similarity", "id", "namespace"} <= set(message.artifact[0])
    assert len(call(tool, {"query": "Biscuit", "k": 4}).artifact) == 4
    assert "Bob" not in call(tool, {"query": "stamps", "k": 4}).content


def test_recall_tool_rejects_bad_arguments(story: HippoMemory) -> None:
    tool = create_recall_tool(story)
    with pytest.raises(ValidationError):
        tool.invoke({"query": "x", "k": 0})
    with pytest.raises(ValidationError):
        tool.invoke({"k": 3})


def test_chain_tool_follows_associations_hop_by_hop(story: HippoMemory) -> None:
    tool = create_chain_tool(story, namespace=("users", "caroline"), hops=3)
    assert tool.name == "recall_chain"  # as in the LlamaIndex adapter
    assert tool.args_schema is RecallChainInput
    message = call(tool, {"query": "golden retriever adopted"})
    hops = message.artifact
    assert len(hops) >= 3
    assert [h["hop"] for h in hops] == list(range(len(hops)))
    texts = [h["text"] for h in hops]
    assert texts == STORY[STORY.index(texts[0]) : STORY.index(texts[0]) + len(texts)]
    assert "hop 2" in message.content and "Stopped:" in message.content
    assert len(call(tool, {"query": "golden retriever adopted", "hops": 0}).artifact) == 1


def test_namespace_templates_fill_from_config(story: HippoMemory) -> None:
    tool = create_recall_tool(story, namespace=("users", "{user_id}"))
    assert "Bob collects stamps." in call(tool, {"query": "stamps"}, user_id="bob").content
    assert "Bob" not in call(tool, {"query": "stamps"}, user_id="caroline").content
    nobody = call(tool, {"query": "stamps"}, user_id="nobody")
    assert nobody.content.startswith("No memories") and nobody.artifact == []
    with pytest.raises(ValueError, match="user_id"):
        call(tool, {"query": "stamps"})


async def test_tools_async(story: HippoMemory) -> None:
    recall, chain = create_memory_tools(story, namespace=("users", "caroline"))
    message = await recall.ainvoke(
        {"type": "tool_call", "name": recall.name, "args": {"query": "Porto"}, "id": "1"}
    )
    assert "Porto" in message.content
    message = await chain.ainvoke(
        {"type": "tool_call", "name": chain.name, "args": {"query": "golden retriever"}, "id": "2"}
    )
    assert len(message.artifact) >= 3
    empty = create_chain_tool(story, namespace=("nobody",))
    message = await empty.ainvoke(
        {"type": "tool_call", "name": empty.name, "args": {"query": "x"}, "id": "3"}
    )
    assert message.artifact == []


def test_former_chain_tool_name_still_works_but_warns(story: HippoMemory) -> None:
    assert RecallAssociationsInput is RecallChainInput
    with pytest.warns(DeprecationWarning, match="recall_chain"):
        tool = create_chain_tool(story, namespace=("users", "caroline"), name="recall_associations")
    assert tool.name == "recall_associations"
    assert call(tool, {"query": "golden retriever adopted"}).artifact


def test_descriptions_match_the_llama_index_adapter(story: HippoMemory) -> None:
    pytest.importorskip("llama_index.memory.hippo")
    from llama_index.memory.hippo import HippoToolSpec

    theirs = {t.metadata.name: t.metadata for t in HippoToolSpec(story).to_tool_list()}
    for tool in (create_recall_tool(story), create_chain_tool(story)):
        assert tool.name in theirs
        # LlamaIndex prefixes the signature and keeps the docstring's line breaks
        assert " ".join(theirs[tool.name].description.split()).endswith(
            " ".join(tool.description.split())
        )


def test_remember_and_forget_resolve_the_namespace_per_call(memory: HippoMemory) -> None:
    from langchain_hippo_memory import create_forget_tool, create_remember_tool

    remember = create_remember_tool(memory, namespace=("users", "{user_id}"))
    forget = create_forget_tool(memory, namespace=("users", "{user_id}"))
    alice = call(remember, {"text": "Alice likes green tea."}, user_id="alice").artifact
    bob = call(remember, {"text": "Bob likes coffee."}, user_id="bob").artifact
    assert memory.get(alice).namespace == ("users", "alice")
    assert memory.get(alice).metadata == {"source": "langchain_tool"}
    # Alice's forget tool cannot reach Bob's memory, and says it as for a missing one.
    refused = call(forget, {"memory_id": bob}, user_id="alice")
    assert refused.content == f"No memory with id {bob} to forget." and refused.artifact is False
    assert memory.get(bob).text == "Bob likes coffee."
    done = call(forget, {"memory_id": alice}, user_id="alice")
    assert done.content == f"Forgot memory {alice}." and done.artifact is True
    assert memory.count(("users", "alice")) == 0


async def test_remember_and_forget_async(memory: HippoMemory) -> None:
    from hippo_memory import DEFAULT_NAMESPACE

    from langchain_hippo_memory import create_forget_tool, create_remember_tool

    remember = create_remember_tool(memory)
    message = await remember.ainvoke(
        {"type": "tool_call", "name": "remember", "args": {"text": "A fact."}, "id": "1"}
    )
    memory_id = message.artifact
    assert memory.get(memory_id).namespace == DEFAULT_NAMESPACE
    elsewhere = create_forget_tool(memory, namespace=("elsewhere",))
    assert await elsewhere.ainvoke({"memory_id": memory_id}) == (
        f"No memory with id {memory_id} to forget."
    )
    anywhere = create_forget_tool(memory)
    assert await anywhere.ainvoke({"memory_id": memory_id}) == f"Forgot memory {memory_id}."
    assert memory.count() == 0
