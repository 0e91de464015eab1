"""Tools, and a FunctionAgent (driven by a mock function-calling LLM) calling the chain tool."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ToolCall, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.llms import MockFunctionCallingLLM
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore
from llama_index.core.tools import FunctionTool
from llama_index.memory.hippo import (
    HippoChatMemory,
    HippoToolSpec,
    create_chain_tool,
    create_recall_tool,
    create_remember_tool,
)

from hippo_memory import EmptyTextError, HippoMemory, InvalidInputError, InvalidNamespaceError

NAMESPACE = ("users", "caroline")
STORY = [
    "Caroline adopted a puppy named Biscuit from the shelter.",
    "Biscuit was diagnosed with a hip problem last spring.",
    "The vet who treats that hip problem is Dr. Okafor in Porto.",
]
OTHER = [
    "Caroline started a pottery class on Tuesday evenings.",
    "Her pottery teacher used to work in a bakery in Lisbon.",
]
QUESTION = "Who treats the puppy Caroline adopted?"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "llamaindex_agent.py"
# FunctionAgent's workflow machinery inspects pydantic models and trips their deprecation warnings.
AGENT_WARNINGS = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def story(engine: HippoMemory) -> HippoMemory:
    engine.remember_many(STORY, namespace=NAMESPACE, session="2024-05-02")
    engine.remember_many(OTHER, namespace=NAMESPACE, session="2024-06-11")
    return engine


def hop_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"hop \d+ ", line)]


def test_tool_spec_lists_sync_and_async_tools(story: HippoMemory) -> None:
    tools = HippoToolSpec(story, namespace=NAMESPACE).to_tool_list()
    assert [t.metadata.name for t in tools] == ["recall_memory", "recall_chain", "remember", "forget"]
    assert all(isinstance(t, FunctionTool) and t.async_fn is not None for t in tools)
    schema = tools[1].metadata.get_parameters_dict()
    assert schema["required"] == ["query"]
    assert "description" in schema["properties"]["query"]


def test_recall_and_remember_tools(engine: HippoMemory) -> None:
    remember = create_remember_tool(engine, namespace=NAMESPACE, session="notes")
    recall = create_recall_tool(engine, namespace=NAMESPACE, k=2)
    assert recall.call(query="where is the spare key").content == "No memories found."
    assert "Remembered" in remember.call(text="The spare key is under the blue flowerpot.").content
    assert "blue flowerpot" in recall.call(query="Where is the spare key?").content
    stored = engine.recall("spare key", namespace=NAMESPACE, k=1)[0].memory
    assert stored.session == "notes" and stored.metadata == {"source": "llama_index_tool"}


def test_chain_tool_returns_the_chain_hop_by_hop(story: HippoMemory) -> None:
    tool = create_chain_tool(story, namespace=NAMESPACE, hops=2)
    text = tool.call(query=QUESTION).content
    lines = hop_lines(text)
    assert [line.split(" (")[0] for line in lines] == ["hop 0", "hop 1", "hop 2"]
    for line, fact in zip(lines, STORY, strict=True):
        assert line.endswith(fact)
    assert "stopped: hop limit reached" in text
    assert len(hop_lines(tool.call(query=QUESTION, hops=1).content)) == 2
    assert tool.call(query=QUESTION).content == text  # deterministic


async def test_tools_async(story: HippoMemory) -> None:
    chain = create_chain_tool(story, namespace=NAMESPACE)
    output = await chain.acall(query=QUESTION, hops=2)
    assert "Dr. Okafor" in output.content
    recall = create_recall_tool(story, namespace=("users", "nobody"))
    assert (await recall.acall(query="anything")).content == "No memories found."


def test_tool_bad_input(story: HippoMemory) -> None:
    spec = HippoToolSpec(story, namespace=NAMESPACE, max_k=3)
    with pytest.raises(InvalidInputError):
        spec.recall_memory("puppy", k=0)
    with pytest.raises(InvalidInputError):
        spec.recall_chain("puppy", hops=-1)
    with pytest.raises(EmptyTextError):
        spec.recall_chain("  ")
    with pytest.raises(EmptyTextError):
        spec.remember("")
    with pytest.raises(InvalidNamespaceError):
        HippoToolSpec(story, namespace=("users.caroline",))
    with pytest.raises(TypeError):
        HippoToolSpec("engine")  # type: ignore[arg-type]
    assert len(spec.recall_memory("Caroline", k=50).splitlines()) == 3  # capped by max_k


def chain_script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """A mock function-calling model: call recall_chain, then answer with its output."""
    last = messages[-1]
    if last.role == "tool":
        return ChatMessage(role="assistant", content=f"According to my memory:\n{last.content}")
    call = ToolCallBlock(tool_call_id="call-1", tool_name="recall_chain", tool_kwargs={"query": last.content})
    return ChatMessage(role="assistant", blocks=[call])


@AGENT_WARNINGS
async def test_function_agent_calls_the_chain_tool(story: HippoMemory) -> None:
    agent = FunctionAgent(
        tools=[create_chain_tool(story, namespace=NAMESPACE, hops=2)],
        llm=MockFunctionCallingLLM(response_generator=chain_script),
    )
    handler = agent.run(user_msg=QUESTION)
    calls: list[ToolCall] = []
    results: list[ToolCallResult] = []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            results.append(event)
        elif isinstance(event, ToolCall):
            calls.append(event)
    response = await handler

    assert [c.tool_name for c in calls] == ["recall_chain"]
    assert calls[0].tool_kwargs == {"query": QUESTION}
    assert len(results) == 1 and not results[0].tool_output.is_error
    hops = hop_lines(results[0].tool_output.content)
    assert len(hops) >= 3, "the agent must receive a chain of at least two hops"
    assert "Dr. Okafor" in hops[-1]
    assert "Dr. Okafor" in str(response)


@AGENT_WARNINGS
async def test_function_agent_with_hippo_chat_memory(
    story: HippoMemory, new_chat_store: Callable[[], SQLAlchemyChatStore]
) -> None:
    memory = HippoChatMemory.from_defaults(
        story, namespace=("agent",), session_id="caroline", chat_store=new_chat_store()
    )
    agent = FunctionAgent(
        tools=[create_chain_tool(story, namespace=NAMESPACE, hops=2)],
        llm=MockFunctionCallingLLM(response_generator=chain_script),
    )
    await agent.run(user_msg=QUESTION, memory=memory)
    stored = story.recall("Okafor", namespace=("agent", "caroline"), k=5).memories
    roles = sorted(m.metadata["role"] for m in stored)
    assert roles == ["assistant", "user"]  # the question and the final answer; tool traffic skipped


@AGENT_WARNINGS
async def test_example_runs_offline(capsys: pytest.CaptureFixture[str]) -> None:
    if not EXAMPLE.exists():
        pytest.skip("examples/ is not part of this checkout")
    spec = importlib.util.spec_from_file_location("llamaindex_agent_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    answer = await module.main()
    assert "Dr. Okafor" in answer
    printed = capsys.readouterr().out
    assert "-> agent calls recall_chain" in printed
    assert json.dumps(QUESTION)[1:-1] in printed


def test_forget_tool_stays_in_its_namespace(engine: HippoMemory) -> None:
    from llama_index.memory.hippo import create_forget_tool

    mine = engine.remember("The spare key is under the mat.", namespace=NAMESPACE)
    theirs = engine.remember("Bob's key is in the drawer.", namespace=("users", "bob"))
    forget = create_forget_tool(engine, namespace=NAMESPACE)
    assert forget.metadata.name == "forget"
    assert forget.call(memory_id=theirs).content == f"No memory with id {theirs} to forget."
    assert engine.get(theirs).text == "Bob's key is in the drawer."
    assert forget.call(memory_id="missing").content == "No memory with id missing to forget."
    assert forget.call(memory_id=mine).content == f"Forgot memory {mine}."
    assert engine.count(NAMESPACE) == 0


async def test_forget_tool_async(engine: HippoMemory) -> None:
    spec = HippoToolSpec(engine, namespace=NAMESPACE)
    reply = await spec.aremember("The spare key is under the mat.")
    memory_id = reply.removeprefix("Remembered (id ").removesuffix(").")
    assert await spec.aforget(memory_id) == f"Forgot memory {memory_id}."
    assert await spec.aforget(memory_id) == f"No memory with id {memory_id} to forget."
