"""HippoChatMemory (a BaseMemory) inside chat engines, with MockLLM."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import llama_index.memory.hippo as hippo
import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import ChatMemoryBuffer, Memory
from llama_index.core.memory.types import BaseMemory
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore
from llama_index.memory.hippo import HippoChatMemory
from llama_index.memory.hippo import HippoMemory as DeprecatedHippoMemory
from pydantic import ValidationError

from hippo_memory import HashingEncoder, InvalidInputError, InvalidNamespaceError, StoreClosedError
from hippo_memory import HippoMemory as Engine

StoreFactory = Callable[[], SQLAlchemyChatStore]


def system_text(messages: list[ChatMessage]) -> str:
    return "\n".join(m.content or "" for m in messages if m.role == "system")


def test_chat_engine_recalls_after_reset(engine: Engine, new_chat_store: StoreFactory) -> None:
    memory = HippoChatMemory.from_defaults(engine, session_id="alice", chat_store=new_chat_store())
    assert isinstance(memory, BaseMemory)
    chat = SimpleChatEngine.from_defaults(memory=memory, llm=MockLLM(max_tokens=4))
    chat.chat("My sister Maria lives in Lisbon and teaches violin.")
    chat.chat("I am allergic to peanuts.")
    assert engine.count(("llama_index", "alice")) == 4  # two user turns, two replies

    chat.reset()  # short-term history gone, long-term memories stay
    assert memory.get_all() == []
    # MockLLM without max_tokens echoes its prompt: the recalled memory reached the LLM.
    echo = SimpleChatEngine.from_defaults(memory=memory, llm=MockLLM())
    answer = echo.chat("Where does my sister Maria live?").response
    assert "Maria lives in Lisbon" in answer


async def test_async_chat_engine(engine: Engine, new_chat_store: StoreFactory) -> None:
    memory = HippoChatMemory.from_defaults(engine, session_id="alice", chat_store=new_chat_store())
    chat = SimpleChatEngine.from_defaults(memory=memory, llm=MockLLM(max_tokens=4))
    await chat.achat("My bike is a red Brompton I bought in London.")
    await memory.areset()
    assert await memory.aget_all() == []
    messages = await memory.aget(input="What colour is my bike?")
    assert messages[0].role == "system"
    assert "red Brompton" in messages[0].content


def test_get_merges_into_an_existing_system_message_without_mutating_history(
    engine: Engine, new_chat_store: StoreFactory
) -> None:
    memory = HippoChatMemory.from_defaults(engine, session_id="s", chat_store=new_chat_store())
    memory.put(ChatMessage(role="user", content="The wifi password is tangerine42."))
    memory.reset()
    memory.put(ChatMessage(role="system", content="You are terse."))
    messages = memory.get(input="what is the wifi password")
    assert len(messages) == 1 and messages[0].role == "system"
    assert messages[0].content.startswith("You are terse.")
    assert "tangerine42" in messages[0].content
    assert memory.get_all()[0].content == "You are terse."


def test_history_is_not_repeated_as_a_memory(engine: Engine, new_chat_store: StoreFactory) -> None:
    memory = HippoChatMemory.from_defaults(engine, session_id="s", chat_store=new_chat_store())
    memory.put(ChatMessage(role="user", content="My cat is called Miso."))
    messages = memory.get(input="What is my cat called?")
    assert system_text(messages) == ""  # the only match is already in the history
    assert [m.content for m in messages] == ["My cat is called Miso."]


def test_set_stores_only_new_messages(engine: Engine, new_chat_store: StoreFactory) -> None:
    memory = HippoChatMemory.from_defaults(engine, session_id="s", chat_store=new_chat_store())
    first = [ChatMessage(role="user", content="I plant tulips in October.")]
    memory.set(first)
    assert engine.count() == 1
    memory.set([*first, ChatMessage(role="assistant", content="Tulips need cold winters.")])
    assert engine.count() == 2
    memory.put_messages(
        [
            ChatMessage(role="user", content="And daffodils?"),
            ChatMessage(role="tool", content="search results ..."),
        ]
    )
    assert engine.count() == 3  # tool output is not stored by default
    assert len(memory.get_all()) == 4


async def test_async_put_messages_and_set(engine: Engine, new_chat_store: StoreFactory) -> None:
    memory = HippoChatMemory.from_defaults(engine, session_id="s", chat_store=new_chat_store())
    await memory.aput_messages(
        [
            ChatMessage(role="user", content="Q1 text"),
            ChatMessage(role="assistant", content="A1 text"),
        ]
    )
    await memory.aset([*(await memory.aget_all()), ChatMessage(role="user", content="Q2 text")])
    await memory.aput(ChatMessage(role="assistant", content="A2 text"))
    assert engine.count() == 4
    assert [m.content for m in await memory.aget_all()] == [
        "Q1 text",
        "A1 text",
        "Q2 text",
        "A2 text",
    ]


def test_chat_history_and_custom_primary_memory(engine: Engine) -> None:
    history = [ChatMessage(role="user", content="Earlier: I collect vinyl records.")]
    memory = HippoChatMemory.from_defaults(
        engine,
        session_id="s",
        chat_history=history,
        primary_memory=ChatMemoryBuffer.from_defaults(token_limit=500),
        top_k=2,
    )
    assert [m.content for m in memory.get_all()] == ["Earlier: I collect vinyl records."]
    assert engine.count() == 0  # initial history is not re-stored
    assert memory.top_k == 2


def test_chat_store_backs_the_default_primary_memory(engine: Engine, new_chat_store: StoreFactory) -> None:
    store = new_chat_store()
    memory = HippoChatMemory.from_defaults(engine, session_id="s", chat_store=store)
    assert isinstance(memory.primary_memory, Memory) and memory.primary_memory.sql_store is store
    memory.put(ChatMessage(role="user", content="I keep bees on the roof."))
    assert [m.content for m in memory.get_all()] == ["I keep bees on the roof."]
    with pytest.raises(InvalidInputError, match="not both"):
        HippoChatMemory.from_defaults(
            engine, chat_store=new_chat_store(), primary_memory=ChatMemoryBuffer.from_defaults()
        )


def test_sessions_are_isolated(engine: Engine, new_chat_store: StoreFactory) -> None:
    alice = HippoChatMemory.from_defaults(engine, session_id="alice", chat_store=new_chat_store())
    bob = HippoChatMemory.from_defaults(engine, session_id="bob", chat_store=new_chat_store())
    alice.put(ChatMessage(role="user", content="My favourite city is Kyoto."))
    bob.put(ChatMessage(role="user", content="My favourite city is Montreal."))
    alice.reset()
    bob.reset()
    assert "Kyoto" in system_text(alice.get(input="favourite city"))
    assert "Montreal" not in system_text(alice.get(input="favourite city"))
    assert [m.text for m in bob.recall("favourite city")] == ["My favourite city is Montreal."]


def test_persists_across_reopening(store_path: Path, new_chat_store: StoreFactory) -> None:
    engine = Engine(store_path, encoder=HashingEncoder())
    memory = HippoChatMemory.from_defaults(engine, session_id="alice", chat_store=new_chat_store())
    memory.put(ChatMessage(role="user", content="My passport expires in March 2027."))
    engine.close()

    reopened = Engine(store_path, encoder=HashingEncoder())
    try:
        fresh = HippoChatMemory.from_defaults(reopened, session_id="alice", chat_store=new_chat_store())
        assert "March 2027" in system_text(fresh.get(input="When does my passport expire?"))
        other = HippoChatMemory.from_defaults(reopened, session_id="bob", chat_store=new_chat_store())
        assert system_text(other.get(input="When does my passport expire?")) == ""
    finally:
        reopened.close()


def test_bad_input_raises_typed_errors(engine: Engine, new_chat_store: StoreFactory) -> None:
    with pytest.raises(InvalidNamespaceError):
        HippoChatMemory.from_defaults(engine, namespace=("a.b",))
    with pytest.raises(ValidationError):
        HippoChatMemory.from_defaults(engine, context_template="no placeholder")
    with pytest.raises(ValidationError):
        HippoChatMemory.from_defaults(engine, query_window=0)
    memory = HippoChatMemory.from_defaults(engine, session_id="s", chat_store=new_chat_store())
    memory.put(ChatMessage(role="user", content="x " * 10))
    engine.close()
    with pytest.raises(StoreClosedError):
        memory.put(ChatMessage(role="user", content="after close"))
    assert len(memory.get_all()) == 1  # the rejected message is not in the history either


def test_old_name_is_a_deprecated_alias(engine: Engine, new_chat_store: StoreFactory) -> None:
    assert "HippoMemory" not in hippo.__all__  # a star import no longer shadows the engine
    with pytest.warns(DeprecationWarning, match="use HippoChatMemory") as caught:
        old = DeprecatedHippoMemory.from_defaults(engine, session_id="s", chat_store=new_chat_store())
    assert caught[0].filename == __file__  # points at the caller, not at the library
    assert isinstance(old, HippoChatMemory)
    old.put(ChatMessage(role="user", content="I keep bees on the roof."))
    assert engine.count() == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        HippoChatMemory.from_defaults(engine, session_id="s", chat_store=new_chat_store())
    assert HippoChatMemory.class_name() == "HippoChatMemory"
