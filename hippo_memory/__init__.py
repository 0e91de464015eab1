"""hippo-memory: a hippocampus-inspired long-term memory for LLM agents.

Single-hop recall is two-stage Hopfield retrieval (nearest cue vectors, then a
softmax settle pooled per memory over its cue variants); multi-hop recall follows
Hebbian associations between sparse winner-take-all codes.

Example:
    >>> from hippo_memory import HippoMemory
    >>> mem = HippoMemory("./my-memory")            # doctest: +SKIP
    >>> mem.remember("Caroline adopted a dog named Biscuit", namespace=("caroline",))  # doctest: +SKIP
    >>> mem.recall("What is the name of Caroline's pet?", namespace=("caroline",))      # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from ._errors import (
    EmptyTextError,
    EncoderError,
    EncoderMismatchError,
    HippoMemoryError,
    InvalidConfigError,
    InvalidFilterError,
    InvalidInputError,
    InvalidNamespaceError,
    InvalidVectorError,
    MemoryNotFoundError,
    MissingDependencyError,
    NamespaceNotFoundError,
    NotFoundError,
    StoreClosedError,
    StoreCorruptedError,
    StoreError,
    StoreLockedError,
    StoreVersionError,
    TextTooLongError,
)

if TYPE_CHECKING:
    from ._config import HippoConfig, IndexKind, WritePolicy
    from ._cues import CueAugmenter, build_cues, key_phrases, split_sentences
    from ._encoder import (
        DEFAULT_MODEL,
        Encoder,
        HashingEncoder,
        SentenceTransformerEncoder,
        load_encoder,
    )
    from ._filters import matches_filter, validate_filter
    from ._grouping import GroupHit
    from ._memory import DEFAULT_NAMESPACE, HippoMemory, MemoryInput, validate_namespace
    from ._sqlite import FORMAT_VERSION
    from ._types import (
        Chain,
        ChainHop,
        ConsolidationReport,
        Cue,
        HitDiagnostics,
        Memory,
        Namespace,
        RecallHit,
        RecallResult,
    )


# The engine (torch, faiss, sentence-transformers) loads on first use of a name that
# needs it, so `hippo-memory --help` and `import hippo_memory` for the errors stay fast.
_LAZY: dict[str, str] = {
    "AsyncHippoClient": ".client",
    "Chain": "._types",
    "ChainHop": "._types",
    "ConsolidationReport": "._types",
    "Cue": "._types",
    "CueAugmenter": "._cues",
    "DEFAULT_MODEL": "._encoder",
    "DEFAULT_NAMESPACE": "._memory",
    "EmptyTextError": "._errors",
    "GroupHit": "._grouping",
    "Encoder": "._encoder",
    "EncoderError": "._errors",
    "EncoderMismatchError": "._errors",
    "FORMAT_VERSION": "._sqlite",
    "HashingEncoder": "._encoder",
    "HippoClient": ".client",
    "HippoConfig": "._config",
    "HippoMemory": "._memory",
    "HippoMemoryError": "._errors",
    "HitDiagnostics": "._types",
    "IndexKind": "._config",
    "InvalidConfigError": "._errors",
    "InvalidFilterError": "._errors",
    "InvalidInputError": "._errors",
    "InvalidNamespaceError": "._errors",
    "InvalidVectorError": "._errors",
    "Memory": "._types",
    "MemoryInput": "._memory",
    "MemoryNotFoundError": "._errors",
    "MissingDependencyError": "._errors",
    "Namespace": "._types",
    "NamespaceNotFoundError": "._errors",
    "NotFoundError": "._errors",
    "RecallHit": "._types",
    "RecallResult": "._types",
    "SentenceTransformerEncoder": "._encoder",
    "StoreClosedError": "._errors",
    "StoreCorruptedError": "._errors",
    "StoreError": "._errors",
    "StoreLockedError": "._errors",
    "StoreVersionError": "._errors",
    "TextTooLongError": "._errors",
    "WritePolicy": "._config",
    "build_cues": "._cues",
    "key_phrases": "._cues",
    "load_encoder": "._encoder",
    "matches_filter": "._filters",
    "split_sentences": "._cues",
    "validate_filter": "._filters",
    "validate_namespace": "._memory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hippo_memory' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__version__ = "0.2.0.dev0"

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_NAMESPACE",
    "FORMAT_VERSION",
    "AsyncHippoClient",
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
    "HippoClient",
    "HippoConfig",
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
