"""The mathematics of hippo-memory as pure functions.

Nothing here holds state: arrays in, arrays out. The stateful classes in the other
modules wrap these. Vocabulary follows the modern-Hopfield literature (stored
patterns, state pattern, ``beta``, update steps).

Dense maths (projection, settle) uses torch so it runs on CUDA when present. The
sparse Hebbian hop uses numpy index arithmetic: with ``k`` active units out of
``code_dim`` it touches ``O(k * n * k / code_dim)`` entries instead of a dense
``code_dim x code_dim`` matrix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

__all__ = [
    "cleanup",
    "code_overlaps",
    "hebbian_field",
    "hebbian_winners",
    "pool_by_owner",
    "pooled_attention",
    "random_projection",
    "reciprocal_rank_fusion",
    "settle",
    "softmax_attention",
    "spread_activation",
    "wta_code",
    "wta_from_field",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def random_projection(dim: int, code_dim: int, seed: int) -> torch.Tensor:
    """Seeded Gaussian projection used for pattern separation.

    Args:
        dim: Input (embedding) dimension ``d``.
        code_dim: Number of code units ``c``.
        seed: Generator seed; the same seed always gives the same matrix.

    Returns:
        float32 tensor of shape ``(d, c)`` on the CPU.
    """
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(dim, code_dim, generator=generator, dtype=torch.float32)


def wta_code(x: torch.Tensor, projection: torch.Tensor, k: int) -> torch.Tensor:
    """Pattern-separate vectors into sparse winner-take-all codes.

    Args:
        x: float32 tensor of shape ``(n, d)``.
        projection: float32 tensor of shape ``(d, c)``.
        k: Active units per code.

    Returns:
        int64 tensor of shape ``(n, k)``: the indices of the ``k`` most driven units
        of each row, sorted ascending.
    """
    field = x @ projection
    winners = torch.topk(field, k, dim=1, sorted=False).indices
    return torch.sort(winners, dim=1).values


def settle(query: torch.Tensor, patterns: torch.Tensor, beta: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Modern Hopfield retrieval: update the state pattern, then attend.

    Each update is ``state <- patterns.T @ softmax(beta * patterns @ state)``
    (Ramsauer et al., 2020). With ``steps == 0`` the query itself attends.

    Args:
        query: float32 tensor of shape ``(d,)``, the initial state pattern.
        patterns: float32 tensor of shape ``(m, d)``, the stored patterns (candidates).
        beta: Inverse temperature.
        steps: Number of state updates before the final attention.

    Returns:
        ``(state, attention)``: the final state, float32 ``(d,)``, and the attention
        over the patterns, float32 ``(m,)`` summing to 1. With ``m == 0`` the
        attention is empty and the state is the query.
    """
    if patterns.shape[0] == 0:
        return query, patterns.new_zeros((0,))
    state = query
    for _ in range(steps):
        state = patterns.T @ softmax_attention(patterns @ state, beta)
    return state, softmax_attention(patterns @ state, beta)


def softmax_attention(similarities: torch.Tensor, beta: float) -> torch.Tensor:
    """The Hopfield attention of a state over stored patterns, from their similarities.

    ``settle`` with ``steps == 0`` is this applied to ``patterns @ query``; recall
    calls it directly on the similarities its candidate stage already computed.

    Args:
        similarities: float32 tensor of shape ``(m,)``, inner products of the state
            with each pattern.
        beta: Inverse temperature.

    Returns:
        float32 tensor of shape ``(m,)``: ``softmax(beta * similarities)``, summing to 1.
    """
    return torch.softmax(beta * similarities, dim=0)


def pool_by_owner(values: torch.Tensor, owners: torch.Tensor, n_owners: int) -> torch.Tensor:
    """Sum per-cue values into per-memory values.

    Args:
        values: float32 tensor of shape ``(m,)``, e.g. attention per candidate cue.
        owners: int64 tensor of shape ``(m,)``, the owner (0..n_owners-1) of each cue.
        n_owners: Number of distinct owners.

    Returns:
        float32 tensor of shape ``(n_owners,)``.
    """
    pooled = values.new_zeros((n_owners,))
    return pooled.index_add_(0, owners, values)


def pooled_attention(
    similarities: FloatArray, owners: IntArray, n_owners: int, beta: float
) -> tuple[FloatArray, FloatArray]:
    """The one-shot settle (``steps == 0``) pooled per memory, in numpy.

    Equal to ``softmax_attention(similarities, beta)`` followed by ``pool_by_owner``;
    recall uses it on the CPU, where for a few hundred candidates numpy's per-call
    cost is a fraction of torch's.

    Args:
        similarities: float32 array ``(m,)``: the query's inner product with each
            candidate cue vector.
        owners: int64 array ``(m,)``: each candidate's memory, ``0..n_owners-1``.
        n_owners: Number of memories.
        beta: Inverse temperature.

    Returns:
        ``(attention, pooled)``: float32 ``(m,)`` summing to 1 (empty for ``m == 0``)
        and float32 ``(n_owners,)``, the attention summed per memory.
    """
    similarities = np.asarray(similarities, dtype=np.float64)
    if similarities.size == 0:
        return np.zeros(0, dtype=np.float32), np.zeros(n_owners, dtype=np.float32)
    logits = beta * similarities
    weights = np.exp(logits - logits.max())
    attention = weights / weights.sum()
    pooled = np.bincount(owners, weights=attention, minlength=n_owners)
    return attention.astype(np.float32), pooled.astype(np.float32)


def reciprocal_rank_fusion(ranks: IntArray, weights: npt.NDArray[np.float64], k: float) -> FloatArray:
    """Fuse several rankings of the same items by weighted reciprocal rank (Cormack et al., 2009).

    Args:
        ranks: int64 array ``(n_rankings, n_items)``: each item's 0-based rank in each
            ranking, ``-1`` where a ranking does not contain it.
        weights: float64 array ``(n_rankings,)``, non-negative.
        k: Rank offset (60 in the original paper); larger flattens the head.

    Returns:
        float32 array ``(n_items,)``: ``sum_r weights[r] / (k + 1 + ranks[r])`` over the
        rankings holding the item, divided by its maximum ``sum(weights) / (k + 1)``, so
        an item first in every ranking scores 1 and one in none scores 0.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    present = ranks >= 0
    contributions = np.where(present, weights[:, None] / (k + 1.0 + np.maximum(ranks, 0)), 0.0)
    total = float(weights.sum())
    if total <= 0:
        return np.zeros(ranks.shape[1], dtype=np.float32)
    fused: FloatArray = (contributions.sum(axis=0) * (k + 1.0) / total).astype(np.float32)
    return fused


def spread_activation(
    scores: FloatArray, sources: IntArray, targets: IntArray, strengths: FloatArray, rate: float
) -> FloatArray:
    """One step of spreading activation along associations (pattern completion).

    Each item passes ``rate * strength * score`` of its own score to every item it is
    linked to, so a memory whose predecessor matched the query (the answer after a
    question, the next step of a procedure) rises with it. A lifted item stays just
    below the best item that lifted it: association brings a memory up beside its
    cue, never above it, so an exact match keeps its place.

    Args:
        scores: float32 array ``(n,)``: the items' scores before spreading, >= 0.
        sources: int64 array ``(e,)``: position of each link's source item.
        targets: int64 array ``(e,)``: position of each link's target item.
        strengths: float32 array ``(e,)``: link strengths, >= 0.
        rate: Fraction of activation passed along a link of strength 1.

    Returns:
        float32 array ``(n,)``: ``max(scores, min(scores + rate * inflow, cap))`` where
        ``inflow`` sums ``strength * scores[source]`` over the links into an item and
        ``cap`` is just below the highest score among those sources.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if sources.size == 0 or rate == 0:
        return scores.copy()
    inflow = np.bincount(targets, weights=strengths * scores[sources], minlength=scores.shape[0])
    cap = np.zeros(scores.shape[0], dtype=np.float64)
    np.maximum.at(cap, targets, scores[sources].astype(np.float64))
    cap = np.nextafter(cap.astype(np.float32), np.float32(-np.inf))
    lifted = np.minimum(scores + rate * inflow, cap)
    spread: FloatArray = np.maximum(scores, lifted).astype(np.float32)
    return spread


def code_overlaps(code: IntArray, unit_ptr: IntArray, unit_members: IntArray, n: int) -> IntArray:
    """Overlap of one code with every stored code, through an inverted index.

    Args:
        code: int64 array of shape ``(k,)``, active units of the state code.
        unit_ptr: int64 array of shape ``(c + 1,)``; members of unit ``u`` are
            ``unit_members[unit_ptr[u]:unit_ptr[u + 1]]`` (CSR of the transposed code
            matrix).
        unit_members: int64 array, stored-pattern indices per unit.
        n: Number of stored patterns.

    Returns:
        int64 array of shape ``(n,)``: shared active units with each stored code.
    """
    if code.size == 0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    starts = unit_ptr[code]
    ends = unit_ptr[code + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    counts: IntArray = np.bincount(unit_members[offsets], minlength=n).astype(np.int64, copy=False)
    return counts


def hebbian_field(target_weights: FloatArray, codes: npt.NDArray[np.integer], code_dim: int) -> FloatArray:
    """Post-synaptic field of the Hebbian matrix, in factored form.

    With ``W = sum_links s * outer(code_target, code_source)``, the field of a state
    is ``W @ state = sum_t y_t * code_t`` where ``y_t`` is the drive reaching target
    ``t`` (source overlap times link strength). This computes that sum without
    building ``W``.

    Args:
        target_weights: float32 array of shape ``(n,)``, drive ``y_t`` per stored
            pattern (zero for non-targets).
        codes: integer array of shape ``(n, k)``, the stored codes.
        code_dim: Number of code units ``c``.

    Returns:
        float32 array of shape ``(c,)``.
    """
    targets = np.flatnonzero(target_weights)
    if targets.size == 0:
        return np.zeros(code_dim, dtype=np.float32)
    units = codes[targets].ravel()
    weights = np.repeat(target_weights[targets], codes.shape[1])
    return np.bincount(units, weights=weights, minlength=code_dim).astype(np.float32)


def hebbian_winners(targets: IntArray, drive: FloatArray, codes: npt.NDArray[np.integer], k: int) -> IntArray:
    """Winner-take-all on the Hebbian field, computed on its non-zero units only.

    Equal to ``wta_from_field(hebbian_field(w, codes, c), k)`` where ``w`` is zero
    except ``w[targets] = drive``, but it never touches the ``c`` units outside the
    targets' codes, which a hop at 16384 units would otherwise pay for.

    Args:
        targets: int64 array of shape ``(t,)``, distinct stored patterns reached.
        drive: float32 array of shape ``(t,)``, drive per target (non-zero).
        codes: integer array of shape ``(n, k)``, the stored codes.
        k: Active units.

    Returns:
        int64 array of at most ``k`` unit indices, sorted ascending.
    """
    if targets.size == 0:
        return np.zeros(0, dtype=np.int64)
    units = codes[targets].astype(np.int64).ravel()
    weights = np.repeat(np.asarray(drive, dtype=np.float64), codes.shape[1])
    active, inverse = np.unique(units, return_inverse=True)
    field = np.bincount(inverse.ravel(), weights=weights, minlength=active.size).astype(np.float32)
    positive = field > 0
    return _strongest_units(active[positive], field[positive], k)


def _strongest_units(units: IntArray, values: FloatArray, k: int) -> IntArray:
    """The ``k`` units with the largest values (ties to the lowest units), sorted ascending."""
    if units.size <= k:
        return units.astype(np.int64)
    order = np.lexsort((units, -values))[:k]
    winners: IntArray = np.sort(units[order]).astype(np.int64)
    return winners


def wta_from_field(field: FloatArray, k: int) -> IntArray:
    """Winner-take-all on a field: the ``k`` most driven units (only positive ones).

    A Hebbian field is sparse (the units of a few target codes), so the winners
    are chosen among its positive entries only; ties at the cut go to the lowest
    units, so the result is deterministic.

    Args:
        field: float32 array of shape ``(c,)``.
        k: Active units.

    Returns:
        int64 array of at most ``k`` unit indices, sorted ascending; empty when the
        field is zero everywhere.
    """
    active = np.flatnonzero(field > 0)
    return _strongest_units(active, field[active], k)


def cleanup(code: IntArray, unit_ptr: IntArray, unit_members: IntArray, n: int, k: int) -> FloatArray:
    """Clean a noisy code up onto the stored patterns.

    Args:
        code: int64 array of active units.
        unit_ptr: See :func:`code_overlaps`.
        unit_members: See :func:`code_overlaps`.
        n: Number of stored patterns.
        k: Active units per stored code.

    Returns:
        float32 array of shape ``(n,)``: overlap of ``code`` with each stored
        pattern as a fraction of ``k``; the nearest stored pattern is its argmax.
    """
    return (code_overlaps(code, unit_ptr, unit_members, n) / float(k)).astype(np.float32)
