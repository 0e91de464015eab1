"""LlamaIndex integration for hippo-memory: memory block, chat memory, retriever, tools."""

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
