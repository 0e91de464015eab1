"""Recall within one partition: candidates, the ranker's steps, hits; and Hebbian chains.

Read path: the candidate stage (nearest cue vectors, widened until ``k`` distinct
memories are found) joined by the lexical channel's memories and the memories
associated with any candidate; then settle -> fuse -> priors -> order (see
:mod:`hippo_memory._ranker`); then the records of the top ``k``. Call every
function here under the partition's lock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._partition import Partition
from ._ranker import (
    apply_priors,
    features,
    fuse,
    learned_scores,
    model_features,
    order,
    settle_candidates,
    similarity_floor,
)
from ._types import ChainHop, Cue, HitDiagnostics, Namespace, RecallHit

__all__ = ["CandidateTable", "PartitionRecall", "candidate_table", "follow_chain", "recall_partition"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class PartitionRecall(NamedTuple):
    """One partition's share of a recall: hits best first, candidates searched, timings in ms."""

    hits: list[RecallHit]
    n_candidates: int
    timings: dict[str, float]


def _lexical_slots(part: Partition, query: str, allowed: IntArray | None) -> tuple[IntArray, FloatArray]:
    """Visible slots of the lexical channel for ``query``, best BM25 first (at most ``lexical_candidates``).

    Only the query's ``lexical_terms`` rarest words are searched: BM25's ranking
    rests on rare words, while a common word's postings cost time and rank little.

    Returns:
        int64 ``(h,)`` slots and float32 ``(h,)`` scores over the best score the query's
        words could reach (:meth:`LexicalIndex.max_score`), in [0, 1).
    """
    config = part.config
    lexical = part.lexical
    words = lexical.terms(query)[0]
    found, scores = lexical.search_scored(
        lexical.rarest(words, config.lexical_terms), config.lexical_candidates, allowed
    )
    if found.size:
        ceiling = lexical.max_score(words)
        scores = scores / np.float32(max(ceiling, 1e-9))
    return found, scores


def _linked_slots(part: Partition, sources: set[int], allowed: IntArray | None) -> set[int]:
    """Memories that ``sources`` are associated with, restricted to ``allowed`` (``None``: all)."""
    links = part.assoc.links
    targets: set[int] = set()
    for source in sources:
        out = links.get(source)
        if out:
            targets.update(out)
    if allowed is not None and targets:
        found = np.fromiter(targets, dtype=np.int64, count=len(targets))
        positions = np.minimum(np.searchsorted(allowed, found), max(allowed.size - 1, 0))
        keep = allowed[positions] == found if allowed.size else np.zeros(found.size, dtype=bool)
        targets = set(found[keep].tolist())
    return targets


def _candidates(part: Partition, q: FloatArray, k: int, rows: IntArray | None) -> tuple[IntArray, FloatArray, IntArray]:
    """Nearest cue rows, widened until they hold ``k`` distinct memories (or everything allowed)."""
    config = part.config
    want = max(config.candidates, k)
    available = part.index.n_alive if rows is None else int(rows.size)
    while True:
        cand_rows, sims = part.index.search(q, min(want, max(available, 1)), rows)
        owners = part.index.owners(cand_rows)
        distinct = len(set(owners.tolist()))
        if distinct >= k or cand_rows.size >= available or want >= 8 * max(config.candidates, k):
            return cand_rows, sims, owners
        want *= 2


def _join(part: Partition, cand: tuple[IntArray, FloatArray, IntArray], slots: list[int], q: FloatArray) -> Any:
    """Add every live cue row of memories ``slots`` (not candidates yet) with its similarity to ``q``."""
    cand_rows, sims, _ = cand
    extra_rows = part.rows_of(np.asarray(slots, dtype=np.int64))
    extra_rows = extra_rows[part.index.alive(extra_rows)]
    extra_sims = (part.index.vectors(extra_rows) @ q).astype(np.float32, copy=False)  # tens of rows: numpy, no pool
    cand_rows = np.concatenate([cand_rows, extra_rows])
    return cand_rows, np.concatenate([sims, extra_sims]), part.index.owners(cand_rows)


class CandidateTable(NamedTuple):
    """Every candidate of one single-hop recall, ranked, with what each stage said of it.

    Attributes:
        uniq: int64 ``(u,)``: candidate slots, ascending.
        ranked: int64 ``(r,)``: positions into ``uniq``, best first (after the similarity floor).
        scores: float32 ``(u,)``: the ranking scores (probabilities with the learned ranker).
        fused: float32 ``(u,)``: the hand-set fusion-and-priors scores.
        features: float32 ``(u, len(FEATURES))`` (learned ranker) or ``None`` (fusion ranker).
        cand_rows: int64 ``(m,)``: candidate cue rows.
        sims: float32 ``(m,)``: their cosine with the query.
        inverse: int64 ``(m,)``: each row's position in ``uniq``.
        pooled: float32 ``(u,)``: attention per memory.
        attention: float32 ``(m,)``: attention per row.
        lexical_rank: int64 ``(u,)``: BM25 rank, -1 when not ranked.
    """

    uniq: IntArray
    ranked: IntArray
    scores: FloatArray
    fused: FloatArray
    features: FloatArray | None
    cand_rows: IntArray
    sims: FloatArray
    inverse: IntArray
    pooled: FloatArray
    attention: FloatArray
    lexical_rank: IntArray


def candidate_table(
    part: Partition,
    q: FloatArray,
    *,
    query: str,
    k: int,
    slots: IntArray | None,
    include_superseded: bool,
    min_similarity: float | None,
    want_features: bool = False,
    reference: float | None = None,
) -> CandidateTable:
    """Gather the candidates of a recall and rank them (the ranker's whole pipeline).

    Args:
        part: The partition (call under its lock).
        q: float32 ``(d,)``: the query vector.
        query: The query text ("" for vectors only).
        k: Memories wanted (the candidate stage widens until it holds ``k``).
        slots: int64 visible slots, ascending (``None``: all).
        include_superseded: Rank replaced memories after current ones.
        min_similarity: Cosine floor (``None``: none).
        want_features: Compute the feature matrix even under the fusion ranker (training).
        reference: Epoch seconds the query's relative dates count from (``None``: now).
    """
    config = part.config
    rows = None if slots is None else part.rows_of(slots)
    cand = _candidates(part, q, k, rows)
    use_lexical = config.lexical_weight > 0 and bool(query)
    if use_lexical:
        lexical, lexical_scores = _lexical_slots(part, query, slots)
    else:
        lexical, lexical_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    # The lexical channel's memories join the candidates with all their cue variants, so
    # they are settled, pooled and diagnosed like the nearest-neighbour ones; so do the
    # memories associated with any of them, for spreading activation to lift.
    already = set(cand[2].tolist())
    joining = set(lexical.tolist())
    if config.spread > 0:
        joining |= _linked_slots(part, already | joining, slots)
    joining -= already
    if joining:
        cand = _join(part, cand, sorted(joining), q)
    cand_rows, sims, owners = cand
    settled = settle_candidates(part, q, cand_rows, sims, owners)
    fusion = fuse(part, settled, lexical, lexical_scores, use_lexical)
    learned = config.ranker == "learned"
    priors = apply_priors(
        part, query, settled.uniq, fusion.scores, always=learned or want_features, reference=reference
    )
    needed = model_features(part) if learned and not want_features else None
    x = features(part, q, settled, sims, fusion, priors, needed) if learned or want_features else None
    scores = learned_scores(part, x) if learned and x is not None else priors.scores
    ranked = order(part, settled.uniq, scores, include_superseded)
    ranked = similarity_floor(ranked, sims, settled.inverse, settled.uniq.size, min_similarity)
    return CandidateTable(
        settled.uniq,
        ranked,
        scores,
        priors.scores,
        x,
        cand_rows,
        sims,
        settled.inverse,
        settled.pooled,
        settled.attention,
        fusion.lexical_rank,
    )


def _rows_of_memories(inverse: IntArray, memories: IntArray) -> list[IntArray]:
    """The candidate rows of each of ``memories`` (positions into ``uniq``): int64 arrays, ascending.

    A scan of the rows per memory for a few memories (a recall's top ``k`` among
    thousands of rows), else one stable sort of ``inverse``: the same arrays either way.
    """
    if memories.size <= 3 or memories.size * 64 <= inverse.size:
        return [np.flatnonzero(inverse == memory) for memory in memories.tolist()]
    order = np.argsort(inverse, kind="stable")
    grouped = inverse[order]
    starts = np.searchsorted(grouped, memories, side="left").tolist()
    ends = np.searchsorted(grouped, memories, side="right").tolist()
    return [order[start:end] for start, end in zip(starts, ends, strict=True)]


def recall_partition(
    part: Partition,
    q: FloatArray,
    *,
    query: str,
    namespace: Namespace | None,
    k: int,
    filter: Mapping[str, Any] | None,
    since: float | None,
    until: float | None,
    include_superseded: bool,
    min_similarity: float | None,
    touch: bool = True,
    reference: float | None = None,
) -> PartitionRecall:
    """Single-hop recall in one partition.

    Args:
        part: The partition (call under its lock).
        q: float32 ``(d,)``: the query vector.
        query: The query's text for the lexical channel and priors ("" for vectors only).
        namespace: Only memories under this prefix (``None``: the whole partition).
        k: Memories wanted.
        touch: Count the hits as accesses (``False`` when the caller merges partitions first).
        reference: Epoch seconds the query's relative dates ("last Saturday") count
            from (``None``: now).

    Raises:
        NamespaceNotFoundError: nothing of the partition is under ``namespace``.
    """
    t0 = time.perf_counter()
    config = part.config
    if not part.id_slot:
        return PartitionRecall([], 0, {})
    slots = part.allowed_slots(namespace, filter, since, until)
    clock = part.clock()
    slots = part.life.visible(slots, part.slot_ns[: len(part.slot_id)], clock, include_superseded)
    k = min(k, part.n_memories)  # a huge k costs no more than every memory
    t1 = time.perf_counter()
    table = candidate_table(
        part,
        q,
        query=query,
        k=k,
        slots=slots,
        include_superseded=include_superseded,
        min_similarity=min_similarity,
        reference=reference,
    )
    t2 = time.perf_counter()
    chosen = table.ranked[:k]
    chosen_slots: list[int] = table.uniq[chosen].tolist()
    if touch:
        part.life.touch(np.asarray(chosen_slots, dtype=np.int64), clock, config.stability_growth)
    records = part.store.memories_with_cues(chosen_slots)
    if len(records) < len(chosen_slots):  # forgotten by another process since this recall's freshness check
        kept = [i for i, slot in enumerate(chosen_slots) if slot in records]
        chosen, chosen_slots = chosen[kept], [chosen_slots[i] for i in kept]
    found = [records[slot] for slot in chosen_slots]
    memories = part.to_memories(found)
    scores = table.scores[chosen].tolist()
    pooled = table.pooled[chosen].tolist()
    fused = table.fused[chosen].tolist()
    lexical_ranks = table.lexical_rank[chosen].tolist()
    hits = []
    for rank, mine in enumerate(_rows_of_memories(table.inverse, chosen)):
        attention = table.attention[mine].tolist()
        best_row = int(table.cand_rows[mine[attention.index(max(attention))]])  # the first best, as argmax
        record, cues = found[rank]
        best = next((Cue(c.text, c.kind) for c in cues if c.row == best_row), None)  # type: ignore[arg-type]
        if best is None:
            best = Cue(record.text, "text")
        lexical_rank = lexical_ranks[rank]
        hits.append(
            RecallHit(
                memory=memories[rank],
                score=scores[rank],
                rank=rank,
                diagnostics=HitDiagnostics(
                    similarity=max(table.sims[mine].tolist()),
                    candidate_rank=int(mine[0]),
                    attention=pooled[rank],
                    cues_matched=int(mine.size),
                    best_cue=best,
                    lexical_rank=None if lexical_rank < 0 else lexical_rank,
                    fused=fused[rank],
                ),
            )
        )
    t3 = time.perf_counter()
    timings = {"candidates": (t1 - t0) * 1e3, "settle": (t2 - t1) * 1e3, "fetch": (t3 - t2) * 1e3}
    return PartitionRecall(hits, int(table.cand_rows.size), timings)


def follow_chain(
    part: Partition, start_id: str, namespace: Namespace | None, hops: int, threshold: float
) -> tuple[list[ChainHop], str]:
    """Follow Hebbian associations from memory ``start_id`` (hop 0 excluded from the result).

    Each hop projects the current memory's sparse code through the Hebbian matrix,
    sparsifies the field by winner-take-all and cleans it up onto the nearest stored
    memory not yet in the chain (so it never cycles).

    Returns:
        The hops reached (from 1) and why the chain stopped: ``"hops"``, ``"faded"`` or ``"no_link"``.
    """
    allowed = part.allowed_slots(namespace, None, None, None) if part.id_slot else None
    allowed = part.life.visible(allowed, part.slot_ns[: len(part.slot_id)], part.clock(), False)
    slot = part.id_slot.get(start_id)
    if slot is None:
        return [], "no_link"
    visited = [slot]
    excluded_outside: IntArray = np.zeros(0, dtype=np.int64)
    if allowed is not None:
        outside = np.ones(len(part.slot_id), dtype=bool)
        outside[allowed] = False
        excluded_outside = np.flatnonzero(outside)
    reason = "hops"
    reached: list[tuple[int, float, float]] = []
    for _ in range(hops):
        result = part.assoc.hop(part.assoc.code(slot), exclude=np.concatenate([np.asarray(visited), excluded_outside]))
        if result is None:
            reason = "no_link"
            break
        if result.score < threshold:
            reason = "faded"
            break
        slot = result.slot
        visited.append(slot)
        reached.append((slot, result.score, result.overlap))
    memories = part.memories([s for s, _, _ in reached])
    chain = [ChainHop(hop, memories[s], score, overlap) for hop, (s, score, overlap) in enumerate(reached, start=1)]
    return chain, reason
