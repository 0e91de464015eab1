"""Fields and behaviour shared by the memory block and the chat memory.

Both store chat messages under a namespace derived from a session id and recall
with the same options, so the mapping from LlamaIndex sessions to hippo-memory
namespaces lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import BaseModel, ConfigDict, Field

from hippo_memory import Memory, Namespace, validate_namespace
from hippo_memory.integration import MemoryBackendField, recall_chain_or_empty, recall_or_empty

from ._utils import (
    DEFAULT_ROLES,
    message_inputs,
    one_line,
    scoped_namespace,
    validate_roles,
)

__all__ = ["NO_SESSION", "HippoScope"]

NO_SESSION = "default"
"""Engine session used to link messages that arrive without a session id."""


class HippoScope(BaseModel):
    """Where messages are stored and how they are recalled (a mixin of pydantic fields)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: MemoryBackendField = Field(
        description="The hippo-memory engine (or a HippoClient) that stores and recalls the messages.",
        exclude=True,
    )
    namespace: tuple[str, ...] = Field(
        default=("llama_index",),
        description="Root namespace of the stored messages (labels without periods).",
    )
    per_session: bool = Field(
        default=True,
        description=(
            "Give every session_id its own child namespace `namespace + (session_id,)`; "
            "False shares `namespace` between sessions."
        ),
    )
    top_k: int = Field(default=5, ge=1, le=100, description="Memories recalled per query.")
    chain_hops: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Associations to follow from the best hit (e.g. the reply to a recalled question); 0 disables.",
    )
    query_window: int = Field(
        default=1,
        ge=1,
        description="Text messages, ending with the latest user message, joined into the recall query.",
    )
    min_similarity: float = Field(
        default=0.0,
        ge=-1.0,
        le=1.0,
        description="Drop hits whose best cosine similarity to the query is below this (0 drops only unrelated ones).",
    )
    roles: tuple[str, ...] = Field(default=DEFAULT_ROLES, description="Roles of the messages that are stored.")

    def __init__(self, **data: Any) -> None:
        # Validated here rather than in field validators so that the engine's typed
        # errors reach the caller instead of a pydantic ValidationError.
        if "namespace" in data:
            data["namespace"] = validate_namespace(data["namespace"])
        if "roles" in data:
            data["roles"] = validate_roles(data["roles"])
        super().__init__(**data)

    def namespace_for(self, session_id: str | None) -> Namespace:
        """The namespace a session reads and writes."""
        return scoped_namespace(self.namespace, session_id, self.per_session)

    def _sessionless(self, session_id: str | None) -> bool:
        """Whether a read is by no session while every session has its own namespace.

        Such a read gets the messages put without a session, which live in
        ``namespace`` itself, and must not see the sessions' namespaces below it
        (engine recall searches a namespace with its descendants).
        """
        return self.per_session and session_id is None

    def remember_messages(self, messages: Iterable[ChatMessage], session_id: str | None) -> list[str]:
        """Store the messages of ``roles`` that carry text; consecutive ones are linked.

        Returns:
            The new memory ids (empty when nothing was worth storing).
        """
        items = message_inputs(
            messages,
            roles=self.roles,
            session_id=session_id,
            max_chars=self.memory.config.max_text_chars,
        )
        if not items:
            return []
        ids: list[str] = self.memory.remember_many(
            items,
            namespace=self.namespace_for(session_id),
            session=session_id if session_id is not None else NO_SESSION,
        )
        return ids

    def recall_memories(self, query: str, session_id: str | None, exclude: Sequence[str] = ()) -> list[Memory]:
        """Recall for a query and follow the best hit's associations for ``chain_hops`` hops.

        Args:
            query: The recall cue (cut to the engine's ``max_text_chars``).
            session_id: Selects the namespace (see ``per_session``). ``None`` with
                ``per_session=True`` reads only the messages put without a session
                (those in ``namespace`` itself), never a session's.
            exclude: Texts already in the prompt; memories with the same text are dropped.

        Returns:
            Memories best first: the best hit, the memories its chain reached, then the
            other hits; ``[]`` when nothing is stored for the session.
        """
        namespace = self.namespace_for(session_id)
        query = query[: self.memory.config.max_text_chars]
        sessionless = self._sessionless(session_id)
        only_sessionless = {"session_id": None} if sessionless else None
        # The engine applies the floor (and the sessionless filter) before taking the top k,
        # so weak or foreign matches neither crowd out good ones nor count as recalled
        # (which consolidation would reward).
        result = recall_or_empty(
            self.memory,
            query,
            namespace=namespace,
            k=self.top_k,
            min_similarity=self.min_similarity,
            filter=only_sessionless,
        )
        found = [hit.memory for hit in result]
        if self.chain_hops > 0 and found:
            chain = recall_chain_or_empty(
                self.memory, query, hops=self.chain_hops, namespace=namespace, filter=only_sessionless
            )
            if chain.hops and chain.hops[0].memory.id == found[0].id:
                found[1:1] = [hop.memory for hop in chain.hops[1:]]
        skip = {one_line(text).lower() for text in exclude if text}
        seen: set[str] = set()
        out: list[Memory] = []
        for memory in found:
            if memory.id in seen or one_line(memory.text).lower() in skip:
                continue
            if sessionless and memory.namespace != namespace:
                continue  # a chain hop into a session's namespace
            seen.add(memory.id)
            out.append(memory)
        return out
