"""HippoConversationMemory behind langchain-classic's BaseMemory interface."""

from __future__ import annotations

import builtins
import importlib
import sys
import warnings
from typing import Any

import pytest
from hippo_memory import HippoMemory, MissingDependencyError
from langchain_core.messages import AIMessage, HumanMessage

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_hippo_memory import HippoConversationMemory

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def conversation(memory: HippoMemory) -> HippoConversationMemory:
    convo = HippoConversationMemory(memory=memory, k=2)
    convo.save_context({"input": "My dog is called Biscuit"}, {"output": "What a lovely name!"})
    convo.save_context({"input": "I live in Porto"}, {"output": "Porto is beautiful."})
    convo.save_context({"input": "I teach chemistry"}, {"output": "Chemistry is fun."})
    return convo


def test_memory_variables_and_load(conversation: HippoConversationMemory) -> None:
    assert conversation.memory_variables == ["history"]
    history = conversation.load_memory_variables({"input": "what is my dog called Biscuit"})
    text = history["history"]
    assert text.splitlines()[:2] == ["Human: My dog is called Biscuit", "AI: What a lovely name!"]
    assert text.count("Human:") == 2  # k=2


def test_return_messages(memory: HippoMemory) -> None:
    convo = HippoConversationMemory(
        memory=memory, return_messages=True, k=1, input_key="question", memory_key="chat_history"
    )
    convo.save_context({"question": "Where is the key?", "extra": 1}, {"output": "Under the mat."})
    loaded = convo.load_memory_variables({"question": "key location", "extra": 2})
    assert loaded == {
        "chat_history": [HumanMessage("Where is the key?"), AIMessage("Under the mat.")]
    }


def test_exchanges_are_linked_in_one_session(conversation: HippoConversationMemory) -> None:
    chain = conversation.memory.recall_chain(
        "dog Biscuit", namespace=conversation.namespace, hops=2
    )
    assert [m.metadata["input"] for m in chain.memories] == [
        "My dog is called Biscuit",
        "I live in Porto",
        "I teach chemistry",
    ]


def test_clear_forgets_only_its_namespace(conversation: HippoConversationMemory) -> None:
    conversation.memory.remember("unrelated", namespace=("other",))
    conversation.clear()
    assert conversation.load_memory_variables({"input": "dog"}) == {"history": ""}
    assert conversation.memory.count() == 1
    conversation.clear()  # idempotent on an empty namespace


async def test_async_twins(memory: HippoMemory) -> None:
    convo = HippoConversationMemory(memory=memory)
    assert await convo.aload_memory_variables({"input": "anything"}) == {"history": ""}
    await convo.asave_context({"input": "Remember 42"}, {"output": "Got it."})
    loaded = await convo.aload_memory_variables({"input": "Remember 42"})
    assert loaded["history"] == "Human: Remember 42\nAI: Got it."
    await convo.aclear()
    assert memory.count() == 0


def test_input_key_must_be_unambiguous(memory: HippoMemory) -> None:
    convo = HippoConversationMemory(memory=memory)
    with pytest.raises(ValueError):
        convo.load_memory_variables({"a": "x", "b": "y"})
    with pytest.raises(ValueError):
        convo.save_context({"input": "x"}, {"a": "1", "b": "2"})


def test_missing_extra_gives_a_friendly_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("langchain_classic"):
            raise ImportError("No module named 'langchain_classic'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(sys.modules, "langchain_hippo_memory._classic", raising=False)
    with pytest.raises(MissingDependencyError, match=r"langchain-hippo-memory\[classic\]"):
        importlib.import_module("langchain_hippo_memory._classic")
