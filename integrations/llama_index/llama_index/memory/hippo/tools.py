"""Agent tools: recall, multi-hop chain recall, remember and forget, as ``FunctionTool``s.

Their names, argument descriptions, docstrings (the tools' descriptions) and replies
come from :data:`hippo_memory.integration.TOOLS`, as do the LangChain adapter's
tools (``langchain_hippo_memory``), so a model sees the same tools whichever
framework runs it; a test compares the two. Recalls list each memory's id, which
``forget`` takes.

No ``from __future__ import annotations`` here: ``FunctionTool`` builds the tool
schemas from the runtime annotations of these methods.
"""

import asyncio
import inspect
from collections.abc import Sequence
from typing import Annotated

from llama_index.core.tools import FunctionTool
from llama_index.core.tools.tool_spec.base import BaseToolSpec

from hippo_memory import DEFAULT_NAMESPACE, InvalidInputError, MemoryNotFoundError, validate_namespace
from hippo_memory.integration import (
    NO_MEMORIES,
    TOOLS,
    MemoryBackend,
    as_memory_backend,
    format_chain,
    format_forgotten,
    format_hits,
    format_remembered,
    recall_chain_or_empty,
    recall_or_empty,
)

__all__ = [
    "HippoToolSpec",
    "create_chain_tool",
    "create_forget_tool",
    "create_recall_tool",
    "create_remember_tool",
]


_RECALL, _CHAIN, _REMEMBER, _FORGET = (TOOLS[n] for n in ("recall_memory", "recall_chain", "remember", "forget"))
# Argument annotations (FunctionTool reads their descriptions from the metadata).
_Query = Annotated[str, _RECALL.arguments["query"]]
_K = Annotated[int | None, _RECALL.arguments["k"]]
_ChainQuery = Annotated[str, _CHAIN.arguments["query"]]
_Hops = Annotated[int | None, _CHAIN.arguments["hops"]]
_Text = Annotated[str, _REMEMBER.arguments["text"]]
_MemoryId = Annotated[str, _FORGET.arguments["memory_id"]]


def _positive(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{what} must be a positive integer, not {value!r}")
    return value


class HippoToolSpec(BaseToolSpec):
    """Tools over one hippo-memory engine and namespace.

    ``to_tool_list()`` returns ``recall_memory``, ``recall_chain``, ``remember`` and
    ``forget`` (each with a sync and an async implementation); pass
    ``spec_functions`` to pick. ``forget`` deletes only memories in ``namespace`` or
    below it, and answers a memory elsewhere as missing.
    Results are plain text for the LLM; a namespace with nothing stored under it
    answers "No memories found.", bad arguments raise the engine's typed errors,
    which agents report back to the LLM.

    Args:
        memory: The engine, or a HippoClient.
        namespace: Namespace searched (with its descendants), written to and
            forgotten from; ``None`` searches and forgets everywhere and writes to
            ``hippo_memory.DEFAULT_NAMESPACE``.
        k: Default number of memories ``recall_memory`` returns.
        hops: Default number of associations ``recall_chain`` follows.
        max_k: Upper bound on ``k`` and ``hops`` asked for by the LLM.
        session: Session id given to ``remember`` (consecutive notes are linked).
    """

    spec_functions = [  # noqa: RUF012 - the BaseToolSpec interface
        ("recall_memory", "arecall_memory"),
        ("recall_chain", "arecall_chain"),
        ("remember", "aremember"),
        ("forget", "aforget"),
    ]

    def __init__(
        self,
        memory: MemoryBackend,
        *,
        namespace: Sequence[str] | None = None,
        k: int = 5,
        hops: int = 3,
        max_k: int = 20,
        session: str | None = None,
    ) -> None:
        self.memory = as_memory_backend(memory)
        self.namespace = None if namespace is None else validate_namespace(namespace)
        self.max_k = _positive(max_k, "max_k")
        self.k = min(_positive(k, "k"), self.max_k)
        self.hops = min(_positive(hops, "hops"), self.max_k)
        self.session = session

    def recall_memory(
        self,
        query: _Query,
        k: _K = None,
    ) -> str:
        k = min(_positive(k, "k") if k is not None else self.k, self.max_k)
        result = recall_or_empty(self.memory, query, namespace=self.namespace, k=k)
        return format_hits(result, empty=NO_MEMORIES, ids=True)

    async def arecall_memory(
        self,
        query: _Query,
        k: _K = None,
    ) -> str:
        return await asyncio.to_thread(self.recall_memory, query, k)

    def recall_chain(
        self,
        query: _ChainQuery,
        hops: _Hops = None,
    ) -> str:
        hops = min(_positive(hops, "hops") if hops is not None else self.hops, self.max_k)
        return format_chain(recall_chain_or_empty(self.memory, query, hops=hops, namespace=self.namespace), ids=True)

    async def arecall_chain(
        self,
        query: _ChainQuery,
        hops: _Hops = None,
    ) -> str:
        return await asyncio.to_thread(self.recall_chain, query, hops)

    def remember(self, text: _Text) -> str:
        memory_id = self.memory.remember(
            text,
            namespace=self.namespace or DEFAULT_NAMESPACE,
            session=self.session,
            metadata={"source": "llama_index_tool"},
        )
        return format_remembered(memory_id)

    async def aremember(self, text: _Text) -> str:
        return await asyncio.to_thread(self.remember, text)

    def forget(self, memory_id: _MemoryId) -> str:
        try:
            found = self.memory.get(memory_id)
            inside = self.namespace is None or found.namespace[: len(self.namespace)] == self.namespace
            forgotten = inside and self.memory.forget(memory_id) > 0
        except MemoryNotFoundError:
            forgotten = False
        return format_forgotten(memory_id, forgotten)

    async def aforget(self, memory_id: _MemoryId) -> str:
        return await asyncio.to_thread(self.forget, memory_id)

    # The tools' descriptions are these docstrings (BaseToolSpec and FunctionTool read them).
    recall_memory.__doc__ = arecall_memory.__doc__ = _RECALL.description
    recall_chain.__doc__ = arecall_chain.__doc__ = _CHAIN.description
    remember.__doc__ = aremember.__doc__ = _REMEMBER.description
    forget.__doc__ = aforget.__doc__ = _FORGET.description


def _tool(spec: HippoToolSpec, method: str, name: str | None, description: str | None) -> FunctionTool:
    sync_fn = getattr(spec, method)
    async_fn = getattr(spec, f"a{method}")
    return FunctionTool.from_defaults(
        fn=sync_fn,
        async_fn=async_fn,
        name=name or method,
        description=description or inspect.cleandoc(sync_fn.__doc__ or ""),
    )


def create_recall_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    k: int = 5,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool:
    """A ``recall_memory(query, k=None)`` tool; see :class:`HippoToolSpec`."""
    return _tool(HippoToolSpec(memory, namespace=namespace, k=k), "recall_memory", name, description)


def create_chain_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    hops: int = 3,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool:
    """A ``recall_chain(query, hops=None)`` tool that returns the chain hop by hop."""
    return _tool(HippoToolSpec(memory, namespace=namespace, hops=hops), "recall_chain", name, description)


def create_remember_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    session: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool:
    """A ``remember(text)`` tool storing facts under ``namespace``."""
    return _tool(HippoToolSpec(memory, namespace=namespace, session=session), "remember", name, description)


def create_forget_tool(
    memory: MemoryBackend,
    *,
    namespace: Sequence[str] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool:
    """A ``forget(memory_id)`` tool that deletes memories of ``namespace`` (and below) only."""
    return _tool(HippoToolSpec(memory, namespace=namespace), "forget", name, description)
