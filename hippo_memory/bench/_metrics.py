"""Recall metrics of the conversation benchmarks, as defined in ``shared/README.md``.

All metrics take a ranking (unit ids, best first, no duplicates) and the set of
gold ids of one question:

* ``recall@k``: share of the gold ids found in the top ``k``.
* ``all@k`` / ``recall_all@k``: 1 when every gold id is in the top ``k``, else 0.
* ``recall_any@k``: 1 when at least one gold id is in the top ``k``, else 0.

Per-question values are averaged within each category; the headline
("overall") is the mean over LoCoMo categories 1-4 (each category weighs the
same; 5, adversarial, is reported apart) or, for LongMemEval, the mean over all
questions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "QuestionScore",
    "aggregate",
    "all_at_k",
    "any_at_k",
    "metric_names",
    "recall_at_k",
    "score_question",
]

LOCOMO_HEADLINE_CATEGORIES = ("1", "2", "3", "4")


def recall_at_k(ranking: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of gold ids among the first ``k`` ranked ids (0 when gold is empty)."""
    gold_set = set(gold)
    if not gold_set:
        return 0.0
    return len(gold_set.intersection(ranking[:k])) / len(gold_set)


def all_at_k(ranking: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 when every gold id is among the first ``k`` ranked ids, else 0.0."""
    gold_set = set(gold)
    return float(bool(gold_set) and gold_set.issubset(ranking[:k]))


def any_at_k(ranking: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 when some gold id is among the first ``k`` ranked ids, else 0.0."""
    return float(not set(gold).isdisjoint(ranking[:k]))


def metric_names(dataset: str, ks: Sequence[int]) -> list[str]:
    """Metric names reported for a dataset kind (``"locomo"`` or ``"longmemeval"``)."""
    if dataset == "locomo":
        return [f"recall@{k}" for k in ks] + [f"all@{k}" for k in ks]
    return [f"recall_any@{k}" for k in ks] + [f"recall_all@{k}" for k in ks]


def score_question(dataset: str, ranking: Sequence[str], gold: Iterable[str], ks: Sequence[int]) -> dict[str, float]:
    """All metrics of one question."""
    gold_set = frozenset(gold)
    scores: dict[str, float] = {}
    if dataset == "locomo":
        for k in ks:
            scores[f"recall@{k}"] = recall_at_k(ranking, gold_set, k)
        for k in ks:
            scores[f"all@{k}"] = all_at_k(ranking, gold_set, k)
    else:
        for k in ks:
            scores[f"recall_any@{k}"] = any_at_k(ranking, gold_set, k)
        for k in ks:
            scores[f"recall_all@{k}"] = all_at_k(ranking, gold_set, k)
    return scores


@dataclass(slots=True)
class QuestionScore:
    """Metrics of one question, with what it is grouped by."""

    qid: str
    category: str
    scores: dict[str, float] = field(default_factory=dict)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _mean_scores(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> dict[str, float]:
    return {name: _mean([row[name] for row in rows]) for name in names}


def aggregate(
    dataset: str, results: Sequence[QuestionScore], names: Sequence[str]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Average per-question metrics into ``(overall, by_category)``.

    ``by_category[c]`` holds the mean of every metric over the questions of
    category ``c`` plus ``"n"``, their number. ``overall`` is, for LoCoMo, the
    unweighted mean of the category means of categories 1-4; otherwise the mean
    over all questions. Both also carry ``"n"``.
    """
    groups: dict[str, list[Mapping[str, float]]] = defaultdict(list)
    for result in results:
        groups[result.category].append(result.scores)
    by_category: dict[str, dict[str, float]] = {}
    for category in sorted(groups, key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c)):
        rows = groups[category]
        by_category[category] = {"n": float(len(rows)), **_mean_scores(rows, names)}
    if dataset == "locomo":
        headline = [c for c in LOCOMO_HEADLINE_CATEGORIES if c in by_category]
        overall = {name: _mean([by_category[c][name] for c in headline]) for name in names}
        overall["n"] = float(sum(by_category[c]["n"] for c in headline))
    else:
        overall = {"n": float(len(results)), **_mean_scores([r.scores for r in results], names)}
    return overall, by_category
