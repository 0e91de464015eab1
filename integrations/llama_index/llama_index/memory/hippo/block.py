"""``HippoMemoryBlock``: long-term recall inside ``llama_index.core.memory.Memory``."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field
from llama_index.core.memory import BaseMemoryBlock
from llama_index.core.utils import get_tokenizer

from hippo_memory.integration import format_hits

from ._scope import HippoScope
from ._utils import message_text, query_from_messages

__all__ = ["HippoMemoryBlock"]


class HippoMemoryBlock(HippoScope, BaseMemoryBlock[str]):
    """A memory block whose long-term store is a hippo-memory engine.

    Messages that ``Memory`` flushes out of its short-term queue are stored, one
    memory per message, without any LLM call; consecutive messages of a session are
    linked, so a recalled question can bring its answer along (``chain_hops``). On
    every ``Memory.get`` the latest user message is the recall cue and the block
    returns the recalled memories one per line, best first.

    The ``Memory``'s ``session_id`` is taken to identify the user or conversation:
    with ``per_session=True`` (the default) each session reads and writes its own
    namespace ``namespace + (session_id,)`` and never sees another session's
    memories; with ``per_session=False`` all sessions share ``namespace`` (say,
    ``("users", "alice")`` for one user's many conversations). Messages put without
    a session id go to ``namespace`` itself, and a read without a session id
    (``aget(messages)`` outside a ``Memory``) recalls only those: with
    ``per_session=True`` it never sees a session's memories.

    Example:
        >>> from hippo_memory import HashingEncoder, HippoMemory
        >>> from llama_index.core.memory import Memory
        >>> block = HippoMemoryBlock(memory=HippoMemory(encoder=HashingEncoder()))
        >>> chat_memory = Memory.from_defaults(
        ...     session_id="alice", token_limit=4000, memory_blocks=[block]
        ... )
    """

    name: str = Field(
        default="hippo_memory",
        description="Name of the block; the Memory template wraps the recalled text in this tag.",
    )
    priority: int = Field(
        default=1,
        description="Truncation priority (0 = never truncate); lower ones are truncated first.",
    )

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex serialisation."""
        return "HippoMemoryBlock"

    async def _aget(
        self,
        messages: list[ChatMessage] | None = None,
        session_id: str | None = None,
        **block_kwargs: Any,
    ) -> str:
        """Recall memories for the latest user message of ``messages``.

        Returns:
            One line per memory, ``- [role, date] text``, best first; ``""`` when
            there is no user message or nothing is stored for the session. Without
            ``session_id`` only messages put without one are recalled (see the class).
        """
        query = query_from_messages(messages, self.query_window)
        if not query:
            return ""
        exclude = [message_text(message) for message in messages or ()]
        found = await asyncio.to_thread(self.recall_memories, query, session_id, exclude)
        return format_hits(found)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Store messages flushed from short-term memory, grouped by session, in order."""
        groups: dict[str | None, list[ChatMessage]] = {}
        for message in messages:
            session = message.additional_kwargs.get("session_id")
            key = session if isinstance(session, str) and session else None
            groups.setdefault(key, []).append(message)
        for session_id, group in groups.items():
            await asyncio.to_thread(self.remember_messages, group, session_id)

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Drop the lowest-ranked lines until about ``tokens_to_truncate`` tokens are saved.

        Tokens are counted with LlamaIndex's global tokenizer.

        Returns:
            The remaining lines, or ``None`` when none is left.
        """
        if tokens_to_truncate <= 0:
            return content
        tokenizer = get_tokenizer()
        lines = content.split("\n")
        saved = 0
        while lines and saved < tokens_to_truncate:
            saved += len(tokenizer(lines.pop())) + 1
        return "\n".join(lines) or None
