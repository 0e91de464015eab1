"""LangChain v1 runtime context: ``agent.invoke(..., context=Ctx(user_id=...))`` fills
namespace templates in the tools and the middleware, sync and async."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypedDict

import pytest
from hippo_memory import HippoMemory, InvalidNamespaceError
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_hippo_memory import HippoMemoryMiddleware, create_memory_tools
from langchain_hippo_memory._namespace import resolve_namespace

TEMPLATE = ("users", "{user_id}")


@dataclass
class Ctx:
    user_id: str


class DictCtx(TypedDict):
    user_id: str


def _call(name: str, args: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "c1"}])


@pytest.fixture
def two_users(memory: HippoMemory) -> HippoMemory:
    memory.remember("Ana's cat is called Miso.", namespace=("users", "ana"))
    memory.remember("Ben's cat is called Tofu.", namespace=("users", "ben"))
    return memory


def test_resolve_namespace_reads_context_attribute_key_then_configurable() -> None:
    assert resolve_namespace(TEMPLATE, None, context=Ctx("ana")) == ("users", "ana")
    assert resolve_namespace(TEMPLATE, None, context={"user_id": "ana"}) == ("users", "ana")
    config = {"configurable": {"user_id": "ben"}}
    assert resolve_namespace(TEMPLATE, config, context=Ctx("ana")) == ("users", "ana")
    assert resolve_namespace(TEMPLATE, config, context=None) == ("users", "ben")
    assert resolve_namespace(TEMPLATE, config, context=object()) == ("users", "ben")
    with pytest.raises(InvalidNamespaceError, match="runtime context"):
        resolve_namespace(TEMPLATE, {}, context=None)


@pytest.mark.parametrize("tool", ["recall_memory", "recall_chain"])
@pytest.mark.parametrize("context", [Ctx("ana"), {"user_id": "ana"}])
@pytest.mark.parametrize("run", ["sync", "async"])
def test_tools_resolve_templates_from_runtime_context(
    two_users: HippoMemory, scripted_model: Any, tool: str, context: Any, run: str
) -> None:
    model = scripted_model(messages=iter([_call(tool, {"query": "cat"}), AIMessage("Miso.")]))
    agent = create_agent(
        model,
        tools=create_memory_tools(two_users, namespace=TEMPLATE),
        context_schema=Ctx if isinstance(context, Ctx) else DictCtx,
    )
    state = {"messages": [HumanMessage("What is my cat called?")]}
    if run == "sync":
        result = agent.invoke(state, context=context)
    else:
        result = asyncio.run(agent.ainvoke(state, context=context))
    message = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert message.status == "success", message.content
    assert "Miso" in message.content and "Tofu" not in message.content


@pytest.mark.parametrize("run", ["sync", "async"])
def test_middleware_resolves_templates_from_runtime_context(
    two_users: HippoMemory, scripted_model: Any, run: str
) -> None:
    model = scripted_model(messages=iter([AIMessage("Your cat is Miso.")]))
    middleware = HippoMemoryMiddleware(two_users, namespace=TEMPLATE, k=2)
    agent = create_agent(model, middleware=[middleware], context_schema=Ctx)
    state = {"messages": [HumanMessage("What is my cat called?")]}
    if run == "sync":
        agent.invoke(state, context=Ctx(user_id="ana"))
    else:
        asyncio.run(agent.ainvoke(state, context=Ctx(user_id="ana")))
    system = model.calls[0][0]
    assert isinstance(system, SystemMessage)
    assert "Miso" in system.content and "Tofu" not in system.content
    assert two_users.count(("users", "ana")) == 3  # the exchange was stored for Ana
    assert two_users.count(("users", "ben")) == 1


def test_middleware_context_wins_over_configurable(
    two_users: HippoMemory, scripted_model: Any
) -> None:
    model = scripted_model(messages=iter([AIMessage("Tofu.")]))
    agent = create_agent(
        model, middleware=[HippoMemoryMiddleware(two_users, namespace=TEMPLATE)], context_schema=Ctx
    )
    agent.invoke(
        {"messages": [HumanMessage("What is my cat called?")]},
        {"configurable": {"user_id": "ana"}},
        context=Ctx(user_id="ben"),
    )
    assert two_users.count(("users", "ben")) == 3
    assert two_users.count(("users", "ana")) == 1
