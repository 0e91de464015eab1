"""Records returned by the public API: memories, recall hits, chains."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, overload

__all__ = [
    "Chain",
    "ChainHop",
    "Cue",
    "CueKind",
    "HitDiagnostics",
    "Memory",
    "Namespace",
    "RecallHit",
    "RecallResult",
]

Namespace = tuple[str, ...]
"""A hierarchical namespace such as ``("users", "alice", "memories")``, as LangGraph uses."""

CueKind = Literal["text", "sentence", "context", "keyphrase", "paraphrase", "explicit"]


@dataclass(frozen=True, slots=True)
class Cue:
    """One cue variant under which a memory is stored.

    Attributes:
        text: The cue's text; its embedding is a stored pattern of the Hopfield stage.
        kind: Where it came from: the memory's own ``text``, a ``sentence`` split, the
            text joined with its conversational neighbour (``context``), extracted
            ``keyphrase``s, an augmenter's ``paraphrase``, or an ``explicit`` cue.
    """

    text: str
    kind: CueKind


@dataclass(frozen=True, slots=True)
class Memory:
    """A stored memory.

    Attributes:
        id: Stable identifier (a UUID string unless the caller chose one).
        text: The content.
        namespace: Where it lives.
        metadata: JSON-compatible dictionary given by the caller.
        timestamp: When the remembered event happened (UTC), if known.
        created_at: When it was first stored (UTC).
        updated_at: When it was last changed (UTC).
        session: Conversation/session identifier; consecutive memories of one
            session are linked for multi-hop recall.
        cues: The cue variants it is stored under.
    """

    id: str
    text: str
    namespace: Namespace
    metadata: Mapping[str, Any]
    timestamp: datetime | None
    created_at: datetime
    updated_at: datetime
    session: str | None = None
    cues: tuple[Cue, ...] = ()


@dataclass(frozen=True, slots=True)
class HitDiagnostics:
    """How a hit was found, stage by stage.

    Attributes:
        similarity: Highest cosine similarity between the query and any of the
            memory's cues (candidate stage).
        candidate_rank: Rank (0-based) of that best cue among all candidates.
        attention: Attention mass the settle stage gave the memory, summed over its
            cue variants (0..1).
        cues_matched: How many of its cue variants were among the candidates.
        best_cue: The cue variant with the highest final attention.
    """

    similarity: float
    candidate_rank: int
    attention: float
    cues_matched: int
    best_cue: Cue


@dataclass(frozen=True, slots=True)
class RecallHit:
    """One recalled memory.

    Attributes:
        memory: The memory.
        score: Ranking score (the summed attention; higher is better).
        rank: 0-based position in the result.
        diagnostics: Per-stage figures.
    """

    memory: Memory
    score: float
    rank: int
    diagnostics: HitDiagnostics


@dataclass(frozen=True, slots=True)
class RecallResult(Sequence[RecallHit]):
    """Result of :meth:`HippoMemory.recall`: a sequence of hits plus diagnostics.

    Attributes:
        query: The query text.
        namespace: The namespace prefix searched, ``None`` for all.
        hits: Hits, best first.
        n_candidates: Cue vectors the candidate stage passed to the settle stage.
        backend: Which candidate index answered (``"exact"``, ``"ivf"``, ``"gpu"``).
        timings_ms: Milliseconds per stage: ``encode``, ``candidates``, ``settle``,
            ``fetch``, ``total``.
    """

    query: str
    namespace: Namespace | None
    hits: tuple[RecallHit, ...]
    n_candidates: int
    backend: str
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    @overload
    def __getitem__(self, i: int) -> RecallHit: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[RecallHit]: ...
    def __getitem__(self, i: int | slice) -> RecallHit | Sequence[RecallHit]:
        return self.hits[i]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[RecallHit]:
        return iter(self.hits)

    @property
    def memories(self) -> list[Memory]:
        """The recalled memories, best first."""
        return [hit.memory for hit in self.hits]


@dataclass(frozen=True, slots=True)
class ChainHop:
    """One step of a multi-hop chain.

    Attributes:
        hop: 0 for the memory recalled from the query, then 1, 2, ...
        memory: The memory reached.
        score: For hop 0 the recall score; after that the association strength
            reaching this memory, normalised to 0..1 (overlap of the projected code
            with the memory's code times the link strength).
        overlap: Fraction of the memory's active code units present in the
            projected code (1.0 for hop 0).
    """

    hop: int
    memory: Memory
    score: float
    overlap: float


@dataclass(frozen=True, slots=True)
class Chain(Sequence[ChainHop]):
    """Result of :meth:`HippoMemory.recall_chain`.

    Attributes:
        query: The query text.
        hops: Hop 0 (recalled from the query) followed by associated memories.
        stop_reason: ``"hops"`` (asked-for length reached), ``"faded"`` (the next
            association was below ``HippoConfig.chain_min_strength``), ``"no_link"``
            (the last memory has no outgoing association), ``"no_start"`` (nothing
            recalled from the query).
    """

    query: str
    hops: tuple[ChainHop, ...]
    stop_reason: Literal["hops", "faded", "no_link", "no_start"]

    @overload
    def __getitem__(self, i: int) -> ChainHop: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[ChainHop]: ...
    def __getitem__(self, i: int | slice) -> ChainHop | Sequence[ChainHop]:
        return self.hops[i]

    def __len__(self) -> int:
        return len(self.hops)

    def __iter__(self) -> Iterator[ChainHop]:
        return iter(self.hops)

    @property
    def memories(self) -> list[Memory]:
        """The memories along the chain, hop 0 first."""
        return [hop.memory for hop in self.hops]
