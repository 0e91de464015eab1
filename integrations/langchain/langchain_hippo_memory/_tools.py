"""Tools a tool-calling model can use: ``recall_memory`` (single hop), ``recall_chain``,
``remember`` and ``forget``.

The names, descriptions, arguments and replies come from
:data:`hippo_memory.integration.TOOLS` and are those of the LlamaIndex adapter's
tools (``llama_index.memory.hippo.HippoToolSpec``), so a model sees the same tools
whichever framework runs it (a test compares the two). Recalls list each memory's
id, which ``forget`` takes. ``recall_associations``,
this package's former name of ``recall_chain``, still works: pass
``name="recall_associations"`` (deprecated).

Each returns readable text as the tool message content and JSON-ready records as
its ``artifact``. Namespaces may contain ``{placeholders}`` filled at call time from
the runtime context (``agent.invoke(..., context=...)``) or ``config["configurable"]``
(e.g. ``("users", "{user_id}")``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from hippo_memory import DEFAULT_NAMESPACE, Memory, MemoryNotFoundError
from hippo_memory.integration import (
    NO_MEMORIES,
    TOOLS,
    MemoryBackend,
    arecall_chain_or_empty,
    arecall_or_empty,
    format_chain,
    format_forgotten,
    format_hits,
    format_remembered,
    recall_chain_or_empty,
    recall_or_empty,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from ._namespace import current_context, resolve_namespace

__all__ = [
    "ForgetInput",
    "RecallAssociationsInput",
    "RecallChainInput",
    "RecallMemoryInput",
    "RememberInput",
    "create_chain_tool",
    "create_forget_tool",
    "create_memory_tools",
    "create_recall_tool",
    "create_remember_tool",
]

_RECALL, _CHAIN, _REMEMBER, _FORGET = (
    TOOLS[n] for n in ("recall_memory", "recall_chain", "remember", "forget")
)
_DEPRECATED_CHAIN_NAME = "recall_associations"
_TOOL_SOURCE = "langchain_tool"


class RecallMemoryInput(BaseModel):
    """Arguments of the ``recall_memory`` tool."""

    query: str = Field(description=_RECALL.arguments["query"])
    k: int | None = Field(default=None, ge=1, le=50, description=_RECALL.arguments["k"])


class RecallChainInput(BaseModel):
    """Arguments of the ``recall_chain`` tool."""

    query: str = Field(description=_CHAIN.arguments["query"])
    hops: int | None = Field(default=None, ge=0, le=10, description=_CHAIN.arguments["hops"])


RecallAssociationsInput = RecallChainInput
"""Deprecated alias of :class:`RecallChainInput` (the tool's former name)."""


class RememberInput(BaseModel):
    """Arguments of the ``remember`` tool."""

    text: str = Field(description=_REMEMBER.arguments["text"])


class ForgetInput(BaseModel):
    """Arguments of the ``forget`` tool."""

    memory_id: str = Field(description=_FORGET.arguments["memory_id"])


def _namespace(template: Sequence[str] | None, config: RunnableConfig) -> tuple[str, ...] | None:
    return resolve_namespace(template, config, context=current_context())


Output = tuple[str, list[dict[str, Any]]]


def create_recall_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    k: int = 5,
    filter: Mapping[str, Any] | None = None,
    name: str = _RECALL.name,
    description: str = _RECALL.description,
) -> StructuredTool:
    """A tool that recalls the memories most relevant to a query (single hop).

    Args:
        memory: The memory to search (an engine or a HippoClient).
        namespace: Namespace prefix searched; may contain ``{placeholders}`` filled
            from the runtime context or ``config["configurable"]``. ``None``
            searches everything.
        k: Default number of memories (the model may ask for another number).
        filter: Metadata filter applied to every call.
        name: Tool name shown to the model.
        description: Tool description shown to the model.

    Returns:
        A ``StructuredTool`` with ``response_format="content_and_artifact"``; the
        artifact is a list of ``RecallHit.to_dict()`` records (the memory, its score
        and diagnostics).
    """
    default_k = k
    fixed_filter = dict(filter) if filter else None

    def recall_memory(query: str, k: int | None = None, *, config: RunnableConfig) -> Output:
        ns = _namespace(namespace, config)
        result = recall_or_empty(memory, query, namespace=ns, k=k or default_k, filter=fixed_filter)
        return format_hits(result, empty=NO_MEMORIES, ids=True), [hit.to_dict() for hit in result]

    async def arecall_memory(query: str, k: int | None = None, *, config: RunnableConfig) -> Output:
        ns = _namespace(namespace, config)
        result = await arecall_or_empty(
            memory, query, namespace=ns, k=k or default_k, filter=fixed_filter
        )
        return format_hits(result, empty=NO_MEMORIES, ids=True), [hit.to_dict() for hit in result]

    return StructuredTool.from_function(
        func=recall_memory,
        coroutine=arecall_memory,
        name=name,
        description=description,
        args_schema=RecallMemoryInput,
        response_format="content_and_artifact",
    )


def create_chain_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    hops: int = 3,
    min_strength: float | None = None,
    name: str = _CHAIN.name,
    description: str = _CHAIN.description,
) -> StructuredTool:
    """A tool that follows the Hebbian association chain from a query, hop by hop.

    Named ``recall_chain`` as in the LlamaIndex adapter; ``name="recall_associations"``
    (the former default) still works but warns: rename the tool in prompts that
    mention it.

    Args:
        memory: The memory to search (an engine or a HippoClient).
        namespace: Namespace prefix every hop stays in; may contain ``{placeholders}``.
        hops: Default number of associations followed after the first memory.
        min_strength: Stop when an association is weaker than this (engine default
            when ``None``).
        name: Tool name shown to the model.
        description: Tool description shown to the model.

    Returns:
        A ``StructuredTool`` with ``response_format="content_and_artifact"``; the
        artifact lists the hops as ``ChainHop.to_dict()`` records (the memory, hop
        number, score and overlap).
    """

    if name == _DEPRECATED_CHAIN_NAME:
        warnings.warn(
            "the tool name 'recall_associations' is deprecated; the tool is now "
            "'recall_chain', as in the LlamaIndex adapter",
            DeprecationWarning,
            stacklevel=2,
        )
    default_hops = hops

    def recall_chain(query: str, hops: int | None = None, *, config: RunnableConfig) -> Output:
        chain = recall_chain_or_empty(
            memory,
            query,
            hops=default_hops if hops is None else hops,
            namespace=_namespace(namespace, config),
            min_strength=min_strength,
        )
        return format_chain(chain, ids=True), [hop.to_dict() for hop in chain]

    async def arecall_chain(
        query: str, hops: int | None = None, *, config: RunnableConfig
    ) -> Output:
        chain = await arecall_chain_or_empty(
            memory,
            query,
            hops=default_hops if hops is None else hops,
            namespace=_namespace(namespace, config),
            min_strength=min_strength,
        )
        return format_chain(chain, ids=True), [hop.to_dict() for hop in chain]

    return StructuredTool.from_function(
        func=recall_chain,
        coroutine=arecall_chain,
        name=name,
        description=description,
        args_schema=RecallChainInput,
        response_format="content_and_artifact",
    )


def create_remember_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    session: str | None = None,
    name: str = _REMEMBER.name,
    description: str = _REMEMBER.description,
) -> StructuredTool:
    """A tool that stores a fact the model chooses to remember.

    Args:
        memory: The memory to write to (an engine or a HippoClient).
        namespace: Where facts are stored; may contain ``{placeholders}`` filled from
            the runtime context or ``config["configurable"]``. ``None`` stores under
            ``hippo_memory.DEFAULT_NAMESPACE``.
        session: Session id of the stored facts (consecutive ones are linked).
        name: Tool name shown to the model.
        description: Tool description shown to the model.

    Returns:
        A ``StructuredTool`` with ``response_format="content_and_artifact"``: the
        content is ``"Remembered (id ...)."``, the artifact the new memory's id.
        Metadata ``{"source": "langchain_tool"}`` marks the stored facts.
    """

    def target(config: RunnableConfig) -> tuple[str, ...]:
        return _namespace(namespace, config) or DEFAULT_NAMESPACE

    def remember(text: str, *, config: RunnableConfig) -> tuple[str, str]:
        memory_id = memory.remember(
            text, namespace=target(config), session=session, metadata={"source": _TOOL_SOURCE}
        )
        return format_remembered(memory_id), memory_id

    async def aremember(text: str, *, config: RunnableConfig) -> tuple[str, str]:
        memory_id = await memory.aremember(
            text, namespace=target(config), session=session, metadata={"source": _TOOL_SOURCE}
        )
        return format_remembered(memory_id), memory_id

    return StructuredTool.from_function(
        func=remember,
        coroutine=aremember,
        name=name,
        description=description,
        args_schema=RememberInput,
        response_format="content_and_artifact",
    )


def _within(found: Memory, prefix: tuple[str, ...] | None) -> bool:
    return prefix is None or found.namespace[: len(prefix)] == prefix


def create_forget_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    name: str = _FORGET.name,
    description: str = _FORGET.description,
) -> StructuredTool:
    """A tool that forgets one memory by id, only inside its namespace.

    Args:
        memory: The memory to delete from (an engine or a HippoClient).
        namespace: Only memories in this namespace or below it can be forgotten (may
            contain ``{placeholders}``); ``None`` allows any memory of the engine. A
            memory elsewhere is answered as missing, so the tool reveals nothing
            outside its namespace.
        name: Tool name shown to the model.
        description: Tool description shown to the model.

    Returns:
        A ``StructuredTool`` with ``response_format="content_and_artifact"``: the
        content says whether the memory was forgotten, the artifact is ``True`` or
        ``False`` accordingly.
    """

    def forget(memory_id: str, *, config: RunnableConfig) -> tuple[str, bool]:
        prefix = _namespace(namespace, config)
        try:
            found = _within(memory.get(memory_id), prefix) and memory.forget(memory_id) > 0
        except MemoryNotFoundError:
            found = False
        return format_forgotten(memory_id, found), found

    async def aforget(memory_id: str, *, config: RunnableConfig) -> tuple[str, bool]:
        prefix = _namespace(namespace, config)
        try:
            found = _within(await memory.aget(memory_id), prefix)
            found = found and await memory.aforget(memory_id) > 0
        except MemoryNotFoundError:
            found = False
        return format_forgotten(memory_id, found), found

    return StructuredTool.from_function(
        func=forget,
        coroutine=aforget,
        name=name,
        description=description,
        args_schema=ForgetInput,
        response_format="content_and_artifact",
    )


def create_memory_tools(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    k: int = 5,
    hops: int = 3,
    writable: bool = False,
) -> list[BaseTool]:
    """``recall_memory`` and ``recall_chain`` over one namespace; with ``writable``,
    also ``remember`` and ``forget`` (the set ``HippoToolSpec.to_tool_list()`` gives)."""
    tools: list[BaseTool] = [
        create_recall_tool(memory, namespace=namespace, k=k),
        create_chain_tool(memory, namespace=namespace, hops=hops),
    ]
    if writable:
        tools += [
            create_remember_tool(memory, namespace=namespace),
            create_forget_tool(memory, namespace=namespace),
        ]
    return tools
