"""The ranker: settle, fusion and priors, as composable steps over one partition's candidates.

Each step takes the candidate memories (``uniq``, slots ascending) and returns
scores or an order over them, so a recall is a pipeline::

    settle -> fuse (with the lexical ranking) -> priors (spreading, speaker, time)
    -> [learned: features -> calibrated probability] -> order -> demote superseded
    -> similarity floor

With ``HippoConfig.ranker == "fusion"`` the hand-set fusion and priors are the
score; with ``"learned"`` (the default) every stage's output becomes a feature
(:mod:`hippo_memory._features`) and a logistic model (:mod:`hippo_memory._learned`)
turns them into a probability of relevance. The maths lives in
:mod:`hippo_memory.functional`, :mod:`hippo_memory._features` and
:mod:`hippo_memory._learned`; these steps only gather the partition state each one needs.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from ._features import StageOutputs, candidate_features
from ._learned import load_model
from ._partition import Partition
from ._temporal import candidate_spans, query_time, temporal_match
from .functional import pool_by_owner, pooled_attention, settle, spread_activation

__all__ = [
    "Fusion",
    "Priors",
    "Settled",
    "apply_priors",
    "features",
    "fuse",
    "fuse_settle_lexical",
    "learned_scores",
    "model_features",
    "order",
    "settle_candidates",
    "similarity_floor",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class Settled(NamedTuple):
    """The settle step's result over ``m`` candidate rows of ``u`` memories.

    Attributes:
        order: int64 ``(u,)``: positions into ``uniq`` by pooled attention, best first.
        pooled: float32 ``(u,)``: attention summed per memory.
        attention: float32 ``(m,)``: attention per candidate row.
        uniq: int64 ``(u,)``: the candidate memories' slots, ascending.
        inverse: int64 ``(m,)``: each row's position in ``uniq``.
    """

    order: IntArray
    pooled: FloatArray
    attention: FloatArray
    uniq: IntArray
    inverse: IntArray


def settle_candidates(
    part: Partition, q: FloatArray, cand_rows: IntArray, sims: FloatArray, owners: IntArray
) -> Settled:
    """Hopfield settle over the candidate rows, pooled per memory.

    Args:
        part: The partition searched.
        q: float32 ``(d,)``: the query.
        cand_rows: int64 ``(m,)``: candidate cue rows.
        sims: float32 ``(m,)``: their cosine with ``q``.
        owners: int64 ``(m,)``: the memory of each row.
    """
    # np.unique(owners, return_inverse=True) without its per-call overhead (a few hundred rows)
    order = np.argsort(owners)
    grouped = owners[order]
    first = np.empty(grouped.size, dtype=bool)
    first[:1] = True
    np.not_equal(grouped[1:], grouped[:-1], out=first[1:])
    uniq = grouped[first].astype(np.int64, copy=False)
    inverse = np.empty(grouped.size, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    beta, steps = part.config.beta, part.config.steps
    if steps == 0:
        # No state update: the attention is a softmax over the similarities the
        # candidate stage already computed exactly, so skip re-multiplying.
        attention, pooled = pooled_attention(sims, inverse, uniq.size, beta)
    else:
        patterns = torch.from_numpy(part.index.vectors(cand_rows)).to(part.device)
        _, attention_t = settle(torch.from_numpy(q).to(part.device), patterns, beta, steps)
        inverse_t = torch.from_numpy(inverse).to(attention_t.device)
        pooled = pool_by_owner(attention_t, inverse_t, uniq.size).cpu().numpy()
        attention = attention_t.cpu().numpy()
    ranked = np.lexsort((uniq, -pooled)).astype(np.int64)
    return Settled(ranked, pooled, attention, uniq, inverse)


class Fusion(NamedTuple):
    """The fusion step's result over ``u`` candidates.

    Attributes:
        scores: float32 ``(u,)``: reciprocal-rank fusion of the settle and BM25 rankings
            (1: first in both); the pooled attention when the lexical channel is off.
        lexical_rank: int64 ``(u,)``: 0-based BM25 rank, -1 when not ranked lexically.
        bm25: float32 ``(u,)``: BM25 score over the query's maximum attainable score (0: none).
    """

    scores: FloatArray
    lexical_rank: IntArray
    bm25: FloatArray


def fuse(part: Partition, settled: Settled, lexical: IntArray, lexical_scores: FloatArray, use_lexical: bool) -> Fusion:
    """Reciprocal-rank fusion of the settle ranking with the BM25 ranking.

    Also fuses when no query word was searchable (``lexical`` empty), so scores keep
    one scale for the priors.

    Args:
        part: The partition searched.
        settled: The settle step's result.
        lexical: int64 ``(h,)``: the lexical channel's slots, best first.
        lexical_scores: float32 ``(h,)``: their BM25 scores on the query's absolute scale.
        use_lexical: Whether the lexical channel is on for this query.
    """
    uniq = settled.uniq
    lexical_rank = np.full(uniq.size, -1, dtype=np.int64)
    bm25 = np.zeros(uniq.size, dtype=np.float32)
    if not use_lexical:
        return Fusion(settled.pooled, lexical_rank, bm25)
    if lexical.size:
        positions = np.minimum(np.searchsorted(uniq, lexical), uniq.size - 1)
        present = uniq[positions] == lexical  # a memory without live cue rows is not
        kept = positions[present]
        lexical_rank[kept] = np.arange(kept.size)
        bm25[kept] = lexical_scores[present]
    settle_rank = np.empty(uniq.size, dtype=np.int64)
    settle_rank[settled.order] = np.arange(uniq.size)
    config = part.config
    scores = fuse_settle_lexical(settle_rank, lexical_rank, config.lexical_weight, config.fusion_k)
    return Fusion(scores, lexical_rank, bm25)


def fuse_settle_lexical(settle_rank: IntArray, lexical_rank: IntArray, lexical_weight: float, k: float) -> FloatArray:
    """:func:`~hippo_memory.functional.reciprocal_rank_fusion` of the settle and BM25 rankings, bit for bit.

    The general function stacks the rankings and masks every one; with two, of which
    the first ranks every candidate, a third of the array operations do (a recall
    runs it once per query).

    Args:
        settle_rank: int64 ``(u,)``: 0-based settle ranks (every candidate has one).
        lexical_rank: int64 ``(u,)``: 0-based BM25 ranks, -1 where not ranked.
        lexical_weight: The BM25 ranking's weight (the settle ranking's is 1), >= 0.
        k: Rank offset.

    Returns:
        float32 ``(u,)``, as ``reciprocal_rank_fusion(np.stack([settle_rank, lexical_rank]),
        np.asarray([1.0, lexical_weight]), k)``.
    """
    total = 1.0 + lexical_weight
    if total <= 0:
        return np.zeros(settle_rank.shape[0], dtype=np.float32)
    offset = k + 1.0
    fused = 1.0 / (offset + settle_rank)
    ranked = lexical_rank >= 0
    fused[ranked] += lexical_weight / (offset + lexical_rank[ranked])
    out: FloatArray = (fused * offset / total).astype(np.float32)
    return out


class Priors(NamedTuple):
    """The priors step's result over ``u`` candidates.

    Attributes:
        scores: float32 ``(u,)``: the hand-set ranking scores (fusion, spreading, priors).
        speaker: bool ``(u,)``: the query names the memory's speaker.
        temporal: float32 ``(u,)``: ``_temporal.temporal_match``: 1 when the memory's time or a
            date it states lies in a window the query names, 0.5 for a dated memory when
            the query asks *when*, else 0.
        lift: float32 ``(u,)``: what spreading activation added to the fusion scaled to a maximum of 1.
    """

    scores: FloatArray
    speaker: npt.NDArray[np.bool_]
    temporal: FloatArray
    lift: FloatArray


def apply_priors(
    part: Partition,
    query: str,
    uniq: IntArray,
    scores: FloatArray,
    *,
    always: bool = False,
    reference: float | None = None,
) -> Priors:
    """Spreading activation along associations, then the speaker and temporal priors.

    Args:
        part: The partition searched.
        query: The query text (priors need it; spreading does not).
        uniq: int64 ``(m,)``: candidate memory slots, ascending.
        scores: float32 ``(m,)``: their fused scores.
        always: Find speaker and time matches even where their weight is 0 (the
            learned ranker reads them as features).
        reference: Epoch seconds the query's relative dates ("last Saturday") count
            from; ``None``: now.

    Returns:
        The final hand-set scores (``scores`` unchanged when no association, speaker
        or date applies) and the matches behind them.
    """
    config = part.config
    bonus = np.zeros(uniq.size, dtype=np.float32)
    speaker = np.zeros(uniq.size, dtype=bool)
    temporal = np.zeros(uniq.size, dtype=np.float32)
    named = part.named_speakers(query) if (always or config.speaker_weight > 0) and config.speaker_key else None
    if named is not None and named.size:
        speaker = np.isin(part.slot_speaker[uniq], named)
        bonus += config.speaker_weight * speaker
    if (always or config.temporal_weight > 0) and query:
        asked = query_time(query, reference)
        if asked.windows.shape[0] or asked.asks_when:  # otherwise nothing can match
            spans, owners = candidate_spans(part.slot_spans, uniq)
            match = temporal_match(asked, part.slot_time[uniq], spans, owners)
            temporal = match.astype(np.float32)
            bonus += config.temporal_weight * match
    sources: list[int] = []
    targets: list[int] = []
    strengths: list[float] = []
    links = part.assoc.links
    if config.spread > 0 and links:
        slots = uniq.tolist()
        position = dict(zip(slots, range(len(slots)), strict=True))
        life = part.life
        replaced = None
        if life.n_superseded and uniq.size:
            life.grow(int(uniq.max()) + 1)
            replaced = life.superseded_by
        if len(links) < len(slots):  # few sources: visit the candidates among them, in the same order
            linked = sorted(position[source] for source in links if source in position)
        else:
            linked = list(range(len(slots)))
        for i in linked:
            slot = slots[i]
            out = links.get(slot)
            if not out or (replaced is not None and replaced[slot] >= 0):
                continue  # an outdated memory (include_superseded) must not lift its neighbours
            for target, strength in out.items():
                j = position.get(target)
                if j is not None:
                    sources.append(i)
                    targets.append(j)
                    strengths.append(strength)
    no_lift = np.zeros(uniq.size, dtype=np.float32)
    if not sources and not bonus.any():
        return Priors(scores, speaker, temporal, no_lift)
    top = float(scores.max()) if scores.size else 0.0
    normalised = (scores / top if top > 0 else scores).astype(np.float32)
    spread = spread_activation(
        normalised,
        np.asarray(sources, dtype=np.int64),
        np.asarray(targets, dtype=np.int64),
        np.asarray(strengths, dtype=np.float32),
        config.spread,
    )
    final: FloatArray = (spread + bonus).astype(np.float32)
    return Priors(final, speaker, temporal, (spread - normalised).astype(np.float32))


def _neighbour_pairs(part: Partition, uniq: IntArray) -> IntArray:
    """int64 ``(e, 2)``: candidate positions ``(i, j)`` where ``j`` is next to ``i`` in a session (both ways)."""
    if not part.slot_session:  # no sessions, no neighbours
        return np.zeros((0, 2), dtype=np.int64)
    position = {int(slot): i for i, slot in enumerate(uniq.tolist())}
    pairs: list[tuple[int, int]] = []
    sessions = part.session_slots
    for i, slot in enumerate(uniq.tolist()):
        key = part.slot_session.get(slot)
        if key is None:
            continue
        members = sessions[key]
        at = bisect.bisect_left(members, slot)
        for k in (at - 1, at + 1):
            if 0 <= k < len(members):
                j = position.get(members[k])
                if j is not None:
                    pairs.append((i, j))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    return np.asarray(pairs, dtype=np.int64)


def features(
    part: Partition,
    q: FloatArray,
    settled: Settled,
    sims: FloatArray,
    fusion: Fusion,
    priors: Priors,
    needed: tuple[str, ...] | None = None,
) -> FloatArray:
    """The candidates' feature matrix: float32 ``(u, len(FEATURES))`` (see :mod:`hippo_memory._features`).

    Args:
        needed: Features the model reads; the others are left at 0 and not computed.
            ``None``: all (training).
    """
    uniq = settled.uniq

    def wanted(name: str) -> bool:
        return needed is None or name in needed

    empty = np.zeros(uniq.size, dtype=np.float32)
    text_sims = (
        (part.index.vectors(part.slot_rows[uniq, 0]) @ q).astype(np.float32, copy=False)
        if wanted("sim_text")
        else empty
    )
    settle_rank = np.zeros(uniq.size, dtype=np.int64)
    if wanted("settle_rr"):
        settle_rank[settled.order] = np.arange(uniq.size)
    life = part.life
    superseded = np.zeros(uniq.size, dtype=bool)
    if life.n_superseded and uniq.size and wanted("superseded"):
        life.grow(int(uniq.max()) + 1)
        superseded = life.superseded_by[uniq] >= 0
    stages = StageOutputs(
        sims=sims,
        inverse=settled.inverse,
        text_sims=text_sims,
        pooled=settled.pooled,
        settle_rank=settle_rank,
        lexical_rank=fusion.lexical_rank,
        bm25=fusion.bm25,
        fusion=fusion.scores,
        speaker=priors.speaker,
        temporal=priors.temporal,
        spread_lift=priors.lift,
        neighbours=_neighbour_pairs(part, uniq) if wanted("neighbour_sim") else np.zeros((0, 2), dtype=np.int64),
        times=part.slot_time[uniq] if wanted("recency") else np.full(uniq.size, np.nan),
        lengths=part.lexical.lengths(uniq) if wanted("log_length") else empty,
        superseded=superseded,
        handset=priors.scores,
    )
    return candidate_features(stages, needed)


def model_features(part: Partition) -> tuple[str, ...]:
    """Names of the features the configured model reads.

    Raises:
        InvalidConfigError: ``ranker_weights`` names a file that is not valid weights.
    """
    return load_model(part.config.ranker_weights).features


def learned_scores(part: Partition, x: FloatArray) -> FloatArray:
    """The configured model's probability of relevance per candidate: float32 ``(u,)`` in [0, 1].

    Raises:
        InvalidConfigError: ``ranker_weights`` names a file that is not valid weights.
    """
    return load_model(part.config.ranker_weights).probability(x)


def order(part: Partition, uniq: IntArray, scores: FloatArray, include_superseded: bool) -> IntArray:
    """Positions into ``uniq`` best first (ties to the lower slot); superseded memories after current ones."""
    ranked = np.lexsort((uniq, -scores)).astype(np.int64)
    return part.life.demote(ranked, uniq) if include_superseded else ranked


def similarity_floor(
    ranked: IntArray, sims: FloatArray, inverse: IntArray, n_memories: int, min_similarity: float | None
) -> IntArray:
    """Drop memories none of whose candidate cues reaches ``min_similarity`` cosine with the query.

    Attention always sums to 1, so an unrelated query still gets a confident-looking
    top hit; a cosine floor is the relevance gate.
    """
    if min_similarity is None:
        return ranked
    best = np.full(n_memories, -np.inf, dtype=np.float32)
    np.maximum.at(best, inverse, sims)
    kept: IntArray = ranked[best[ranked] >= min_similarity]
    return kept
