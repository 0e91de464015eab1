"""``HippoMemoryMiddleware``: long-term memory for ``langchain.agents.create_agent``.

Before every model call the memories most relevant to the latest user message are
recalled and appended to the system message (the conversation state is left
untouched, so they never pile up in the history). After the agent finishes, the
user message and the final answer are stored as two memories of one session, so
consecutive exchanges are linked for multi-hop recall. No LLM call is made.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hippo_memory import (
    HippoMemory,
    InvalidInputError,
    MemoryInput,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    RecallHit,
)
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from ._namespace import resolve_namespace
from ._tools import create_memory_tools

try:
    from langchain.agents.middleware import (
        AgentMiddleware,
        AgentState,
        ModelRequest,
        ModelResponse,
    )
    from langgraph.config import get_config
    from langgraph.runtime import Runtime
except ImportError as exc:  # pragma: no cover - exercised without the extra
    from hippo_memory import MissingDependencyError

    raise MissingDependencyError(
        "HippoMemoryMiddleware needs langchain>=1.0: pip install 'langchain-hippo-memory[agents]'"
    ) from exc

__all__ = ["DEFAULT_MEMORY_PROMPT", "HippoMemoryMiddleware"]

DEFAULT_MEMORY_PROMPT = (
    "Relevant long-term memories from earlier conversations, most relevant first "
    "(they may be incomplete or outdated):\n{memories}"
)


def _config() -> RunnableConfig | None:
    try:
        return get_config()
    except RuntimeError:
        return None


def _last_human(messages: Sequence[AnyMessage]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return i
    return None


def _with_block(system: SystemMessage | None, block: str) -> SystemMessage:
    if system is None:
        return SystemMessage(content=block)
    if isinstance(system.content, str):
        content: Any = f"{system.content}\n\n{block}" if system.content else block
    else:
        content = [*system.content, {"type": "text", "text": block}]
    return system.model_copy(update={"content": content})


class HippoMemoryMiddleware(AgentMiddleware):
    """Recall memories into the model's system message and store each exchange.

    Args:
        memory: The memory to read and write.
        namespace: Where memories are recalled from and stored; labels may contain
            ``{placeholders}`` filled from ``config["configurable"]``, e.g.
            ``("users", "{user_id}", "conversations")``.
        k: Memories injected before each model call.
        min_score: Hits with a lower ranking score are not injected.
        store_exchanges: Store the user message and the final answer after the agent.
        session: Session id linking stored exchanges when the run has no
            ``thread_id`` in its config; a random id per middleware by default.
        prompt: Template of the injected block; ``{memories}`` is replaced by the list.
        tools: Also give the model the ``recall_memory`` and ``recall_associations``
            tools over the same namespace.

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> from langchain.agents import create_agent
        >>> memory = HippoMemory(encoder=HashingEncoder())
        >>> middleware = HippoMemoryMiddleware(memory, namespace=("users", "{user_id}"))
        >>> agent = create_agent(model, middleware=[middleware])  # doctest: +SKIP
    """

    def __init__(
        self,
        memory: HippoMemory,
        *,
        namespace: Sequence[str] = ("conversations",),
        k: int = 5,
        min_score: float = 0.0,
        store_exchanges: bool = True,
        session: str | None = None,
        prompt: str = DEFAULT_MEMORY_PROMPT,
        tools: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, not {k!r}")
        if "{memories}" not in prompt:
            raise InvalidInputError("prompt must contain the '{memories}' placeholder")
        self.memory = memory
        self.namespace = tuple(namespace)
        self.k = k
        self.min_score = min_score
        self.store_exchanges = store_exchanges
        self.session = session or f"agent-{uuid.uuid4()}"
        self.prompt = prompt
        self.tools = create_memory_tools(memory, namespace=self.namespace, k=k) if tools else []

    # ------------------------------------------------------------------ recall
    def _query(self, messages: Sequence[AnyMessage]) -> str | None:
        index = _last_human(messages)
        if index is None:
            return None
        text = messages[index].text.strip()
        return text or None

    def _block(self, hits: Sequence[RecallHit], messages: Sequence[AnyMessage]) -> str | None:
        in_context = {m.text.strip() for m in messages}
        lines = []
        for hit in hits:
            if hit.score < self.min_score or hit.memory.text.strip() in in_context:
                continue
            when = (hit.memory.timestamp or hit.memory.created_at).strftime("%Y-%m-%d")
            role = hit.memory.metadata.get("role")
            label = f"{when}, {role}" if isinstance(role, str) else when
            lines.append(f"- [{label}] {hit.memory.text}")
        return self.prompt.format(memories="\n".join(lines)) if lines else None

    def _recall(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        query = self._query(request.messages)
        if query is None:
            return request
        namespace = resolve_namespace(self.namespace, _config())
        try:
            hits = list(self.memory.recall(query, namespace=namespace, k=self.k))
        except NamespaceNotFoundError:
            return request
        block = self._block(hits, request.messages)
        if block is None:
            return request
        return request.override(system_message=_with_block(request.system_message, block))

    async def _arecall(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        query = self._query(request.messages)
        if query is None:
            return request
        namespace = resolve_namespace(self.namespace, _config())
        try:
            hits = list(await self.memory.arecall(query, namespace=namespace, k=self.k))
        except NamespaceNotFoundError:
            return request
        block = self._block(hits, request.messages)
        if block is None:
            return request
        return request.override(system_message=_with_block(request.system_message, block))

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Inject recalled memories into the system message, then call the model."""
        return handler(self._recall(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async twin of :meth:`wrap_model_call`."""
        return await handler(await self._arecall(request))

    # ------------------------------------------------------------------ store
    def _exchange(self, state: AgentState[Any]) -> tuple[tuple[str, ...], str, list[MemoryInput]]:
        config = _config()
        namespace = resolve_namespace(self.namespace, config) or self.namespace
        configurable = (config or {}).get("configurable") or {}
        # LangGraph accepts any hashable thread id (often a UUID); metadata must be JSON.
        thread = configurable.get("thread_id")
        thread = None if thread is None else str(thread)
        session = thread if thread is not None else self.session
        messages = state.get("messages", [])
        index = _last_human(messages)
        if index is None:
            return namespace, session, []
        user = messages[index]
        answer = next(
            (
                m
                for m in reversed(messages[index + 1 :])
                if isinstance(m, AIMessage) and not m.tool_calls and m.text.strip()
            ),
            None,
        )
        stamp = time.time()
        items: list[MemoryInput] = []
        for message, role in ((user, "user"), (answer, "assistant")):
            if message is None or not message.text.strip():
                continue
            item: MemoryInput = {
                "text": message.text.strip(),
                "metadata": {"role": role, "thread_id": thread, "source": "agent"},
                "timestamp": stamp,
            }
            if message.id:
                item["id"] = f"lc-message:{message.id}"
            items.append(item)
        return namespace, session, items

    def _new(self, items: list[MemoryInput]) -> list[MemoryInput]:
        fresh = []
        for item in items:
            if "id" in item:
                try:
                    self.memory.get(item["id"])
                    continue  # already stored (e.g. a resumed run)
                except MemoryNotFoundError:
                    pass
            fresh.append(item)
        return fresh

    async def _anew(self, items: list[MemoryInput]) -> list[MemoryInput]:
        fresh = []
        for item in items:
            if "id" in item:
                try:
                    await self.memory.aget(item["id"])
                    continue
                except MemoryNotFoundError:
                    pass
            fresh.append(item)
        return fresh

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Store the latest user message and final answer, linked in one session."""
        if not self.store_exchanges:
            return None
        namespace, session, items = self._exchange(state)
        items = self._new(items)
        if items:
            self.memory.remember_many(items, namespace=namespace, session=session)
        return None

    async def aafter_agent(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async twin of :meth:`after_agent`."""
        if not self.store_exchanges:
            return None
        namespace, session, items = self._exchange(state)
        items = await self._anew(items)
        if items:
            await self.memory.aremember_many(items, namespace=namespace, session=session)
        return None
