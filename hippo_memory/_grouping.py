"""Ranking groups of memories: sessions, documents, any key of their metadata.

A conversation memory stores turns, but a caller often wants the *sessions* that
hold the answer (LongMemEval ranks sessions). Ranking a session where its best turn
ranks ("max") ignores that a session answering a question usually holds several
relevant turns. :func:`aggregate_groups` turns the recall scores of a ranked list
of memories into one score per group; :class:`GroupHit` is the public row
:meth:`HippoMemory.recall_groups` returns.

The aggregations (``scores`` are the recall scores of the memories, best first):

* ``"max"``: the best memory's score.
* ``"top_mean"``: the mean of the ``top_m`` best scores, missing ones counted as 0.
* ``"soft_or"``: ``1 - prod(1 - p_i)`` with ``p_i = c * score_i / max(score)``, the
  probability that at least one memory is relevant when each is with probability
  ``p_i`` (the scores normalised to the best one, ``c`` = ``calibration`` < 1 so
  the best memory alone does not decide).
* ``"rank_sum"``: ``sum 1 / (rrf_k + rank_i)`` over the group's memories, the
  reciprocal-rank sum of CombSUM-style fusion; scale-free.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt

from ._errors import InvalidInputError
from ._types import RecallHit

__all__ = ["GROUP_METHODS", "GroupHit", "GroupKey", "GroupMethod", "aggregate_groups", "group_depth", "group_hits"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
GroupMethod = Literal["max", "top_mean", "soft_or", "rank_sum"]
GROUP_METHODS: tuple[str, ...] = get_args(GroupMethod)
GroupKey = str | int | float | bool
"""A group's key: the JSON scalar a memory's metadata holds under ``group_by``."""


class GroupHit(NamedTuple):
    """One group of :meth:`HippoMemory.recall_groups`, best first.

    Attributes:
        key: The value of ``metadata[group_by]`` the group's memories share.
        score: The group's aggregated score (comparable within one result only).
        rank: 0-based position in the result.
        hits: The group's recalled memories that support it, best first.
    """

    key: GroupKey
    score: float
    rank: int
    hits: tuple[RecallHit, ...]


def aggregate_groups(
    groups: IntArray,
    scores: FloatArray,
    n_groups: int,
    *,
    method: GroupMethod = "max",
    top_m: int = 3,
    calibration: float = 0.5,
    rrf_k: float = 60.0,
) -> FloatArray:
    """Aggregate ranked memories' scores into group scores.

    Args:
        groups: int64 ``(n,)``: each memory's group, in ``[0, n_groups)``.
        scores: float32 ``(n,)``: the memories' recall scores, best first (the
            position is the rank ``"rank_sum"`` uses).
        n_groups: Number of groups ``g``.
        method: See the module docstring.
        top_m: Memories averaged by ``"top_mean"``.
        calibration: ``c`` of ``"soft_or"``, in ``(0, 1]``.
        rrf_k: Rank offset of ``"rank_sum"``.

    Returns:
        float32 ``(g,)``: a group without memories scores 0.

    Raises:
        InvalidInputError: an unknown method, mismatched shapes or a group out of range.
    """
    groups = np.asarray(groups, dtype=np.int64)
    values = np.asarray(scores, dtype=np.float64)
    if groups.shape != values.shape or groups.ndim != 1:
        raise InvalidInputError(f"groups {groups.shape} and scores {values.shape} must be two equal 1-d arrays")
    if groups.size and (int(groups.min()) < 0 or int(groups.max()) >= n_groups):
        raise InvalidInputError(f"group indices must lie in [0, {n_groups})")
    out = np.zeros(n_groups, dtype=np.float64)
    if not groups.size:
        return out.astype(np.float32)
    if method == "max":
        out[:] = -np.inf
        np.maximum.at(out, groups, values)
        out[~np.isfinite(out)] = 0.0
    elif method == "top_mean":
        order = np.lexsort((-values, groups))  # by group, best first within it
        sorted_groups = groups[order]
        first = np.searchsorted(sorted_groups, sorted_groups, side="left")
        keep = (np.arange(order.size) - first) < top_m
        np.add.at(out, sorted_groups[keep], values[order][keep])
        out /= float(top_m)
    elif method == "soft_or":
        top = float(values.max())
        p = np.clip(calibration * values / top, 0.0, 1.0 - 1e-9) if top > 0 else np.zeros_like(values)
        log_miss = np.zeros(n_groups, dtype=np.float64)
        np.add.at(log_miss, groups, np.log1p(-p))
        out = -np.expm1(log_miss)
    elif method == "rank_sum":
        np.add.at(out, groups, 1.0 / (rrf_k + 1.0 + np.arange(groups.size, dtype=np.float64)))
    else:
        raise InvalidInputError(f"method must be one of {', '.join(GROUP_METHODS)}, not {method!r}")
    return out.astype(np.float32)


def group_depth(group_by: object, k: object, depth: object, method: object) -> int:
    """Check a group recall's arguments; the number of memories to recall and aggregate.

    Returns:
        ``depth``, or ``max(50, 10 * k)`` when it is ``None``.

    Raises:
        InvalidInputError: ``group_by`` is not a non-empty string, ``k`` or ``depth``
            not a positive integer, or ``method`` not one of :data:`GROUP_METHODS`.
    """
    if not isinstance(group_by, str) or not group_by:
        raise InvalidInputError(f"group_by must be a non-empty metadata key, not {group_by!r:.40}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, not {k!r:.40}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise InvalidInputError(f"depth must be a positive integer or None, not {depth!r:.40}")
    if method not in GROUP_METHODS:
        raise InvalidInputError(f"method must be one of {', '.join(GROUP_METHODS)}, not {method!r:.40}")
    return max(50, 10 * k) if depth is None else depth


def group_hits(
    hits: Sequence[RecallHit],
    group_by: str,
    k: int,
    *,
    method: GroupMethod = "max",
) -> list[GroupHit]:
    """Group recalled memories by ``metadata[group_by]`` and rank the groups.

    Memories whose metadata lacks the key, or holds a list or an object under it,
    belong to no group and are left out; so an unknown key gives ``[]``.

    Args:
        hits: A recall's hits, best first.
        group_by: The metadata key.
        k: Groups wanted.
        method: The aggregation (see :func:`aggregate_groups`).

    Returns:
        Up to ``k`` groups, best first (ties: the group whose best memory ranks first).
    """
    index: dict[Hashable, int] = {}
    keys: list[GroupKey] = []
    members: list[list[RecallHit]] = []
    positions: list[int] = []
    scores: list[float] = []
    for hit in hits:
        value = hit.memory.metadata.get(group_by)
        if not isinstance(value, str | int | float | bool):
            continue
        # JSON has one number type: 1 and 1.0 are one key, True is not 1.
        token: Hashable = (type(value) is bool, value)
        group = index.get(token)
        if group is None:
            group = index[token] = len(keys)
            keys.append(value)
            members.append([])
        members[group].append(hit)
        positions.append(group)
        scores.append(hit.score)
    if not keys:
        return []
    totals = aggregate_groups(
        np.asarray(positions, dtype=np.int64), np.asarray(scores, dtype=np.float32), len(keys), method=method
    )
    ranked = sorted(range(len(keys)), key=lambda g: (-float(totals[g]), g))[:k]  # g: order of first appearance
    return [GroupHit(keys[g], float(totals[g]), rank, tuple(members[g])) for rank, g in enumerate(ranked)]
