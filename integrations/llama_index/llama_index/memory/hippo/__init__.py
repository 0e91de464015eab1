"""LlamaIndex integration for hippo-memory: memory block, chat memory, retriever, tools."""

try:
    import llama_index.core  # noqa: F401 - checked first, for a clear message
except ImportError as exc:
    from hippo_memory import MissingDependencyError

    raise MissingDependencyError(
        "llama_index.memory.hippo needs llama-index-core>=0.14: "
        "pip install llama-index-memory-hippo (or pip install 'hippo-memory[llamaindex]')"
    ) from exc

from llama_index.memory.hippo.base import HippoMemory
from llama_index.memory.hippo.block import HippoMemoryBlock
from llama_index.memory.hippo.cues import LLMCueAugmenter
from llama_index.memory.hippo.retriever import HippoRetriever
from llama_index.memory.hippo.tools import (
    HippoToolSpec,
    create_chain_tool,
    create_recall_tool,
    create_remember_tool,
)

__all__ = [
    "HippoMemory",
    "HippoMemoryBlock",
    "HippoRetriever",
    "HippoToolSpec",
    "LLMCueAugmenter",
    "create_chain_tool",
    "create_recall_tool",
    "create_remember_tool",
]
