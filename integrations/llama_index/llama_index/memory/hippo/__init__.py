"""LlamaIndex integration for hippo-memory: memory block, chat memory, retriever, tools, vector store.

``HippoMemory`` (the chat memory's old name, which clashed with the engine's
``hippo_memory.HippoMemory``) is still importable as a deprecated alias of
``HippoChatMemory`` for one release; it is left out of ``__all__``.
"""

try:
    import llama_index.core  # noqa: F401 - checked first, for a clear message
except ImportError as exc:
    from hippo_memory import MissingDependencyError

    raise MissingDependencyError(
        "llama_index.memory.hippo needs llama-index-core>=0.14: "
        "pip install llama-index-memory-hippo (or pip install 'hippo-memory[llamaindex]')"
    ) from exc

from llama_index.memory.hippo.base import HippoChatMemory
from llama_index.memory.hippo.base import HippoMemory as HippoMemory  # deprecated alias, not in __all__
from llama_index.memory.hippo.block import HippoMemoryBlock
from llama_index.memory.hippo.cues import LLMCueAugmenter
from llama_index.memory.hippo.retriever import HippoRetriever
from llama_index.memory.hippo.tools import (
    HippoToolSpec,
    create_chain_tool,
    create_forget_tool,
    create_recall_tool,
    create_remember_tool,
)
from llama_index.memory.hippo.vector_store import HippoVectorStore

__all__ = [
    "HippoChatMemory",
    "HippoMemoryBlock",
    "HippoRetriever",
    "HippoToolSpec",
    "HippoVectorStore",
    "LLMCueAugmenter",
    "create_chain_tool",
    "create_forget_tool",
    "create_recall_tool",
    "create_remember_tool",
]
