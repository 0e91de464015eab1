"""``HippoMemoryMiddleware``: long-term memory for ``langchain.agents.create_agent``.

Before every model call the memories most relevant to the latest user message are
recalled and appended to the system message (the conversation state is left
untouched, so they never pile up in the history). After the agent finishes, the
user message and the final answer are stored as two memories of one session, so
consecutive exchanges are linked for multi-hop recall. No LLM call is made.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hippo_memory import (
    InvalidInputError,
    MemoryInput,
    MemoryNotFoundError,
    RecallResult,
)
from hippo_memory.integration import (
    MemoryBackend,
    arecall_or_empty,
    fill_prompt,
    format_hits,
    recall_or_empty,
)
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
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
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.runtime import Runtime
    from langgraph.types import Command
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


_FORMER_CHAIN_NAME = "recall_associations"
_MESSAGE_ID_NAMESPACE = uuid.UUID("5b0c7e1e-2a4f-5d8b-9c61-3f7a0e9d4b12")


def _message_memory_id(namespace: Sequence[str], message_id: str) -> str:
    """The engine memory id of a LangChain message stored under ``namespace``.

    Engine ids are global across namespaces while LangChain message ids are only
    unique within a conversation (and often reused, e.g. by fake or replayed
    models), so the id is derived from both: the same message id in two users'
    namespaces gives two memories, and a resumed run in one namespace finds the
    memory it already stored.
    """
    name = json.dumps([list(namespace), message_id], ensure_ascii=False)
    return f"lc-message:{uuid.uuid5(_MESSAGE_ID_NAMESPACE, name)}"


def _config() -> RunnableConfig | None:
    try:
        return get_config()
    except RuntimeError:
        return None


def _context(runtime: Runtime[Any] | None) -> Any:
    """The run's ``context=`` value, from the runtime LangChain hands the middleware."""
    return None if runtime is None else getattr(runtime, "context", None)


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
        memory: The memory to read and write (an engine or a HippoClient).
        namespace: Where memories are recalled from and stored; labels may contain
            ``{placeholders}`` filled from the runtime context (``agent.invoke(...,
            context=Ctx(user_id=...))``, an attribute or a key) or, failing that,
            ``config["configurable"]``, e.g. ``("users", "{user_id}", "conversations")``.
        k: Memories injected before each model call.
        min_score: Hits with a lower score are not injected. Under the engine's default
            (learned) ranker a score is a calibrated probability of relevance, so e.g.
            ``0.3`` keeps unrelated memories out of the prompt for every query.
        store_exchanges: Store the user message and the final answer after the agent.
        session: Session id linking stored exchanges when the run has no
            ``thread_id`` in its config; a random id per middleware by default.
        prompt: Template of the injected block; ``{memories}`` is replaced by the list.
        tools: Also give the model the ``recall_memory`` and ``recall_chain`` tools
            over the same namespace.

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> from langchain.agents import create_agent
        >>> memory = HippoMemory(encoder=HashingEncoder())
        >>> middleware = HippoMemoryMiddleware(memory, namespace=("users", "{user_id}"))
        >>> agent = create_agent(model, middleware=[middleware])  # doctest: +SKIP
    """

    def __init__(
        self,
        memory: MemoryBackend,
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

    def _namespace(self, config: RunnableConfig | None, context: Any) -> tuple[str, ...]:
        return resolve_namespace(self.namespace, config, context=context) or self.namespace

    # ------------------------------------------------------------------ recall
    def _query(self, messages: Sequence[AnyMessage]) -> str | None:
        index = _last_human(messages)
        if index is None:
            return None
        text = messages[index].text.strip()
        return text or None

    def _block(self, result: RecallResult, messages: Sequence[AnyMessage]) -> str | None:
        in_context = {m.text.strip() for m in messages}
        kept = [
            hit.memory
            for hit in result
            if hit.score >= self.min_score and hit.memory.text.strip() not in in_context
        ]
        return fill_prompt(self.prompt, memories=format_hits(kept)) if kept else None

    def _with_memories(self, request: ModelRequest[Any], result: RecallResult) -> ModelRequest[Any]:
        block = self._block(result, request.messages)
        if block is None:
            return request
        return request.override(system_message=_with_block(request.system_message, block))

    def _recall(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        query = self._query(request.messages)
        if query is None:
            return request
        namespace = self._namespace(_config(), _context(request.runtime))
        result = recall_or_empty(self.memory, query, namespace=namespace, k=self.k)
        return self._with_memories(request, result)

    async def _arecall(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        query = self._query(request.messages)
        if query is None:
            return request
        namespace = self._namespace(_config(), _context(request.runtime))
        result = await arecall_or_empty(self.memory, query, namespace=namespace, k=self.k)
        return self._with_memories(request, result)

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

    # ------------------------------------------------------------------ tool alias
    def _aliased(self, request: ToolCallRequest) -> ToolCallRequest:
        """Route a call to the deprecated ``recall_associations`` to ``recall_chain``.

        Models prompted with the tool's former name (or threads that called it) keep
        working; the answer is ``recall_chain``'s tool message.
        """
        if request.tool is not None or request.tool_call.get("name") != _FORMER_CHAIN_NAME:
            return request
        available = [*(getattr(request.runtime, "tools", None) or []), *self.tools]
        chain = next((t for t in available if t.name == "recall_chain"), None)
        return request if chain is None else request.override(tool=chain)

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Serve calls to ``recall_associations`` (deprecated) with ``recall_chain``."""
        return handler(self._aliased(request))

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async twin of :meth:`wrap_tool_call`."""
        return await handler(self._aliased(request))

    # ------------------------------------------------------------------ store
    def _exchange(
        self, state: AgentState[Any], runtime: Runtime[Any] | None
    ) -> tuple[tuple[str, ...], str, list[MemoryInput]]:
        config = _config()
        namespace = self._namespace(config, _context(runtime))
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
                item["id"] = _message_memory_id(namespace, message.id)
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
        namespace, session, items = self._exchange(state, runtime)
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
        namespace, session, items = self._exchange(state, runtime)
        items = await self._anew(items)
        if items:
            await self.memory.aremember_many(items, namespace=namespace, session=session)
        return None
