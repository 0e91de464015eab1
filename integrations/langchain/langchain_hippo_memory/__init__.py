"""LangChain and LangGraph integration of hippo-memory.

* :class:`HippoStore`: a LangGraph ``BaseStore`` (get/put/search/list, TTL) whose
  semantic search is Hopfield recall; works with langmem's memory tools.
* :class:`HippoRetriever`: recall as a LangChain retriever, scores in metadata.
* :class:`HippoVectorStore`: a LangChain ``VectorStore`` over one namespace (ids,
  metadata filters, search by vector, MMR); :func:`to_hippo_filter` translates
  LangChain filters into the engine's dialect.
* :func:`create_recall_tool`, :func:`create_chain_tool`, :func:`create_remember_tool`,
  :func:`create_forget_tool`: ``recall_memory``, ``recall_chain`` (multi-hop),
  ``remember`` and ``forget`` tools for any tool-calling model, named and described
  as in the LlamaIndex adapter.
* :class:`HippoMemoryMiddleware`: recall into and store from
  ``langchain.agents.create_agent`` (extra ``agents``).
* :class:`HippoConversationMemory`: a classic ``BaseMemory`` (extra ``classic``).
* :class:`ChatModelCueAugmenter`: paraphrase cues from any chat model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hippo_memory.integration import parse_paraphrases

from ._augmenter import DEFAULT_AUGMENT_PROMPT, ChatModelCueAugmenter
from ._encoder import EmbeddingsEncoder
from ._errors import InvalidValueError
from ._filters import to_hippo_filter
from ._retriever import HippoRetriever
from ._store import AUTO_TEXT_FIELDS, HippoIndexConfig, HippoStore, item_id
from ._tools import (
    ForgetInput,
    RecallAssociationsInput,
    RecallChainInput,
    RecallMemoryInput,
    RememberInput,
    create_chain_tool,
    create_forget_tool,
    create_memory_tools,
    create_recall_tool,
    create_remember_tool,
)
from ._vectorstore import DEFAULT_VECTORSTORE_NAMESPACE, HippoVectorStore

if TYPE_CHECKING:
    from ._classic import HippoConversationMemory
    from ._middleware import DEFAULT_MEMORY_PROMPT, HippoMemoryMiddleware

__version__ = "0.1.0"

__all__ = [
    "AUTO_TEXT_FIELDS",
    "DEFAULT_AUGMENT_PROMPT",
    "DEFAULT_MEMORY_PROMPT",
    "DEFAULT_VECTORSTORE_NAMESPACE",
    "ChatModelCueAugmenter",
    "EmbeddingsEncoder",
    "ForgetInput",
    "HippoConversationMemory",
    "HippoIndexConfig",
    "HippoMemoryMiddleware",
    "HippoRetriever",
    "HippoStore",
    "HippoVectorStore",
    "InvalidValueError",
    "RecallAssociationsInput",
    "RecallChainInput",
    "RecallMemoryInput",
    "RememberInput",
    "__version__",
    "create_chain_tool",
    "create_forget_tool",
    "create_memory_tools",
    "create_recall_tool",
    "create_remember_tool",
    "item_id",
    "parse_paraphrases",
    "to_hippo_filter",
]

_LAZY = {
    "HippoMemoryMiddleware": "._middleware",
    "DEFAULT_MEMORY_PROMPT": "._middleware",
    "HippoConversationMemory": "._classic",
}


def __getattr__(name: str) -> Any:
    # The middleware needs `langchain` and the classic memory `langchain-classic`;
    # import them on first use so the package works without either extra.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
