"""Helpers shared by the LlamaIndex adapters: namespaces and message text.

Formatting recall results for an LLM and reading paraphrase replies are not
LlamaIndex-specific: they live in :mod:`hippo_memory.integration`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, TextBlock

from hippo_memory import InvalidInputError, InvalidNamespaceError, MemoryInput, Namespace

__all__ = [
    "DEFAULT_ROLES",
    "message_inputs",
    "message_text",
    "one_line",
    "query_from_messages",
    "scoped_namespace",
    "session_label",
    "validate_roles",
]

DEFAULT_ROLES: tuple[str, ...] = ("user", "assistant")
"""Message roles stored by default: tool outputs and system prompts are left out."""


def validate_roles(roles: Any) -> tuple[str, ...]:
    """Normalise the ``roles`` option to a tuple of role names.

    Raises:
        InvalidInputError: not a non-empty sequence of strings.
    """
    if isinstance(roles, str) or not isinstance(roles, Iterable):
        raise InvalidInputError(f"roles must be a sequence of role names, not {roles!r}")
    out = tuple(getattr(role, "value", role) for role in roles)
    names = tuple(role for role in out if isinstance(role, str) and role)
    if not names or len(names) != len(out):
        raise InvalidInputError(f"roles must be non-empty role names, e.g. ('user', 'assistant'): {roles!r}")
    return names


def session_label(session_id: str) -> str:
    """Turn a LlamaIndex session id into a namespace label.

    Labels may not contain periods, so ``%`` and ``.`` are percent-escaped; the
    mapping is injective, hence two sessions never share a namespace.

    Raises:
        InvalidNamespaceError: the session id is not a non-empty string.
    """
    if not isinstance(session_id, str) or not session_id:
        raise InvalidNamespaceError(f"session_id must be a non-empty string, not {session_id!r}")
    return session_id.replace("%", "%25").replace(".", "%2E")


def scoped_namespace(base: Namespace, session_id: str | None, per_session: bool) -> Namespace:
    """The namespace a session reads and writes: ``base + (session,)`` or ``base``."""
    if per_session and session_id is not None:
        return (*base, session_label(session_id))
    return base


def message_text(message: ChatMessage) -> str:
    """The text blocks of a message joined by newlines (images, tool calls and thinking dropped)."""
    parts = [block.text for block in message.blocks if isinstance(block, TextBlock)]
    return "\n".join(part for part in parts if part).strip()


def _role(message: ChatMessage) -> str:
    return str(getattr(message.role, "value", message.role))


def message_inputs(
    messages: Iterable[ChatMessage],
    *,
    roles: Sequence[str],
    session_id: str | None,
    max_chars: int,
) -> list[MemoryInput]:
    """Engine inputs for the messages worth remembering, in order.

    Messages of other roles or without text are skipped; over-long texts are cut to
    ``max_chars`` so that a flush never fails on a huge tool dump. Metadata:
    ``role``, ``source`` and ``session_id`` (``None`` for messages without a
    session, so that sessionless reads can select exactly those).
    """
    stamp = datetime.now(tz=UTC)
    items: list[MemoryInput] = []
    for message in messages:
        role = _role(message)
        text = message_text(message)
        if role not in roles or not text:
            continue
        metadata: dict[str, Any] = {"role": role, "source": "llama_index", "session_id": session_id}
        items.append({"text": text[:max_chars], "metadata": metadata, "timestamp": stamp})
    return items


def query_from_messages(messages: Sequence[ChatMessage] | None, window: int) -> str:
    """The recall query: the latest user message and up to ``window - 1`` text messages before it.

    Returns:
        ``""`` when there is no user message with text.
    """
    if not messages:
        return ""
    last_user = next(
        (i for i in range(len(messages) - 1, -1, -1) if _role(messages[i]) == "user" and message_text(messages[i])),
        None,
    )
    if last_user is None:
        return ""
    texts: list[str] = []
    for message in reversed(messages[: last_user + 1]):
        if len(texts) >= window:
            break
        text = message_text(message)
        if text and _role(message) in DEFAULT_ROLES:
            texts.append(text)
    return "\n".join(reversed(texts))


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(text.split())
