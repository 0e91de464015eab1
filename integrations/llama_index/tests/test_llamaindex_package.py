"""The distribution: namespace-package layout and the pinned public surface."""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import requires, version
from pathlib import Path

import llama_index.memory.hippo as hippo
import pytest

from hippo_memory import MissingDependencyError

EXPORTED = [
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


def test_public_api_is_pinned() -> None:
    assert hippo.__all__ == EXPORTED
    for name in EXPORTED:
        assert getattr(hippo, name).__module__.startswith("llama_index.memory.hippo.")


def test_merges_with_llama_index_core_namespace() -> None:
    import llama_index

    core = importlib.import_module("llama_index.core")
    assert getattr(llama_index, "__file__", None) is None, "llama_index must stay a namespace package"
    package_root = Path(hippo.__file__).resolve().parents[3]
    assert not (package_root / "llama_index" / "__init__.py").exists()
    assert not (package_root / "llama_index" / "memory" / "__init__.py").exists()
    assert (package_root / "llama_index" / "memory" / "hippo" / "py.typed").exists()
    assert core.__version__.startswith("0.14")
    # Core's own memory package and this one coexist.
    assert importlib.import_module("llama_index.core.memory").Memory is not None


def test_distribution_metadata() -> None:
    assert version("llama-index-memory-hippo") == "0.1.0"
    deps = " ".join(requires("llama-index-memory-hippo") or [])
    assert "hippo-memory" in deps and "llama-index-core" in deps


def test_engine_class_is_not_shadowed() -> None:
    import hippo_memory

    assert hippo.HippoMemory is not hippo_memory.HippoMemory
    assert hippo.HippoMemory.class_name() == "HippoMemory"


def test_missing_llama_index_core_gives_a_friendly_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_index.core", None)  # makes `import llama_index.core` fail
    monkeypatch.delitem(sys.modules, "llama_index.memory.hippo")
    with pytest.raises(MissingDependencyError, match=r"pip install llama-index-memory-hippo") as caught:
        importlib.import_module("llama_index.memory.hippo")
    assert isinstance(caught.value, ImportError)
