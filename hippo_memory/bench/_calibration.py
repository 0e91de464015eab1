"""Does a hit's score mean what it says? ``hippo-memory bench calibration DATA``.

Each haystack of a LoCoMo or LongMemEval file (turn level) goes into a fresh
in-memory store; every question recalls ``k`` hits, and each hit's ``score`` is set
beside whether it is a gold turn. The command prints a reliability table (predicted
probability against the observed share of relevant hits), the expected calibration
error, the share of relevant hits among those scoring at least 0.5, and the best
score that queries about topics absent from every memory get (:data:`UNRELATED`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._config import HippoConfig
from .._learned import reliability_table
from ._args import add_cache_dir_argument, add_config_argument

__all__ = ["UNRELATED", "register_command", "run_calibration"]

UNRELATED = (
    "What is the boiling point of tungsten in kelvin?",
    "How do I compile a Linux kernel module for an ARM board?",
    "Which enzyme catalyses the first step of glycolysis?",
    "What is the torque specification for a bicycle crank bolt?",
    "Explain the difference between a monad and a functor in Haskell.",
    "Who won the 1954 FIFA World Cup final?",
    "What are the side effects of metformin?",
    "How many moons does Neptune have?",
)
"""Queries about topics no conversation of the benchmarks is about."""


def run_calibration(
    path: str, *, k: int, encoder_spec: str, cache_dir: str, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Score every question's top ``k`` hits against the gold turns; see the module docstring."""
    from .._memory import HippoMemory
    from ._conv_hippo import NAMESPACE, HippoSystem
    from ._conversations import make_encoder
    from ._datasets import load_json, load_locomo, load_longmemeval
    from ._enc_cache import CachedEncoder

    data = load_json(path)
    is_lme = isinstance(data, list) and data and "haystack_sessions" in data[0]
    haystacks = load_longmemeval(data, level="turn") if is_lme else load_locomo(data)
    config = HippoConfig.create(**{"ranker": "learned", **overrides})
    encoder = CachedEncoder(make_encoder(encoder_spec), cache_dir)
    scores: list[float] = []
    labels: list[int] = []
    unrelated_best: list[float] = []
    try:
        vectors = dict(zip(UNRELATED, encoder.encode(list(UNRELATED)), strict=True))
        for haystack in haystacks:
            system = HippoSystem(encoder, config, name="hippo")
            system.ingest(haystack)
            memory: HippoMemory | None = system._memory
            assert memory is not None
            questions = [q.text for q in haystack.questions]
            for question, vector in zip(haystack.questions, encoder.encode(questions), strict=True):
                hits = memory.recall_vector(vector, query=question.text, namespace=NAMESPACE, k=k)
                for hit in hits:
                    scores.append(hit.score)
                    labels.append(int(hit.memory.id in question.gold))
            for text, vector in vectors.items():
                hits = memory.recall_vector(vector, query=text, namespace=NAMESPACE, k=1)
                unrelated_best.append(hits[0].score if len(hits) else 0.0)
            system.close()
    finally:
        encoder.close()
    p, y = np.asarray(scores), np.asarray(labels)
    bins, ece = reliability_table(p, y)
    confident = p >= 0.5
    return {
        "data_file": Path(path).name,
        "k": k,
        "hits": int(p.size),
        "ece": ece,
        "reliability": [b._asdict() for b in bins],
        "hits_at_least_0.5": int(confident.sum()),
        "relevant_share_at_least_0.5": float(y[confident].mean()) if confident.any() else None,
        "unrelated_queries": len(unrelated_best),
        "unrelated_max_score": float(max(unrelated_best)) if unrelated_best else None,
        "unrelated_median_score": float(np.median(unrelated_best)) if unrelated_best else None,
        "config_overrides": overrides,
    }


def _run(args: argparse.Namespace) -> int:
    report = run_calibration(
        args.path, k=args.k, encoder_spec=args.encoder, cache_dir=args.cache_dir, overrides=dict(args.config)
    )
    print(f"{report['data_file']}: top {report['k']} hits of every question, {report['hits']} hits")
    print(f"{'predicted':>12} {'hits':>7} {'mean score':>10} {'relevant':>9}")
    for b in report["reliability"]:
        print(f"{b['low']:>5.2f}-{b['high']:<5.2f} {b['n']:>8} {b['predicted']:>10.3f} {b['observed']:>9.3f}")
    share = report["relevant_share_at_least_0.5"]
    print(f"expected calibration error {report['ece']:.4f}")
    print(
        f"hits scoring >= 0.5: {report['hits_at_least_0.5']}, relevant among them: {share if share is None else round(share, 3)}"
    )
    print(
        f"unrelated queries ({report['unrelated_queries']} x haystacks), best hit's score: "
        f"max {report['unrelated_max_score']:.3f}, median {report['unrelated_median_score']:.3f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def register_command(bench_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``calibration`` to a ``bench`` parser."""
    from .._encoder import DEFAULT_MODEL

    parser = bench_subparsers.add_parser(
        "calibration",
        help="reliability of the learned ranker's scores on LoCoMo or LongMemEval (turn level)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("path", help="LoCoMo or LongMemEval file")
    parser.add_argument("--k", type=int, default=10, help="hits per question (default 10)")
    parser.add_argument("--json", metavar="OUT", help="write the report as JSON")
    parser.add_argument("--encoder", default=DEFAULT_MODEL, help=f"encoder (default {DEFAULT_MODEL})")
    add_cache_dir_argument(parser)
    add_config_argument(parser, "the engine", "ranker_weights=weights.json")
    parser.set_defaults(func=_run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hippo_memory.bench._calibration``."""
    parser = argparse.ArgumentParser(prog="python -m hippo_memory.bench._calibration")
    register_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["calibration", *(argv if argv is not None else sys.argv[1:])])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
