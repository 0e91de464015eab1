"""The public surface changes only on purpose."""

from __future__ import annotations

import hippo_memory
from hippo_memory import (
    HippoMemoryError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)

EXPECTED = sorted(
    [
        "DEFAULT_MODEL",
        "DEFAULT_NAMESPACE",
        "FORMAT_VERSION",
        "Chain",
        "ChainHop",
        "ConsolidationReport",
        "Cue",
        "CueAugmenter",
        "EmptyTextError",
        "Encoder",
        "EncoderError",
        "EncoderMismatchError",
        "GroupHit",
        "HashingEncoder",
        "HippoConfig",
        "AsyncHippoClient",
        "HippoClient",
        "HippoMemory",
        "HippoMemoryError",
        "HitDiagnostics",
        "IndexKind",
        "InvalidConfigError",
        "InvalidFilterError",
        "InvalidInputError",
        "InvalidNamespaceError",
        "InvalidVectorError",
        "Memory",
        "MemoryInput",
        "MemoryNotFoundError",
        "MissingDependencyError",
        "Namespace",
        "NamespaceNotFoundError",
        "NotFoundError",
        "RecallHit",
        "RecallResult",
        "SentenceTransformerEncoder",
        "StoreClosedError",
        "StoreCorruptedError",
        "StoreError",
        "StoreLockedError",
        "StoreVersionError",
        "TextTooLongError",
        "WritePolicy",
        "__version__",
        "build_cues",
        "key_phrases",
        "load_encoder",
        "matches_filter",
        "split_sentences",
        "validate_filter",
        "validate_namespace",
    ]
)


def test_exported_members() -> None:
    assert sorted(hippo_memory.__all__) == EXPECTED
    for name in hippo_memory.__all__:
        assert hasattr(hippo_memory, name), name


def test_exception_tree() -> None:
    errors = [getattr(hippo_memory, name) for name in hippo_memory.__all__ if name.endswith("Error")]
    for error in errors:
        assert issubclass(error, HippoMemoryError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(NotFoundError, KeyError)
    assert issubclass(StoreError, OSError)
    assert issubclass(hippo_memory.MissingDependencyError, ImportError)
    assert str(hippo_memory.MemoryNotFoundError("no memory with id 'x'")) == "no memory with id 'x'"
