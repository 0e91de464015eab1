"""The public surface changes only on purpose."""

from __future__ import annotations

import langchain_hippo_memory

EXPECTED = {
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
}


def test_all_is_pinned() -> None:
    assert set(langchain_hippo_memory.__all__) == EXPECTED
    assert len(langchain_hippo_memory.__all__) == len(EXPECTED)


def test_every_export_resolves() -> None:
    for name in langchain_hippo_memory.__all__:
        assert getattr(langchain_hippo_memory, name) is not None
