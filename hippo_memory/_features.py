"""Per-candidate features for the learned ranker: what each recall stage says about a memory.

Pure numpy: the ranker gathers the stage outputs (:class:`StageOutputs`) and
:func:`candidate_features` turns them into a float32 matrix ``(u, F)`` whose columns
are named by :data:`FEATURES`. A weights file names the features it was trained on,
so a column is never silently reordered.

Most features are on a per-query *absolute* scale (raw cosine, BM25 divided by the
best score the query could reach), not only ranks, so that a query about nothing in
memory gets low features everywhere and a calibrated model can say so; a few are
relative to the query's best candidate, which is what ranking needs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["FEATURES", "StageOutputs", "candidate_features"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

FEATURES: tuple[str, ...] = (
    "sim_max",  # best cosine between the query and any candidate cue of the memory
    "sim_text",  # cosine with the memory's own text cue
    "sim_gap",  # sim_max minus the query's best sim_max (<= 0)
    "attention",  # Hopfield attention mass pooled over the memory's cues (sums to 1 over candidates)
    "log_cues",  # log(1 + candidate cue rows of the memory)
    "bm25",  # BM25 over the lexical document / the query's maximum attainable score, in [0, 1)
    "bm25_rel",  # BM25 / the best candidate's BM25 (0 when no lexical hit)
    "lexical_rr",  # 1 / (1 + BM25 rank), 0 when not ranked lexically
    "settle_rr",  # 1 / (1 + settle rank)
    "fusion",  # the hand-set reciprocal-rank fusion of settle and BM25 (1: first in both)
    "speaker",  # 1 when the query names the memory's speaker
    "temporal",  # 1: the memory's time or a date it states is in a window the query names; 0.5: dated, for a when-question
    "spread_lift",  # what spreading activation along associations added to the normalised fusion
    "neighbour_sim",  # best sim_max among the memory's session neighbours that are candidates (0: none)
    "recency",  # the memory's time as a rank among the candidates, 0 oldest .. 1 newest (0.5: no time)
    "log_length",  # log(1 + words of the memory's lexical document)
    "superseded",  # 1 when a newer memory replaced it
    "handset",  # the hand-set score: fusion, spreading and the speaker and temporal priors (ranker="fusion")
)
"""Feature names, in column order."""


class StageOutputs(NamedTuple):
    """What the recall stages computed over ``u`` candidate memories (positions into ``uniq``).

    Attributes:
        sims: float32 ``(m,)``: cosine of each candidate cue row with the query.
        inverse: int64 ``(m,)``: each row's memory position.
        text_sims: float32 ``(u,)``: cosine of each memory's own text cue.
        pooled: float32 ``(u,)``: attention pooled per memory.
        settle_rank: int64 ``(u,)``: 0-based rank by pooled attention.
        lexical_rank: int64 ``(u,)``: 0-based BM25 rank, -1 when not ranked.
        bm25: float32 ``(u,)``: BM25 score divided by the query's maximum attainable score (0: none).
        fusion: float32 ``(u,)``: the reciprocal-rank fusion score in [0, 1].
        speaker: bool ``(u,)``: the query names the memory's speaker.
        temporal: float32 ``(u,)``: temporal match in [0, 1] (``_temporal.temporal_match``).
        spread_lift: float32 ``(u,)``: spreading activation's lift over the normalised fusion.
        neighbours: int64 ``(e, 2)``: pairs ``(i, j)`` of candidate positions where ``j``
            is a session neighbour of ``i`` (both directions listed).
        times: float64 ``(u,)``: timestamps, NaN where unknown.
        lengths: float32 ``(u,)``: words of each lexical document.
        superseded: bool ``(u,)``: replaced by a newer memory.
        handset: float32 ``(u,)``: the hand-set ranking score (fusion, spreading, priors).
    """

    sims: FloatArray
    inverse: IntArray
    text_sims: FloatArray
    pooled: FloatArray
    settle_rank: IntArray
    lexical_rank: IntArray
    bm25: FloatArray
    fusion: FloatArray
    speaker: npt.NDArray[np.bool_]
    temporal: FloatArray
    spread_lift: FloatArray
    neighbours: IntArray
    times: npt.NDArray[np.float64]
    lengths: FloatArray
    superseded: npt.NDArray[np.bool_]
    handset: FloatArray


def candidate_features(stages: StageOutputs, needed: Collection[str] | None = None) -> FloatArray:
    """The feature matrix of the candidates.

    Args:
        stages: The stage outputs over ``u`` candidates.
        needed: Names of the columns to compute (a model's features); the others stay
            0, and the stage outputs only they read are not looked at. ``None``: all.

    Returns:
        float32 ``(u, len(FEATURES))``, finite, columns in :data:`FEATURES` order.
    """
    u = stages.pooled.shape[0]
    out = np.zeros((u, len(FEATURES)), dtype=np.float32)
    if u == 0:
        return out
    names = FEATURES if needed is None else [name for name in FEATURES if name in needed]
    shared: dict[str, Any] = {}

    def sim_max() -> FloatArray:
        if "sim_max" not in shared:
            best = np.full(u, -1.0, dtype=np.float32)
            np.maximum.at(best, stages.inverse, stages.sims)
            shared["sim_max"] = best
        value: FloatArray = shared["sim_max"]
        return value

    for name in names:
        out[:, FEATURES.index(name)] = _column(name, stages, u, sim_max)
    if not np.isfinite(out).all():
        np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _column(name: str, stages: StageOutputs, u: int, sim_max: Callable[[], FloatArray]) -> npt.NDArray[Any]:
    """The values of feature ``name`` over the ``u`` candidates (see :data:`FEATURES`)."""
    if name == "sim_max":
        return sim_max()
    if name == "sim_gap":
        best = sim_max()
        gap: FloatArray = best - best.max()
        return gap
    if name == "log_cues":
        return np.log1p(np.bincount(stages.inverse, minlength=u))
    if name in ("bm25", "bm25_rel"):
        bm25 = stages.bm25.astype(np.float32)
        if name == "bm25":
            return bm25
        top_bm25 = float(bm25.max())
        return bm25 / top_bm25 if top_bm25 > 0 else np.zeros(u)
    if name == "lexical_rr":
        lexical = stages.lexical_rank
        return np.where(lexical >= 0, 1.0 / (1.0 + np.maximum(lexical, 0)), 0.0)
    if name == "settle_rr":
        return 1.0 / (1.0 + stages.settle_rank)
    if name == "neighbour_sim":
        neighbour = np.zeros(u, dtype=np.float32)
        if stages.neighbours.size:
            best = sim_max()
            np.maximum.at(neighbour, stages.neighbours[:, 0], np.maximum(best[stages.neighbours[:, 1]], 0.0))
        return neighbour
    if name == "recency":
        times = stages.times
        known = ~np.isnan(times)
        recency = np.full(u, 0.5, dtype=np.float32)
        if known.sum() > 1:
            ranks = np.argsort(np.argsort(times[known], kind="stable"), kind="stable")
            recency[known] = ranks / max(int(known.sum()) - 1, 1)
        return recency
    if name == "log_length":
        return np.log1p(stages.lengths)
    if name == "attention":
        return stages.pooled
    value: npt.NDArray[Any] = getattr(stages, _STAGE_OF[name])
    return value


_STAGE_OF = {
    "sim_text": "text_sims",
    "fusion": "fusion",
    "speaker": "speaker",
    "temporal": "temporal",
    "spread_lift": "spread_lift",
    "superseded": "superseded",
    "handset": "handset",
}
"""Features that copy one stage output as it is."""
