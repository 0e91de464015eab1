"""HippoMemoryBlock, run inside llama_index.core.memory.Memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, ToolCallBlock
from llama_index.core.memory import Memory
from llama_index.core.storage.chat_store.sql import MessageStatus, SQLAlchemyChatStore
from llama_index.core.utils import get_tokenizer
from llama_index.memory.hippo import HippoMemoryBlock
from pydantic import ValidationError

from hippo_memory import (
    HashingEncoder,
    HippoMemory,
    InvalidInputError,
    InvalidNamespaceError,
)

EARLY_FACTS = [
    ("user", "My dog Biscuit is a beagle who loves chasing seagulls on the beach."),
    ("assistant", "Beagles have a great nose, Biscuit must have fun at the beach."),
    ("user", "I work night shifts as a nurse at the Porto general hospital."),
    ("assistant", "Night shifts are hard, I hope you get some rest."),
]
SMALL_TALK = [
    ("user", "Tomorrow I will try a new pottery class downtown."),
    ("assistant", "Have fun at the pottery class!"),
    ("user", "The weather is rainy again this week."),
    ("assistant", "Rainy weeks call for a good book."),
]
StoreFactory = Callable[[], SQLAlchemyChatStore]


def small_memory(block: HippoMemoryBlock, session_id: str, chat_store: SQLAlchemyChatStore) -> Memory:
    """A Memory whose short-term queue holds only the last few messages."""
    return Memory.from_defaults(
        session_id=session_id,
        memory_blocks=[block],
        chat_store=chat_store,
        token_limit=60,
        chat_history_token_ratio=0.5,
        token_flush_size=20,
    )


async def say(memory: Memory, turns: list[tuple[str, str]]) -> None:
    for role, text in turns:
        await memory.aput(ChatMessage(role=role, content=text))


async def active_texts(memory: Memory) -> list[str]:
    messages = await memory.sql_store.get_messages(memory.session_id, status=MessageStatus.ACTIVE)
    return [m.content or "" for m in messages]


def system_text(messages: list[ChatMessage]) -> str:
    return "\n".join(m.content or "" for m in messages if m.role == "system")


async def test_flushed_messages_are_recalled_for_a_later_question(
    engine: HippoMemory, new_chat_store: StoreFactory
) -> None:
    block = HippoMemoryBlock(memory=engine)
    memory = small_memory(block, "alice", new_chat_store())
    await say(memory, EARLY_FACTS + SMALL_TALK)

    assert engine.count(("llama_index", "alice")) >= 2, "nothing was flushed into the block"
    assert not any("beagle" in text for text in await active_texts(memory))

    messages = await memory.aget(input="What breed is my dog Biscuit?")
    context = system_text(messages)
    assert "<hippo_memory>" in context
    assert "Biscuit is a beagle" in context
    # Flushed messages keep their role and session in metadata.
    hit = engine.recall("Biscuit beagle seagulls", namespace=("llama_index", "alice"), k=1)[0]
    assert hit.memory.metadata["role"] == "user"
    assert hit.memory.metadata["session_id"] == "alice"
    assert hit.memory.session == "alice"


async def test_without_user_message_nothing_is_recalled(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine)
    await block.aput([ChatMessage(role="user", content="I like green tea")], session_id="s")
    assert await block.aget([], session_id="s") == ""
    assert await block.aget([ChatMessage(role="assistant", content="green tea")], session_id="s") == ""
    # A session that never stored anything recalls nothing instead of raising.
    assert await block.aget([ChatMessage(role="user", content="green tea")], session_id="other") == ""


async def test_sessions_are_isolated(engine: HippoMemory, new_chat_store: StoreFactory) -> None:
    block = HippoMemoryBlock(memory=engine)
    alice = small_memory(block, "alice", new_chat_store())
    bob = small_memory(block, "bob", new_chat_store())
    await say(
        alice,
        [("user", "My dog Biscuit is a beagle."), ("assistant", "Lovely beagle!"), *SMALL_TALK],
    )
    await say(bob, [("user", "My dog Rex is a poodle."), ("assistant", "Lovely poodle!"), *SMALL_TALK])

    alice_context = system_text(await alice.aget(input="What breed is my dog?"))
    bob_context = system_text(await bob.aget(input="What breed is my dog?"))
    assert "beagle" in alice_context and "poodle" not in alice_context
    assert "poodle" in bob_context and "beagle" not in bob_context
    assert engine.namespaces(("llama_index",)) == [("llama_index", "alice"), ("llama_index", "bob")]


async def test_shared_namespace_across_sessions(engine: HippoMemory, new_chat_store: StoreFactory) -> None:
    block = HippoMemoryBlock(memory=engine, namespace=("users", "alice"), per_session=False)
    monday = small_memory(block, "monday-chat", new_chat_store())
    await say(monday, [("user", "My dog Biscuit is a beagle."), ("assistant", "Lovely!"), *SMALL_TALK])
    friday = small_memory(block, "friday-chat", new_chat_store())
    context = system_text(await friday.aget(input="What breed is Biscuit?"))
    assert "beagle" in context
    assert engine.namespaces() == [("users", "alice")]


async def test_session_ids_with_periods_get_their_own_namespace(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine)
    await block.aput([ChatMessage(role="user", content="I live in Braga")], session_id="alice.smith")
    await block.aput([ChatMessage(role="user", content="I live in Faro")], session_id="alice%2Esmith")
    assert engine.namespaces() == [
        ("llama_index", "alice%252Esmith"),
        ("llama_index", "alice%2Esmith"),
    ]
    found = await block.aget([ChatMessage(role="user", content="Where do I live?")], session_id="alice.smith")
    assert "Braga" in found and "Faro" not in found


async def test_roles_and_non_text_messages(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine)
    await block.aput(
        [
            ChatMessage(role="system", content="You are a helpful assistant."),
            ChatMessage(role="user", content="Book a table at Tasca do Chico."),
            ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_name="book", tool_kwargs={})]),
            ChatMessage(role="tool", content="booking confirmed #4471"),
            ChatMessage(role="user", blocks=[ImageBlock(url="https://example.com/cat.png")]),
            ChatMessage(role="assistant", content="Your table at Tasca do Chico is booked."),
        ],
        session_id="s",
    )
    assert engine.count() == 2
    with_tools = HippoMemoryBlock(memory=engine, name="with_tools", roles=["user", "assistant", "tool"])
    await with_tools.aput([ChatMessage(role="tool", content="booking confirmed #4471")], session_id="s")
    assert engine.count() == 3


async def test_chain_hops_bring_the_reply_to_a_recalled_question(engine: HippoMemory) -> None:
    turns = [
        ChatMessage(role="user", content="Which restaurant did my brother recommend for my birthday?"),
        ChatMessage(role="assistant", content="He suggested Tasca do Chico, the fado place in Alfama."),
        ChatMessage(role="user", content="Remind me to water the orchids on Sunday."),
    ]
    plain = HippoMemoryBlock(memory=engine, top_k=1)
    await plain.aput(turns, session_id="s")
    question = [ChatMessage(role="user", content="restaurant my brother recommended for the birthday")]
    assert "Tasca" not in await plain.aget(question, session_id="s")
    chained = HippoMemoryBlock(memory=engine, top_k=1, chain_hops=1)
    lines = (await chained.aget(question, session_id="s")).splitlines()
    assert len(lines) == 2
    assert "brother recommend" in lines[0] and "Tasca do Chico" in lines[1]


async def test_recall_leaves_out_messages_already_in_the_prompt(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine)
    said = ChatMessage(role="user", content="My dog Biscuit is a beagle.")
    await block.aput([said], session_id="s")
    assert "beagle" in await block.aget([ChatMessage(role="user", content="Biscuit breed?")], session_id="s")
    assert await block.aget([said, ChatMessage(role="user", content="Biscuit breed?")], session_id="s") == ""


async def test_min_similarity_drops_weak_matches_without_counting_them(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine, min_similarity=0.99)
    await block.aput([ChatMessage(role="user", content=text) for _, text in EARLY_FACTS], session_id="s")
    ids = [memory.id for memory in engine.list(("llama_index", "s"))]
    assert len(ids) == len(EARLY_FACTS)
    assert await block.aget([ChatMessage(role="user", content="What breed is my dog?")], session_id="s") == ""
    assert [engine.get(i).access_count for i in ids] == [0] * len(ids)
    loose = HippoMemoryBlock(memory=engine, min_similarity=0.0)
    assert "beagle" in await loose.aget([ChatMessage(role="user", content="What breed is my dog?")], session_id="s")


async def test_atruncate_drops_lowest_ranked_lines() -> None:
    block = HippoMemoryBlock(memory=HippoMemory(encoder=HashingEncoder()))
    content = "- first memory\n- second memory\n- third memory"
    last = len(get_tokenizer()("- third memory"))
    assert await block.atruncate(content, 0) == content
    assert await block.atruncate(content, last) == "- first memory\n- second memory"
    assert await block.atruncate(content, 10_000) is None
    block.memory.close()


async def test_tight_token_budget_truncates_the_block(engine: HippoMemory, new_chat_store: StoreFactory) -> None:
    texts = [f"Memory number {i} mentions the garden and tomatoes, fact {i}." for i in range(6)]
    block = HippoMemoryBlock(memory=engine, top_k=6)
    await block.aput([ChatMessage(role="user", content=t) for t in texts], session_id="s")

    roomy = Memory.from_defaults(session_id="s", token_limit=10_000, memory_blocks=[block], chat_store=new_chat_store())
    full = system_text(await roomy.aget(input="garden tomatoes"))
    full_lines = [line for line in full.splitlines() if line.startswith("- ")]
    assert len(full_lines) == 6

    budget = len(get_tokenizer()("garden tomatoes")) + 50
    tight = Memory.from_defaults(session_id="s", token_limit=budget, memory_blocks=[block], chat_store=new_chat_store())
    cut = system_text(await tight.aget(input="garden tomatoes"))
    cut_lines = [line for line in cut.splitlines() if line.startswith("- ")]
    assert 0 < len(cut_lines) < 6
    assert cut_lines == full_lines[: len(cut_lines)], "truncation must keep the best-ranked lines"


async def test_persists_across_reopening(store_path: Path, new_chat_store: StoreFactory) -> None:
    namespace = ("llama_index", "alice")
    with HippoMemory(store_path, encoder=HashingEncoder()) as engine:
        memory = small_memory(HippoMemoryBlock(memory=engine), "alice", new_chat_store())
        await say(memory, EARLY_FACTS + SMALL_TALK)
        before = [m.id for m in engine.list(namespace)]
    assert len(before) >= 2

    with HippoMemory(store_path, encoder=HashingEncoder()) as reopened:
        assert [m.id for m in reopened.list(namespace)] == before
        fresh = small_memory(HippoMemoryBlock(memory=reopened), "alice", new_chat_store())
        assert "nurse" in system_text(await fresh.aget(input="Where do I work as a nurse?"))
        # After reopening, the next flush links onto the same conversation.
        await say(fresh, SMALL_TALK * 2)
        after = [m.id for m in reopened.list(namespace)]
        assert after[: len(before)] == before and len(after) > len(before)
        assert after[len(before)] in dict(reopened.associations(before[-1]))


def test_bad_configuration_raises_typed_errors(engine: HippoMemory) -> None:
    with pytest.raises(InvalidNamespaceError):
        HippoMemoryBlock(memory=engine, namespace=("users.alice",))
    with pytest.raises(InvalidNamespaceError):
        HippoMemoryBlock(memory=engine, namespace="users")
    with pytest.raises(InvalidNamespaceError):
        HippoMemoryBlock(memory=engine, namespace=())
    with pytest.raises(InvalidInputError):
        HippoMemoryBlock(memory=engine, roles="user")
    with pytest.raises(ValidationError):
        HippoMemoryBlock(memory=engine, top_k=0)
    with pytest.raises(ValidationError):
        HippoMemoryBlock(memory="not an engine")  # type: ignore[arg-type]


async def test_bad_session_id_raises(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine)
    with pytest.raises(InvalidNamespaceError):
        await block.aget([ChatMessage(role="user", content="hello there")], session_id="")


def test_block_serialises_without_the_engine(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine, namespace=["a", "b"])
    dumped = block.model_dump()
    assert "memory" not in dumped
    assert dumped["namespace"] == ("a", "b")
    assert dumped["name"] == "hippo_memory" and dumped["priority"] == 1


async def test_read_without_session_sees_no_session_memories(engine: HippoMemory) -> None:
    # Sessions live below `namespace`; engine recall searches a namespace with its
    # descendants, so a sessionless read must be narrowed to the sessionless messages.
    block = HippoMemoryBlock(memory=engine, chain_hops=2)
    await block.aput([ChatMessage(role="user", content="My bank PIN is 4711.")], session_id="alice")
    await block.aput(
        [
            ChatMessage(role="user", content="What is my bank PIN?"),
            ChatMessage(role="assistant", content="Your bank PIN is 4711."),
        ],
        session_id="default",  # the same engine session name as messages without a session
    )
    question = [ChatMessage(role="user", content="What is my bank PIN?")]
    assert await block.aget(question) == ""
    await block.aput([ChatMessage(role="user", content="My library card PIN is 1234.")])
    found = await block.aget(question)
    assert "1234" in found and "4711" not in found
    # Sessions still read their own memories.
    assert "4711" in await block.aget(question, session_id="alice")


async def test_read_without_session_with_a_shared_namespace(engine: HippoMemory) -> None:
    block = HippoMemoryBlock(memory=engine, namespace=("users", "alice"), per_session=False)
    await block.aput([ChatMessage(role="user", content="My bank PIN is 4711.")], session_id="monday")
    assert "4711" in await block.aget([ChatMessage(role="user", content="What is my bank PIN?")])
