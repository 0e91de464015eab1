"""Tools a tool-calling model can use: single-hop recall and multi-hop association chains.

Both return readable text as the tool message content and JSON-ready records as
its ``artifact``. Namespaces may contain ``{placeholders}`` filled from
``config["configurable"]`` at call time (e.g. ``("users", "{user_id}")``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hippo_memory import HippoMemory
from hippo_memory.integration import (
    NO_MEMORIES,
    arecall_chain_or_empty,
    arecall_or_empty,
    format_chain,
    format_hits,
    recall_chain_or_empty,
    recall_or_empty,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from ._namespace import resolve_namespace

__all__ = [
    "RecallAssociationsInput",
    "RecallMemoryInput",
    "create_chain_tool",
    "create_memory_tools",
    "create_recall_tool",
]

_RECALL_DESCRIPTION = (
    "Search long-term memory for facts, events and earlier conversations relevant to a "
    "question. Returns the best matching memories, most relevant first."
)
_CHAIN_DESCRIPTION = (
    "Follow a chain of associated memories: recall the memory that best matches the "
    "query, then the memory associated with it, and so on, hop by hop. Use it for "
    "questions that need several linked facts (what happened next, who or what is "
    "connected to something)."
)


class RecallMemoryInput(BaseModel):
    """Arguments of the ``recall_memory`` tool."""

    query: str = Field(description="A question or a few keywords describing what to recall.")
    k: int | None = Field(
        default=None, ge=1, le=50, description="How many memories to return (optional)."
    )


class RecallAssociationsInput(BaseModel):
    """Arguments of the ``recall_associations`` tool."""

    query: str = Field(description="A question or cue for the first memory of the chain.")
    hops: int | None = Field(
        default=None,
        ge=0,
        le=10,
        description="How many associations to follow after the first memory (optional).",
    )


Output = tuple[str, list[dict[str, Any]]]


def create_recall_tool(
    memory: HippoMemory,
    *,
    namespace: Sequence[str] | None = None,
    k: int = 5,
    filter: Mapping[str, Any] | None = None,
    name: str = "recall_memory",
    description: str = _RECALL_DESCRIPTION,
) -> StructuredTool:
    """A tool that recalls the memories most relevant to a query (single hop).

    Args:
        memory: The memory to search.
        namespace: Namespace prefix searched; may contain ``{placeholders}`` filled
            from ``config["configurable"]``. ``None`` searches everything.
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
        ns = resolve_namespace(namespace, config)
        result = recall_or_empty(memory, query, namespace=ns, k=k or default_k, filter=fixed_filter)
        return format_hits(result, empty=NO_MEMORIES), [hit.to_dict() for hit in result]

    async def arecall_memory(query: str, k: int | None = None, *, config: RunnableConfig) -> Output:
        ns = resolve_namespace(namespace, config)
        result = await arecall_or_empty(
            memory, query, namespace=ns, k=k or default_k, filter=fixed_filter
        )
        return format_hits(result, empty=NO_MEMORIES), [hit.to_dict() for hit in result]

    return StructuredTool.from_function(
        func=recall_memory,
        coroutine=arecall_memory,
        name=name,
        description=description,
        args_schema=RecallMemoryInput,
        response_format="content_and_artifact",
    )


def create_chain_tool(
    memory: HippoMemory,
    *,
    namespace: Sequence[str] | None = None,
    hops: int = 3,
    min_strength: float | None = None,
    name: str = "recall_associations",
    description: str = _CHAIN_DESCRIPTION,
) -> StructuredTool:
    """A tool that follows the Hebbian association chain from a query, hop by hop.

    Args:
        memory: The memory to search.
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

    default_hops = hops

    def recall_associations(
        query: str, hops: int | None = None, *, config: RunnableConfig
    ) -> Output:
        chain = recall_chain_or_empty(
            memory,
            query,
            hops=default_hops if hops is None else hops,
            namespace=resolve_namespace(namespace, config),
            min_strength=min_strength,
        )
        return format_chain(chain), [hop.to_dict() for hop in chain]

    async def arecall_associations(
        query: str, hops: int | None = None, *, config: RunnableConfig
    ) -> Output:
        chain = await arecall_chain_or_empty(
            memory,
            query,
            hops=default_hops if hops is None else hops,
            namespace=resolve_namespace(namespace, config),
            min_strength=min_strength,
        )
        return format_chain(chain), [hop.to_dict() for hop in chain]

    return StructuredTool.from_function(
        func=recall_associations,
        coroutine=arecall_associations,
        name=name,
        description=description,
        args_schema=RecallAssociationsInput,
        response_format="content_and_artifact",
    )


def create_memory_tools(
    memory: HippoMemory, *, namespace: Sequence[str] | None = None, k: int = 5, hops: int = 3
) -> list[BaseTool]:
    """Both tools, ``recall_memory`` and ``recall_associations``, over one namespace."""
    return [
        create_recall_tool(memory, namespace=namespace, k=k),
        create_chain_tool(memory, namespace=namespace, hops=hops),
    ]
