"""Records returned by the public API: memories, recall hits, chains."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, overload

__all__ = [
    "Chain",
    "ChainHop",
    "ConsolidationReport",
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

CueKind = Literal["text", "sentence", "context", "keyphrase", "paraphrase", "explicit", "merged"]


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
        salience: Importance given at write time (0 ordinary .. 1 most salient);
            salient memories are replayed first and decay more slowly.
        novelty: ``1 - max cosine`` to the nearest memory of its namespace when it
            was written (``None`` for memories written before this was recorded).
        strength: Memory strength ``2 ** (-age / half_life)`` when it was read, where
            the age counts from the last access or replay (see ``docs/consolidation.md``).
        access_count: How often it was recalled (hits returned by ``recall``).
        expires_at: When its ``ttl`` runs out (UTC); hidden from recall after that.
        superseded_by: Id of the newer memory that replaced it, if any.
        merged_from: Ids of near-duplicates merged into it (they resolve to it).
        time_cues: The dates its text states, resolved at write time against its
            timestamp, as ISO 8601 intervals (``"2023-05-07/2023-05-08"``); the
            temporal prior matches them with a query's dates. Kept apart from
            ``metadata``, which holds only what the caller gave.
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
    salience: float = 0.0
    novelty: float | None = None
    strength: float = 1.0
    access_count: int = 0
    expires_at: datetime | None = None
    superseded_by: str | None = None
    merged_from: tuple[str, ...] = ()
    time_cues: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The memory as a JSON-ready dict.

        Tuples become lists, datetimes ISO 8601 strings (``None`` stays ``None``),
        cues ``{"text", "kind"}`` dicts; ``metadata`` is a deep copy, so changing the
        dict never changes the memory.
        """
        return {
            "id": self.id,
            "text": self.text,
            "namespace": list(self.namespace),
            "metadata": json.loads(json.dumps(dict(self.metadata))),
            "timestamp": None if self.timestamp is None else self.timestamp.isoformat(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "session": self.session,
            "cues": [{"text": cue.text, "kind": cue.kind} for cue in self.cues],
            "salience": self.salience,
            "novelty": self.novelty,
            "strength": self.strength,
            "access_count": self.access_count,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "superseded_by": self.superseded_by,
            "merged_from": list(self.merged_from),
            "time_cues": list(self.time_cues),
        }


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
        lexical_rank: Rank (0-based) of the memory in the lexical (BM25) channel, or
            ``None`` when that channel did not return it (or is off).
        fused: The hand-set ranking score (reciprocal-rank fusion, spreading and
            priors; up to about 1.6), which is ``score`` under ``ranker="fusion"``;
            ``None`` where unknown (a hit decoded from an older server).
    """

    similarity: float
    candidate_rank: int
    attention: float
    cues_matched: int
    best_cue: Cue
    lexical_rank: int | None = None
    fused: float | None = None


@dataclass(frozen=True, slots=True)
class RecallHit:
    """One recalled memory.

    Attributes:
        memory: The memory.
        score: Ranking score, higher is better. Under the default
            ``HippoConfig.ranker="learned"`` it is the calibrated probability, in
            [0, 1], that the memory is relevant to the query, comparable across
            queries (a threshold such as 0.5 means the same for every query; an
            unrelated query scores low). Under ``ranker="fusion"`` it is the hand-set
            score (``diagnostics.fused``): the reciprocal-rank fusion of the settle
            ranking with the lexical (BM25) ranking, 1 for a memory first in both,
            plus spreading activation and priors.
        rank: 0-based position in the result.
        diagnostics: Per-stage figures.
    """

    memory: Memory
    score: float
    rank: int
    diagnostics: HitDiagnostics

    def to_dict(self) -> dict[str, Any]:
        """The hit as one flat JSON-ready dict.

        The keys of :meth:`Memory.to_dict` plus ``score``, ``rank`` and the
        diagnostics: ``similarity``, ``candidate_rank``, ``attention``,
        ``cues_matched``, ``best_cue`` (its text), ``best_cue_kind``,
        ``lexical_rank`` and ``fused``.
        """
        diagnostics = self.diagnostics
        return {
            **self.memory.to_dict(),
            "score": self.score,
            "rank": self.rank,
            "similarity": diagnostics.similarity,
            "candidate_rank": diagnostics.candidate_rank,
            "attention": diagnostics.attention,
            "cues_matched": diagnostics.cues_matched,
            "best_cue": diagnostics.best_cue.text,
            "best_cue_kind": diagnostics.best_cue.kind,
            "lexical_rank": diagnostics.lexical_rank,
            "fused": diagnostics.fused,
        }


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

    def to_dict(self) -> dict[str, Any]:
        """The hop as one flat JSON-ready dict.

        The keys of :meth:`Memory.to_dict` plus ``hop``, ``score`` and ``overlap``.
        """
        return {**self.memory.to_dict(), "hop": self.hop, "score": self.score, "overlap": self.overlap}


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

    def to_dict(self) -> dict[str, Any]:
        """The chain as a JSON-ready dict.

        ``query``, ``stop_reason`` and ``hops`` (a list of :meth:`ChainHop.to_dict`).
        """
        return {
            "query": self.query,
            "stop_reason": self.stop_reason,
            "hops": [hop.to_dict() for hop in self.hops],
        }

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


@dataclass(frozen=True, slots=True)
class ConsolidationReport:
    """What one :meth:`HippoMemory.consolidate` pass did.

    Attributes:
        started_at: When it started (the consolidation clock, UTC).
        duration_s: Wall-clock seconds for the whole pass.
        lock_ms: Milliseconds the engine lock was held (recall waits only then).
        memories_before: Memories when the snapshot was taken.
        memories_after: Memories after the pass.
        replayed: Memories replayed (re-strengthened, their links re-learned).
        expired: Memories removed because their ``ttl`` ran out.
        decayed: Memories forgotten because their strength fell below
            ``HippoConfig.forget_below``.
        evicted: Memories removed to respect ``HippoConfig.max_memories``.
        merged: Near-duplicates merged into a survivor.
        links_before: Associations before the pass.
        links_after: Associations after it.
        links_pruned: Associations that decayed below ``HippoConfig.link_prune_below``.
        accesses_flushed: Memories whose in-RAM access counts were written to disk.
        compacted: Whether the vector file and index were rewritten without dead rows.
        rows_before: Cue-vector rows in the file before compaction.
        rows_after: Rows after it.
        conflicts: Planned changes dropped because the memory changed while the pass
            was computing (it was recalled, updated or deleted meanwhile).
        skipped_partitions: Partitions left alone because another process was consolidating them.
    """

    started_at: datetime
    duration_s: float
    lock_ms: float
    memories_before: int
    memories_after: int
    replayed: int
    expired: int
    decayed: int
    evicted: int
    merged: int
    links_before: int
    links_after: int
    links_pruned: int
    accesses_flushed: int
    compacted: bool
    rows_before: int
    rows_after: int
    conflicts: int
    skipped_partitions: int = 0
