"""End to end: real ``create_agent`` loops with a scripted tool-calling model."""

from __future__ import annotations

import builtins
import sys
import uuid
from typing import Any

import pytest
from hippo_memory import HippoMemory, MissingDependencyError
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

import langchain_hippo_memory
from langchain_hippo_memory import HippoMemoryMiddleware, create_chain_tool, create_recall_tool

STORY = [
    "Caroline adopted a golden retriever named Biscuit.",
    "Biscuit chewed the red leather sofa in the living room.",
    "The sofa was replaced with a blue velvet couch from Porto.",
    "The Porto furniture shop is owned by Dana's uncle.",
]


def tool_call(name: str, args: dict[str, Any], id: str = "call-1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": id}])


@pytest.mark.parametrize("called", ["recall_chain", "recall_associations"])
def test_agent_calls_recall_chain_and_gets_a_chain(
    memory: HippoMemory, scripted_model: Any, called: str
) -> None:
    """``recall_associations`` (the former name) is served by the middleware's alias."""
    memory.remember_many(STORY, namespace=("users", "caroline"), session="day-1")
    model = scripted_model(
        messages=iter(
            [
                tool_call(called, {"query": "golden retriever adopted", "hops": 3}),
                AIMessage(
                    content="Biscuit's sofa was replaced by a couch from Dana's uncle's shop."
                ),
            ]
        )
    )
    agent = create_agent(
        model,
        tools=[
            create_chain_tool(memory, namespace=("users", "caroline")),
            create_recall_tool(memory, namespace=("users", "caroline")),
        ],
        system_prompt="You are a helpful assistant.",
        middleware=[HippoMemoryMiddleware(memory, store_exchanges=False)],
    )
    result = agent.invoke(
        {"messages": [HumanMessage("Who owns the shop the new couch came from?")]}
    )

    tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert len(tool_messages) == 1 and tool_messages[0].name == "recall_chain"
    assert tool_messages[0].status == "success"
    hops = tool_messages[0].artifact
    assert len(hops) >= 3  # hop 0 plus at least two associations
    assert [h["text"] for h in hops][-1] == STORY[3]
    assert "hop 2" in tool_messages[0].content
    # the model's second call saw the chain, hop by hop
    second_input = model.calls[1]
    assert isinstance(second_input[-1], ToolMessage)
    assert STORY[3] in second_input[-1].content
    assert result["messages"][-1].content.startswith("Biscuit's sofa")


def test_middleware_injects_recalled_memories_and_stores_the_exchange(
    memory: HippoMemory, scripted_model: Any
) -> None:
    memory.remember_many(
        [
            {"text": "My dog Biscuit is a golden retriever.", "metadata": {"role": "user"}},
            {"text": "I work as a nurse in Lisbon.", "metadata": {"role": "user"}},
        ],
        namespace=("conversations",),
    )
    model = scripted_model(messages=iter([AIMessage(content="Biscuit is a golden retriever.")]))
    middleware = HippoMemoryMiddleware(memory, k=1)
    agent = create_agent(model, system_prompt="Be brief.", middleware=[middleware])
    result = agent.invoke({"messages": [HumanMessage("What breed is my dog Biscuit?")]})
    assert result["messages"][-1].content == "Biscuit is a golden retriever."

    system = model.calls[0][0]
    assert isinstance(system, SystemMessage)
    assert system.content.startswith("Be brief.")
    assert "My dog Biscuit is a golden retriever." in system.content
    assert "nurse" not in system.content  # k=1
    # the injected block is not written into the conversation state
    assert not any(isinstance(m, SystemMessage) for m in result["messages"])

    # the exchange was stored as two memories of one session, linked to each other
    question, answer = "What breed is my dog Biscuit?", "Biscuit is a golden retriever."
    assert memory.count(("conversations",)) == 4
    stored = {m.text: m for m in memory.list(("conversations",)) if m.session == middleware.session}
    assert set(stored) == {question, answer}
    assert stored[question].metadata["role"] == "user"
    assert stored[answer].metadata["role"] == "assistant"
    chain = memory.recall_chain(question, namespace=("conversations",), hops=1)
    # the question and its answer may tie in the ranking: either one starts the chain
    assert {m.text for m in chain.memories} == {question, answer}


def test_middleware_threads_namespaces_and_tools(memory: HippoMemory, scripted_model: Any) -> None:
    model = scripted_model(
        messages=iter(
            [
                AIMessage(content="Noted: your cat is Miso."),
                tool_call("recall_memory", {"query": "cat name"}),
                AIMessage(content="Your cat is called Miso."),
            ]
        )
    )
    middleware = HippoMemoryMiddleware(memory, namespace=("users", "{user_id}"), tools=True)
    assert {t.name for t in middleware.tools} == {"recall_memory", "recall_chain"}
    agent = create_agent(model, middleware=[middleware], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t-1", "user_id": "ana"}}
    agent.invoke({"messages": [HumanMessage("My cat is called Miso.")]}, config)
    assert memory.count(("users", "ana")) == 2
    result = agent.invoke({"messages": [HumanMessage("What is my cat's name?")]}, config)

    # second turn: the memory block repeats nothing already in the conversation
    assert not any(isinstance(m, SystemMessage) for m in model.calls[1])
    tool_message = next(m for m in result["messages"] if isinstance(m, ToolMessage))
    assert "My cat is called Miso." in tool_message.content
    stored = memory.recall("cat Miso", namespace=("users", "ana"), k=4)
    assert {hit.memory.session for hit in stored} == {"t-1"}
    assert memory.count(("users", "ana")) == 4
    # a re-run of the same state stores nothing twice
    RunnableLambda(lambda state: middleware.after_agent(state, None)).invoke(result, config)  # type: ignore[arg-type]
    assert memory.count(("users", "ana")) == 4


async def test_middleware_async(memory: HippoMemory, scripted_model: Any) -> None:
    memory.remember("The wifi password is hunter2.", namespace=("conversations",))
    model = scripted_model(messages=iter([AIMessage(content="It is hunter2.")]))
    middleware = HippoMemoryMiddleware(memory)
    agent = create_agent(model, middleware=[middleware])
    result = await agent.ainvoke({"messages": [HumanMessage("What is the wifi password?")]})
    assert "hunter2" in model.calls[0][0].content
    assert await memory.acount(("conversations",)) == 3
    await middleware.aafter_agent(result, None)  # type: ignore[arg-type]
    assert await memory.acount(("conversations",)) == 3  # nothing stored twice


def test_middleware_stores_under_any_thread_id(memory: HippoMemory, scripted_model: Any) -> None:
    thread = uuid.uuid4()  # LangGraph accepts any hashable thread id; metadata must be JSON
    model = scripted_model(messages=iter([AIMessage(content="Hello, Ana!")]))
    agent = create_agent(
        model, middleware=[HippoMemoryMiddleware(memory)], checkpointer=InMemorySaver()
    )
    agent.invoke(
        {"messages": [HumanMessage("Hi, I am Ana.")]}, {"configurable": {"thread_id": thread}}
    )
    stored = memory.list(("conversations",))
    assert len(stored) == 2
    assert {m.session for m in stored} == {str(thread)}
    assert {m.metadata["thread_id"] for m in stored} == {str(thread)}


def test_middleware_can_recall_without_storing(memory: HippoMemory, scripted_model: Any) -> None:
    memory.remember("The meeting moved to Friday.", namespace=("team",))
    model = scripted_model(messages=iter([AIMessage(content="Friday.")]))
    middleware = HippoMemoryMiddleware(memory, namespace=("team",), store_exchanges=False)
    create_agent(model, middleware=[middleware]).invoke(
        {"messages": [HumanMessage("When is the meeting?")]}
    )
    assert "Friday" in model.calls[0][0].content
    assert memory.count() == 1


def test_middleware_validates_arguments(memory: HippoMemory) -> None:
    with pytest.raises(ValueError):
        HippoMemoryMiddleware(memory, k=0)
    with pytest.raises(ValueError):
        HippoMemoryMiddleware(memory, prompt="no placeholder")


def test_missing_agents_extra_gives_a_friendly_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "langchain" or name.startswith("langchain."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(sys.modules, "langchain_hippo_memory._middleware", raising=False)
    monkeypatch.delattr(langchain_hippo_memory, "HippoMemoryMiddleware", raising=False)
    with pytest.raises(MissingDependencyError, match=r"langchain-hippo-memory\[agents\]"):
        _ = langchain_hippo_memory.HippoMemoryMiddleware


def test_same_message_id_in_two_namespaces_is_stored_twice(memory: HippoMemory) -> None:
    # Message ids are unique within a conversation only (fake and replayed models reuse
    # them); the engine's memory ids are global, so the key must include the namespace.
    middleware = HippoMemoryMiddleware(memory, namespace=("users", "{user_id}"))

    def finish(user: str, text: str) -> None:
        state = {
            "messages": [
                HumanMessage(text, id="msg-1"),
                AIMessage(content=f"Noted, {user}.", id="msg-2"),
            ]
        }
        config = {"configurable": {"user_id": user, "thread_id": f"{user}-thread"}}
        RunnableLambda(lambda s: middleware.after_agent(s, None)).invoke(state, config)  # type: ignore[arg-type]

    finish("alice", "My locker code is 4711.")
    finish("bob", "My locker code is 1234.")
    assert memory.count(("users", "alice")) == 2
    assert memory.count(("users", "bob")) == 2
    bob = memory.recall("locker code", namespace=("users", "bob"), k=2).memories
    assert {m.text for m in bob} == {"My locker code is 1234.", "Noted, bob."}
    finish("bob", "My locker code is 1234.")  # a resumed run in one namespace stores nothing twice
    assert memory.count(("users", "bob")) == 2


def test_memory_prompt_may_contain_braces(memory: HippoMemory, scripted_model: Any) -> None:
    memory.remember("The meeting moved to Friday.", namespace=("team",))
    model = scripted_model(messages=iter([AIMessage(content="Friday.")]))
    prompt = 'Memories (JSON-like notes such as {"when": "..."} may follow):\n{memories}'
    middleware = HippoMemoryMiddleware(memory, namespace=("team",), prompt=prompt)
    create_agent(model, middleware=[middleware]).invoke(
        {"messages": [HumanMessage("When is the meeting?")]}
    )
    system = model.calls[0][0].content
    assert '{"when": "..."}' in system and "The meeting moved to Friday." in system
