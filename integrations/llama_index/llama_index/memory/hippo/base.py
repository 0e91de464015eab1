"""``HippoChatMemory``: a chat memory (``BaseMemory``) for chat engines and agents.

Short-term history stays in a primary LlamaIndex memory; every message of the
chosen roles is also stored in hippo-memory at once, and ``get`` prepends what the
engine recalls for the latest user message as a system message.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import Field, SerializeAsAny, field_validator
from llama_index.core.memory import Memory
from llama_index.core.memory.memory import DEFAULT_TOKEN_LIMIT
from llama_index.core.memory.types import BaseMemory
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore

from hippo_memory import InvalidInputError
from hippo_memory import Memory as StoredMemory
from hippo_memory.integration import MemoryBackend, fill_prompt, format_hits

from ._scope import HippoScope
from ._utils import message_text, query_from_messages

__all__ = ["DEFAULT_CONTEXT_TEMPLATE", "HippoChatMemory", "HippoMemory"]

DEFAULT_CONTEXT_TEMPLATE = (
    "Memories recalled from earlier conversations, most relevant first; use them when they help:\n{memories}"
)


def _new_tail(old: Sequence[ChatMessage], new: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Messages of ``new`` after its common prefix with ``old`` (compared by role and text)."""
    common = 0
    for before, after in zip(old, new, strict=False):
        if before.role != after.role or message_text(before) != message_text(after):
            break
        common += 1
    return list(new[common:])


class HippoChatMemory(HippoScope, BaseMemory):
    """Chat memory with hippo-memory as its long-term store.

    ``put`` stores the message in the engine and then appends it to the short-term
    ``primary_memory`` (so a message the engine rejects is in neither). It is stored
    under ``namespace + (session_id,)`` (or ``namespace`` when
    ``per_session=False``). ``get`` returns the short-term history with a system
    message of recalled memories in front, leaving out memories whose text is
    already in the history. ``reset`` clears the short-term history only: long-term
    memories persist, which is the point.

    Example:
        >>> from hippo_memory import HashingEncoder
        >>> from hippo_memory import HippoMemory as Engine
        >>> from llama_index.core.chat_engine import SimpleChatEngine
        >>> from llama_index.core.llms import MockLLM
        >>> memory = HippoChatMemory.from_defaults(Engine(encoder=HashingEncoder()), session_id="alice")
        >>> engine = SimpleChatEngine.from_defaults(memory=memory, llm=MockLLM())
    """

    primary_memory: SerializeAsAny[BaseMemory] = Field(
        description="Short-term chat history, returned verbatim by get()."
    )
    session_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()),
        description="Identifies the user or conversation; selects the namespace with per_session.",
    )
    context_template: str = Field(
        default=DEFAULT_CONTEXT_TEMPLATE,
        description="System message text around the recalled memories; must contain '{memories}'.",
    )

    @field_validator("session_id")
    @classmethod
    def _check_session(cls, value: str) -> str:
        if not value:
            raise ValueError("session_id must be a non-empty string")
        return value

    @field_validator("context_template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        if "{memories}" not in value:
            raise ValueError("context_template must contain '{memories}'")
        return value

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex serialisation."""
        return "HippoChatMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        memory: MemoryBackend,
        *,
        session_id: str | None = None,
        chat_history: list[ChatMessage] | None = None,
        token_limit: int = DEFAULT_TOKEN_LIMIT,
        chat_store: AsyncDBChatStore | None = None,
        primary_memory: BaseMemory | None = None,
        **kwargs: Any,
    ) -> HippoChatMemory:
        """Build a chat memory on an engine.

        Args:
            memory: The hippo-memory engine or a HippoClient (the caller keeps ownership and closes it).
            session_id: The user or conversation; a fresh UUID when omitted.
            chat_history: Initial short-term history. It is not stored long-term,
                on the assumption that it was stored when it was first said.
            token_limit: Token limit of the default primary ``Memory``.
            chat_store: Where the default primary ``Memory`` keeps the history; by
                default LlamaIndex's in-memory SQLite store. Pass one whose engine
                you dispose (or a database that outlives the process) when that matters.
            primary_memory: Short-term memory to use instead of a new ``Memory``.
            **kwargs: Other fields (``namespace``, ``per_session``, ``top_k``, ...).

        Raises:
            InvalidInputError: both ``chat_store`` and ``primary_memory`` were given.
        """
        session_id = session_id or str(uuid.uuid4())
        if primary_memory is None:
            primary_memory = Memory.from_defaults(
                session_id=session_id, chat_history=chat_history, token_limit=token_limit, chat_store=chat_store
            )
        elif chat_store is not None:
            raise InvalidInputError("pass chat_store (for the default Memory) or primary_memory, not both")
        elif chat_history is not None:
            primary_memory.set(chat_history)
        return cls(memory=memory, primary_memory=primary_memory, session_id=session_id, **kwargs)

    # ------------------------------------------------------------------ helpers
    def _query(self, input: str | ChatMessage | None, history: list[ChatMessage]) -> str:
        if isinstance(input, str) and input.strip():
            history = [*history, ChatMessage(role=MessageRole.USER, content=input)]
        elif isinstance(input, ChatMessage):
            history = [*history, input]
        return query_from_messages(history, self.query_window)

    def _recall(self, input: str | ChatMessage | None, history: list[ChatMessage]) -> list[StoredMemory]:
        query = self._query(input, history)
        if not query:
            return []
        return self.recall_memories(query, self.session_id, [message_text(m) for m in history])

    def _with_context(self, history: list[ChatMessage], memories: list[StoredMemory]) -> list[ChatMessage]:
        if not memories:
            return history
        text = fill_prompt(self.context_template, memories=format_hits(memories))
        if history and history[0].role == MessageRole.SYSTEM:
            # A new message: the primary memory may hand out its stored objects.
            first = history[0]
            merged = ChatMessage(
                role=MessageRole.SYSTEM,
                blocks=[*first.blocks, TextBlock(text=f"\n\n{text}")],
                additional_kwargs=dict(first.additional_kwargs),
            )
            return [merged, *history[1:]]
        return [ChatMessage(role=MessageRole.SYSTEM, content=text), *history]

    def recall(self, query: str) -> list[StoredMemory]:
        """Memories this session would be reminded of by ``query``, best first."""
        return self.recall_memories(query, self.session_id)

    # ------------------------------------------------------------------ BaseMemory
    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Short-term history with recalled memories as a leading system message.

        Args:
            input: The new user message, if it is not in the history yet; it is the
                recall cue (else the latest user message of the history is).
            **kwargs: Passed to ``primary_memory.get``.
        """
        history = self.primary_memory.get(input=input, **kwargs)
        return self._with_context(history, self._recall(input, history))

    async def aget(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Async twin of :meth:`get`."""
        history = await self.primary_memory.aget(input=input, **kwargs)
        memories = await asyncio.to_thread(self._recall, input, history)
        return self._with_context(history, memories)

    def get_all(self) -> list[ChatMessage]:
        """The whole short-term history."""
        return self.primary_memory.get_all()

    async def aget_all(self) -> list[ChatMessage]:
        """Async twin of :meth:`get_all`."""
        return await self.primary_memory.aget_all()

    def put(self, message: ChatMessage) -> None:
        """Append a message to the history and store it long-term."""
        self.remember_messages([message], self.session_id)
        self.primary_memory.put(message)

    async def aput(self, message: ChatMessage) -> None:
        """Async twin of :meth:`put`."""
        await asyncio.to_thread(self.remember_messages, [message], self.session_id)
        await self.primary_memory.aput(message)

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Append messages and store them long-term in one batch (linked in order)."""
        self.remember_messages(messages, self.session_id)
        self.primary_memory.put_messages(messages)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async twin of :meth:`put_messages`."""
        await asyncio.to_thread(self.remember_messages, messages, self.session_id)
        await self.primary_memory.aput_messages(messages)

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the history; messages beyond the old history are stored long-term."""
        tail = _new_tail(self.primary_memory.get_all(), messages)
        self.remember_messages(tail, self.session_id)
        self.primary_memory.set(messages)

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async twin of :meth:`set`."""
        tail = _new_tail(await self.primary_memory.aget_all(), messages)
        await asyncio.to_thread(self.remember_messages, tail, self.session_id)
        await self.primary_memory.aset(messages)

    def reset(self) -> None:
        """Clear the short-term history; long-term memories are kept."""
        self.primary_memory.reset()

    async def areset(self) -> None:
        """Async twin of :meth:`reset`."""
        await self.primary_memory.areset()


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this module."""
    level, frame = 1, inspect.currentframe()
    while frame is not None and frame.f_code.co_filename == __file__:
        level, frame = level + 1, frame.f_back
    return level - 1  # counted from the caller of warnings.warn


class HippoMemory(HippoChatMemory):
    """Deprecated alias of :class:`HippoChatMemory`, kept for one release.

    The old name clashed with the engine's ``hippo_memory.HippoMemory``, which the
    same code usually imports; creating one emits a ``DeprecationWarning``.
    """

    def __init__(self, **data: Any) -> None:
        warnings.warn(
            "llama_index.memory.hippo.HippoMemory is deprecated and will be removed in the "
            "next release: use HippoChatMemory (the old name clashes with hippo_memory.HippoMemory)",
            DeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )
        super().__init__(**data)

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex serialisation (the old one, for stored configurations)."""
        return "HippoMemory"
