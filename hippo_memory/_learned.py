"""The learned ranker's model: an L2-regularised logistic regression over candidate features.

Pure numpy, no state beyond a :class:`RankerModel`. The model gives each candidate
a calibrated probability of relevance, which recall reports as ``RecallHit.score``,
so one ``min_score`` means the same for every query.

Weights file (JSON, a few kilobytes; ``hippo_memory/data/ranker_default.json`` is the
shipped one)::

    {"format": "hippo-memory-ranker", "version": 1,
     "features": ["sim_max", ...],          # names from hippo_memory._features.FEATURES
     "mean": [...], "scale": [...],         # standardisation, one per feature
     "coef": [...], "intercept": -4.2,      # the logistic model on standardised features
     "provenance": {...}}                   # training data, licence, figures (free form)

A file naming a feature this version does not compute, or with lengths that do not
match, is refused with :class:`~hippo_memory.InvalidConfigError`.
"""

from __future__ import annotations

import itertools
import json
import os
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._errors import InvalidConfigError
from ._features import FEATURES

__all__ = [
    "DEFAULT_WEIGHTS",
    "FORMAT",
    "RankerModel",
    "fit_logistic",
    "load_model",
    "reliability_table",
]

FloatArray = npt.NDArray[np.float32]
FORMAT = "hippo-memory-ranker"
VERSION = 1
DEFAULT_WEIGHTS = "ranker_default.json"
"""The shipped weights file, under ``hippo_memory/data``."""


class RankerModel(NamedTuple):
    """A logistic model over a subset of :data:`FEATURES`.

    Attributes:
        features: Names of the columns it reads, in its own order.
        columns: int64 ``(f,)``: their positions in :data:`FEATURES`.
        mean: float64 ``(f,)``: subtracted from each feature.
        scale: float64 ``(f,)``: then divided by (positive).
        coef: float64 ``(f,)``: weights on the standardised features.
        intercept: The bias.
        provenance: Free-form training record.
    """

    features: tuple[str, ...]
    columns: npt.NDArray[np.int64]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: float
    provenance: dict[str, Any]

    def logits(self, x: FloatArray) -> npt.NDArray[np.float64]:
        """Log-odds of relevance: float64 ``(u,)`` from the full feature matrix float32 ``(u, len(FEATURES))``."""
        z = (x[:, self.columns].astype(np.float64) - self.mean) / self.scale
        out: npt.NDArray[np.float64] = z @ self.coef + self.intercept
        return out

    def probability(self, x: FloatArray) -> FloatArray:
        """Calibrated probability of relevance in [0, 1]: float32 ``(u,)``."""
        p: FloatArray = _sigmoid(self.logits(x)).astype(np.float32)
        return p

    def to_dict(self) -> dict[str, Any]:
        """The weights file's content."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "features": list(self.features),
            "mean": [round(float(v), 8) for v in self.mean],
            "scale": [round(float(v), 8) for v in self.scale],
            "coef": [round(float(v), 8) for v in self.coef],
            "intercept": round(float(self.intercept), 8),
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the weights file (JSON)."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=1)
            handle.write("\n")


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|
    return out


def model_from_dict(data: Any, source: str = "weights") -> RankerModel:
    """Validate a parsed weights file.

    Raises:
        InvalidConfigError: not a ranker weights file, a feature this version does
            not compute, lengths that differ, or non-finite numbers.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidConfigError(f"{source}: not a {FORMAT} weights file")
    if data.get("version") != VERSION:
        raise InvalidConfigError(f"{source}: weights version {data.get('version')!r}, this library reads {VERSION}")
    names = data.get("features")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidConfigError(f"{source}: 'features' must be a non-empty list of names")
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise InvalidConfigError(f"{source}: unknown feature(s) {unknown}; this version computes {list(FEATURES)}")
    if len(set(names)) != len(names):
        raise InvalidConfigError(f"{source}: a feature is named twice")
    arrays = {}
    for key in ("mean", "scale", "coef"):
        try:
            values = np.asarray(data.get(key), dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidConfigError(f"{source}: {key!r} must be a list of numbers") from None
        if values.shape != (len(names),) or not np.isfinite(values).all():
            raise InvalidConfigError(f"{source}: {key!r} must hold {len(names)} finite numbers")
        arrays[key] = values
    if (arrays["scale"] <= 0).any():
        raise InvalidConfigError(f"{source}: 'scale' must be positive")
    intercept = data.get("intercept")
    if isinstance(intercept, bool) or not isinstance(intercept, int | float) or not np.isfinite(intercept):
        raise InvalidConfigError(f"{source}: 'intercept' must be a finite number")
    provenance = data.get("provenance", {})
    return RankerModel(
        tuple(names),
        np.asarray([FEATURES.index(n) for n in names], dtype=np.int64),
        arrays["mean"],
        arrays["scale"],
        arrays["coef"],
        float(intercept),
        provenance if isinstance(provenance, dict) else {},
    )


@lru_cache(maxsize=8)
def load_model(path: str | None) -> RankerModel:
    """The model of a weights file; ``None`` for the shipped default (cached per path).

    Raises:
        InvalidConfigError: the file cannot be read or is not a valid weights file.
    """
    try:
        if path is None:
            text = resources.files("hippo_memory").joinpath("data", DEFAULT_WEIGHTS).read_text(encoding="utf-8")
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise InvalidConfigError(f"ranker weights {path or DEFAULT_WEIGHTS!r}: {exc}") from exc
    return model_from_dict(data, path or DEFAULT_WEIGHTS)


def fit_logistic(
    x: npt.NDArray[Any],
    y: npt.NDArray[Any],
    *,
    features: tuple[str, ...] = FEATURES,
    l2: float = 1.0,
    sample_weight: npt.NDArray[Any] | None = None,
    iterations: int = 50,
    provenance: dict[str, Any] | None = None,
) -> RankerModel:
    """Fit an L2-regularised logistic regression by Newton's method (IRLS).

    Args:
        x: float ``(n, len(FEATURES))``: feature rows (all columns; ``features`` picks).
        y: ``(n,)`` labels, 1 relevant, 0 not.
        features: The columns used.
        l2: Ridge penalty on the standardised coefficients (the intercept is free).
        sample_weight: ``(n,)`` non-negative row weights (default 1).
        iterations: Most Newton steps (it stops earlier once converged).
        provenance: Recorded in the weights file.

    Returns:
        The fitted model; its probabilities are calibrated on the training
        distribution (the logistic loss is a proper scoring rule).
    """
    columns = np.asarray([FEATURES.index(n) for n in features], dtype=np.int64)
    data = np.asarray(x, dtype=np.float64)[:, columns]
    target = np.asarray(y, dtype=np.float64)
    weight = np.ones(target.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = np.average(data, axis=0, weights=weight)
    scale = np.sqrt(np.average((data - mean) ** 2, axis=0, weights=weight))
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(data - mean) / scale, np.ones((data.shape[0], 1))])
    beta = np.zeros(z.shape[1])
    prior = float(np.clip(np.average(target, weights=weight), 1e-6, 1 - 1e-6))
    beta[-1] = np.log(prior / (1 - prior))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0

    def loss(b: npt.NDArray[np.float64]) -> float:
        logits = z @ b
        # log(1 + e^t) - y t, stable for large |t|
        nll = np.logaddexp(0.0, logits) - target * logits
        return float(weight @ nll + 0.5 * (penalty * b) @ b)

    current = loss(beta)
    for _ in range(iterations):
        p = _sigmoid(z @ beta)
        gradient = z.T @ (weight * (p - target)) + penalty * beta
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        rate = 1.0
        while rate > 1e-6:  # damped Newton: halve the step until the penalised loss falls
            trial = beta - rate * step
            value = loss(trial)
            if value <= current:
                break
            rate /= 2
        else:
            break
        beta, improvement, current = trial, current - value, value
        if improvement < 1e-10 * max(abs(current), 1.0):
            break
    return RankerModel(features, columns, mean, scale, beta[:-1], float(beta[-1]), dict(provenance or {}))


class ReliabilityBin(NamedTuple):
    """One bin of a reliability table: predicted range, count, mean prediction, observed rate."""

    low: float
    high: float
    n: int
    predicted: float
    observed: float


def reliability_table(
    p: npt.NDArray[Any], y: npt.NDArray[Any], edges: tuple[float, ...] = (0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
) -> tuple[list[ReliabilityBin], float]:
    """Calibration of predicted probabilities against labels.

    Args:
        p: ``(n,)`` predicted probabilities.
        y: ``(n,)`` labels in {0, 1}.
        edges: Bin edges over [0, 1].

    Returns:
        ``(bins, ece)``: the non-empty bins and the expected calibration error (mean
        over rows of |predicted - observed| of their bin).
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    bins: list[ReliabilityBin] = []
    ece = 0.0
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        mask = (p >= low) & ((p <= high) if last else (p < high))
        n = int(mask.sum())
        if not n:
            continue
        predicted, observed = float(p[mask].mean()), float(y[mask].mean())
        bins.append(ReliabilityBin(low, high, n, predicted, observed))
        ece += n * abs(predicted - observed)
    return bins, ece / max(p.size, 1)
