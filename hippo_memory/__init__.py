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

from ._config import HippoConfig, IndexKind, WritePolicy
from ._cues import CueAugmenter, build_cues, key_phrases, split_sentences
from ._encoder import (
    DEFAULT_MODEL,
    Encoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    load_encoder,
)
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
from ._filters import matches_filter, validate_filter
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

__version__ = "0.1.0"

__all__ = [
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
    "HashingEncoder",
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
