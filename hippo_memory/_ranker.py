"""The ranker: settle, fusion and priors, as composable steps over one partition's candidates.

Each step takes the candidate memories (``uniq``, slots ascending) and returns
scores or an order over them, so a recall is a pipeline::

    settle -> fuse (with the lexical ranking) -> priors (spreading, speaker, time)
    -> order -> demote superseded -> similarity floor

The maths lives in :mod:`hippo_memory.functional`; these steps only gather the
partition state each one needs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import torch

from ._partition import Partition
from ._temporal import candidate_spans, query_time, temporal_match
from .functional import pool_by_owner, pooled_attention, reciprocal_rank_fusion, settle, spread_activation

__all__ = ["Settled", "apply_priors", "fuse", "order", "settle_candidates", "similarity_floor"]

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
    uniq, inverse = np.unique(owners, return_inverse=True)
    beta, steps = part.config.beta, part.config.steps
    inverse = inverse.astype(np.int64)
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
    return Settled(ranked, pooled, attention, uniq.astype(np.int64), inverse)


def fuse(part: Partition, settled: Settled, lexical: list[int], use_lexical: bool) -> tuple[FloatArray, IntArray]:
    """Reciprocal-rank fusion of the settle ranking with the BM25 ranking.

    Also fuses when no query word was searchable (``lexical`` empty), so scores keep
    one scale for the priors.

    Returns:
        ``(scores, lexical_rank)``: float32 ``(u,)`` and int64 ``(u,)`` (-1: not ranked lexically).
    """
    uniq = settled.uniq
    lexical_rank = np.full(uniq.size, -1, dtype=np.int64)
    if not use_lexical:
        return settled.pooled, lexical_rank
    lexical_arr = np.asarray(lexical, dtype=np.int64)
    if lexical_arr.size:
        positions = np.minimum(np.searchsorted(uniq, lexical_arr), uniq.size - 1)
        present = uniq[positions] == lexical_arr  # a memory without live cue rows is not
        lexical_rank[positions[present]] = np.arange(int(present.sum()))
    settle_rank = np.empty(uniq.size, dtype=np.int64)
    settle_rank[settled.order] = np.arange(uniq.size)
    config = part.config
    scores = reciprocal_rank_fusion(
        np.stack([settle_rank, lexical_rank]),
        np.asarray([1.0, config.lexical_weight]),
        config.fusion_k,
    )
    return scores.astype(np.float32), lexical_rank


def apply_priors(part: Partition, query: str, uniq: IntArray, scores: FloatArray) -> FloatArray:
    """Spreading activation along associations, then the speaker and temporal priors.

    Args:
        part: The partition searched.
        query: The query text (priors need it; spreading does not).
        uniq: int64 ``(m,)``: candidate memory slots, ascending.
        scores: float32 ``(m,)``: their fused scores.

    Returns:
        float32 ``(m,)``: the final ranking scores; ``scores`` unchanged when no
        association, speaker or date applies.
    """
    config = part.config
    bonus = np.zeros(uniq.size, dtype=np.float32)
    named = part.named_speakers(query) if config.speaker_weight > 0 and config.speaker_key else None
    if named is not None and named.size:
        bonus += config.speaker_weight * np.isin(part.slot_speaker[uniq], named)
    if config.temporal_weight > 0 and query:
        spans, owners = candidate_spans(part.slot_spans, uniq)
        bonus += config.temporal_weight * temporal_match(query_time(query), part.slot_time[uniq], spans, owners)
    sources: list[int] = []
    targets: list[int] = []
    strengths: list[float] = []
    if config.spread > 0:
        position = {int(slot): i for i, slot in enumerate(uniq.tolist())}
        links = part.assoc.links
        life = part.life
        if life.n_superseded and uniq.size:
            life.grow(int(uniq.max()) + 1)
        for i, slot in enumerate(uniq.tolist()):
            if life.n_superseded and life.superseded_by[slot] >= 0:
                continue  # an outdated memory (include_superseded) must not lift its neighbours
            for target, strength in links.get(slot, {}).items():
                j = position.get(target)
                if j is not None:
                    sources.append(i)
                    targets.append(j)
                    strengths.append(strength)
    if not sources and not bonus.any():
        return scores
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
    return final


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
