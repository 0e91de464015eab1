"""Recall benchmarks on real conversations: LoCoMo and LongMemEval, beside baselines.

Commands (through the CLI, ``hippo-memory bench ...``, or this module)::

    python -m hippo_memory.bench._conversations locomo ../shared/data/locomo/locomo_dev.json
    python -m hippo_memory.bench._conversations longmemeval \\
        ../shared/data/longmemeval/longmemeval_s_dev.json.gz --level session

Each LoCoMo conversation, or each LongMemEval question, gets a fresh memory
holding only its own haystack. Every system of a run uses the same encoder, whose
encodings are cached on disk (keyed by encoder name and text hash), so a rerun
encodes nothing. Recall time excludes query encoding: queries are encoded before
timing starts (hippo systems re-fetch theirs from the in-memory cache, a hash
look-up). Ingest throughput likewise excludes encoding once the cache is warm.
The metric definitions are those of ``shared/README.md``; see :mod:`._metrics`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._config import HippoConfig
from .._encoder import DEFAULT_MODEL, Encoder, HashingEncoder, load_encoder
from ._args import add_cache_dir_argument, add_config_argument, positive_int
from ._baselines import BM25System, DenseSystem, RankingSystem, RRFSystem, bm25_stemmer_name
from ._datasets import (
    LOCOMO_CATEGORIES,
    Haystack,
    Level,
    load_json,
    load_locomo,
    load_longmemeval,
)
from ._enc_cache import CachedEncoder, stderr_progress
from ._metrics import QuestionScore, aggregate, metric_names, score_question

__all__ = [
    "BASELINE_SYSTEMS",
    "HIPPO_SYSTEMS",
    "PROTO_SYSTEMS",
    "BenchContext",
    "main",
    "make_encoder",
    "register_commands",
    "run_benchmark",
]

Benchmark = Literal["locomo", "longmemeval"]

BASELINE_SYSTEMS = ("dense", "bm25", "rrf")
SESSION_BASELINE_SYSTEMS = ("dense-turns", "bm25-turns", "rrf-turns")
HIPPO_SYSTEMS = (
    "hippo",
    "hippo-settle",
    "hippo-nolexical",
    "hippo-nocues",
    "hippo-nospread",
    "hippo-nopriors",
    "hippo-softor",
    "hippo-topmean",
    "hippo-chain",
)
PROTO_SYSTEMS = ("proto-fusion", "proto-speaker")


@dataclass(frozen=True, slots=True)
class BenchContext:
    """What a system factory may use.

    Attributes:
        encoder: The shared (cached) encoder.
        benchmark: ``"locomo"`` or ``"longmemeval"``.
        level: ``"turn"`` or ``"session"``.
        overrides: ``HippoConfig`` fields set for every hippo system (``--config``);
            a system's own defining change (``lexical_weight=0`` for
            ``hippo-nolexical``) is applied on top.
        fold_weights: Haystack key -> the ranker weights file its hippo systems use
            (``--ranker-cv``: weights trained without that haystack's question);
            empty: the configured weights everywhere.
    """

    encoder: Encoder
    benchmark: Benchmark
    level: Level
    overrides: Mapping[str, Any] = field(default_factory=dict)
    fold_weights: Mapping[str, str] = field(default_factory=dict)


SystemFactory = Callable[[BenchContext], RankingSystem]


def _baseline_factories() -> dict[str, SystemFactory]:
    return {
        "dense": lambda ctx: DenseSystem(ctx.encoder, name="dense"),
        "bm25": lambda ctx: BM25System(name="bm25"),
        "rrf": lambda ctx: RRFSystem(ctx.encoder, name="rrf"),
        "dense-turns": lambda ctx: DenseSystem(ctx.encoder, granularity="part", name="dense-turns"),
        "bm25-turns": lambda ctx: BM25System(granularity="part", name="bm25-turns"),
        "rrf-turns": lambda ctx: RRFSystem(ctx.encoder, granularity="part", name="rrf-turns"),
    }


def system_factories() -> dict[str, SystemFactory]:
    """Every known system by name; hippo systems only when the engine imports."""
    factories = _baseline_factories()
    try:
        from ._conv_hippo import hippo_factories
    except ImportError:
        return factories
    factories.update(hippo_factories())
    return factories


def default_systems(level: Level) -> list[str]:
    """Systems run when ``--systems`` is not given."""
    names = list(BASELINE_SYSTEMS)
    if level == "session":
        names += SESSION_BASELINE_SYSTEMS
    available = system_factories()
    names += [name for name in available if name not in names and name.startswith("hippo")]
    return names


def make_encoder(spec: str) -> Encoder:
    """Resolve ``--encoder``: ``hashing`` or ``hashing:DIM`` for the model-free test
    encoder, otherwise a sentence-transformers model name or local path."""
    if spec == "hashing" or spec.startswith("hashing:"):
        dim = int(spec.split(":", 1)[1]) if ":" in spec else 256
        return HashingEncoder(dim)
    return load_encoder(spec)


def machine_description() -> str:
    """Platform, processor and CPU count, for the JSON and the docs."""
    processor = platform.processor() or platform.machine()
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()} {processor}; "
        f"{cpu_model + '; ' if cpu_model else ''}{os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}"
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_benchmark(
    haystacks: Sequence[Haystack],
    *,
    benchmark: Benchmark,
    level: Level,
    systems: Sequence[str],
    encoder: CachedEncoder,
    ks: Sequence[int] = (1, 3, 5, 10),
    dataset_label: str = "",
    quiet: bool = False,
    overrides: Mapping[str, Any] | None = None,
    fold_weights: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run the systems over the haystacks and return the JSON report.

    Args:
        haystacks: From :func:`load_locomo` or :func:`load_longmemeval`.
        benchmark: ``"locomo"`` or ``"longmemeval"`` (selects the metrics).
        level: ``"turn"`` or ``"session"``.
        systems: System names (see :func:`system_factories`).
        encoder: The cached encoder every system shares.
        ks: Cut-offs of the metrics.
        dataset_label: Name of the data file, recorded in the report.
        quiet: Do not print progress to stderr.
        overrides: ``HippoConfig`` fields for every hippo system (see :class:`BenchContext`).
        fold_weights: Per-haystack ranker weights (see :class:`BenchContext`); every
            haystack must have one when given.

    Returns:
        The report (see ``docs/benchmarks.md`` for its schema).
    """
    factories = system_factories()
    if overrides:
        HippoConfig.create(**overrides)  # a bad --config fails before any encoding
    unknown = [name for name in systems if name not in factories]
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}; available: {', '.join(factories)}")
    ks = sorted(set(ks))
    depth = max(ks)
    names = metric_names(benchmark, ks)
    n_questions = sum(len(h.questions) for h in haystacks)

    # Encode every stored text and query up front (cache misses only), so that
    # neither ingest nor recall timing includes the encoder.
    texts = [u.text for h in haystacks for u in h.units]
    texts += [p.text for h in haystacks for p in h.parts]
    queries = [q.text for h in haystacks for q in h.questions]
    encoded_before = encoder.inner_texts
    started = time.perf_counter()
    to_encode = encoder.missing(queries + texts)
    if to_encode and not quiet:
        _log(f"encoding {len(to_encode)} new texts with {encoder.name}")
    encoder.encode(to_encode)
    encoder.flush()
    encode_seconds = time.perf_counter() - started
    query_vectors = dict(zip(queries, encoder.encode(queries), strict=True))
    encoding = {
        "texts": len(set(queries + texts)),
        "encoded_now": encoder.inner_texts - encoded_before,
        "seconds": round(encode_seconds, 3),
    }

    if fold_weights:
        missing = [h.key for h in haystacks if h.key not in fold_weights]
        if missing:
            raise ValueError(f"no ranker weights for haystack(s) {', '.join(missing[:5])}")
    context = BenchContext(
        encoder=encoder,
        benchmark=benchmark,
        level=level,
        overrides=dict(overrides or {}),
        fold_weights=dict(fold_weights or {}),
    )
    results: dict[str, Any] = {}
    for name in systems:
        system = factories[name](context)
        scores: list[QuestionScore] = []
        recall_ms: list[float] = []
        ingest_seconds = 0.0
        stored = 0
        encoded_before = encoder.inner_texts
        for index, haystack in enumerate(haystacks):
            misses = encoder.inner_texts
            t0 = time.perf_counter()
            count = system.ingest(haystack)
            elapsed = time.perf_counter() - t0
            if encoder.inner_texts != misses:
                # The system encoded texts of its own (hippo's cue variants): ingest
                # again, now from the cache, so throughput excludes the encoder.
                t0 = time.perf_counter()
                count = system.ingest(haystack)
                elapsed = time.perf_counter() - t0
            stored += count
            ingest_seconds += elapsed
            for question in haystack.questions:
                vector = query_vectors[question.text]
                t0 = time.perf_counter()
                ranking = system.rank(question, vector, depth)
                recall_ms.append((time.perf_counter() - t0) * 1000.0)
                scores.append(
                    QuestionScore(
                        qid=question.qid,
                        category=question.category,
                        scores=score_question(benchmark, ranking, question.gold, ks),
                    )
                )
            if not quiet and (index + 1) % 25 == 0:
                _log(f"[{name}] {index + 1}/{len(haystacks)} haystacks")
        system.close()
        encoder.flush()
        overall, by_category = aggregate(benchmark, scores, names)
        results[name] = {
            "overall": overall,
            "by_category": by_category,
            "ingest_units_per_s": stored / ingest_seconds if ingest_seconds > 0 else None,
            "ingest_seconds": round(ingest_seconds, 3),
            "units_stored": stored,
            "encoded_during_run": encoder.inner_texts - encoded_before,
            "recall_p50_ms": statistics.median(recall_ms) if recall_ms else None,
            "recall_p95_ms": float(np.percentile(recall_ms, 95)) if recall_ms else None,
        }
        if not quiet:
            _log(f"[{name}] done: {_headline(benchmark, ks)}={overall[_headline(benchmark, ks)]:.3f}")

    return {
        "dataset": benchmark,
        "data_file": dataset_label,
        "level": level,
        "n_questions": n_questions,
        "n_haystacks": len(haystacks),
        "encoder": encoder.name,
        "machine": machine_description(),
        "k": list(ks),
        "bm25_stemmer": bm25_stemmer_name(),
        "config_overrides": dict(context.overrides),
        "ranker_weights": "per fold (--ranker-cv)" if context.fold_weights else "configured",
        "overall_is": (
            "mean over categories 1-4 of the per-category means" if benchmark == "locomo" else "mean over questions"
        ),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "encoding": encoding,
        "systems": results,
    }


def _headline(benchmark: str, ks: Sequence[int]) -> str:
    k = 5 if 5 in ks else max(ks)
    return f"recall@{k}" if benchmark == "locomo" else f"recall_any@{k}"


def _second(benchmark: str, ks: Sequence[int]) -> str:
    if benchmark == "locomo":
        return f"all@{10 if 10 in ks else max(ks)}"
    return f"recall_all@{5 if 5 in ks else max(ks)}"


def _category_label(benchmark: str, category: str) -> str:
    if benchmark == "locomo":
        return f"{category}:{LOCOMO_CATEGORIES.get(category, category)}"
    return category.replace("single-session-", "ss-").replace("-reasoning", "")


def format_report(report: dict[str, Any]) -> str:
    """Plain-text tables of a report: overall metrics, then two metrics by category."""
    benchmark = report["dataset"]
    ks = report["k"]
    names = metric_names(benchmark, ks)
    systems = report["systems"]
    lines = [
        f"{benchmark} ({report['data_file']}), {report['level']} level, "
        f"{report['n_questions']} questions, encoder {report['encoder']}",
        f"machine: {report['machine']}",
        f"overall = {report['overall_is']}",
        "",
    ]
    width = max([len("system"), *(len(n) for n in systems)])
    header = f"{'system':<{width}} " + " ".join(f"{n:>13}" for n in names)
    header += f" {'p50 ms':>8} {'ingest/s':>9}"
    lines += [header, "-" * len(header)]
    for name, result in systems.items():
        row = f"{name:<{width}} " + " ".join(f"{result['overall'][n]:>13.3f}" for n in names)
        p50 = result["recall_p50_ms"]
        rate = result["ingest_units_per_s"]
        row += f" {p50 if p50 is not None else float('nan'):>8.2f}"
        row += f" {rate if rate is not None else float('nan'):>9.0f}"
        lines.append(row)
    for metric in (_headline(benchmark, ks), _second(benchmark, ks)):
        categories: list[str] = []
        for result in systems.values():
            categories += [c for c in result["by_category"] if c not in categories]
        labels = [_category_label(benchmark, c) for c in categories]
        col = max([8, *(len(label) for label in labels)])
        lines += ["", f"{metric} by category (n per category in brackets)"]
        first: dict[str, Any] = next(iter(systems.values()), {"by_category": {}})
        counts = [int(first["by_category"].get(c, {}).get("n", 0)) for c in categories]
        head = f"{'system':<{width}} " + " ".join(
            f"{f'{label} [{n}]':>{col + 6}}" for label, n in zip(labels, counts, strict=True)
        )
        lines += [head, "-" * len(head)]
        for name, result in systems.items():
            cells = [
                result["by_category"][c][metric] if c in result["by_category"] else float("nan") for c in categories
            ]
            lines.append(f"{name:<{width}} " + " ".join(f"{v:>{col + 6}.3f}" for v in cells))
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Save recall@k curves of every system (two panels) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmark = report["dataset"]
    ks = report["k"]
    panels = ("recall", "all") if benchmark == "locomo" else ("recall_any", "recall_all")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for axis, prefix in zip(axes, panels, strict=True):
        for name, result in report["systems"].items():
            values = [result["overall"][f"{prefix}@{k}"] for k in ks]
            style = "-" if name.startswith(("hippo", "proto")) else "--"
            axis.plot(ks, values, style, marker="o", label=name)
        axis.set_xlabel("k")
        axis.set_title(f"{prefix}@k")
        axis.set_xticks(ks)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("overall")
    axes[0].set_ylim(0.0, 1.0)
    axes[1].legend(fontsize=8, loc="lower right")
    figure.suptitle(
        f"{benchmark} {report['level']} level, {report['n_questions']} questions, {report['encoder']}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--k expects integers like 1,3,5,10: {text!r}") from exc
    if not ks or ks[0] < 1:
        raise argparse.ArgumentTypeError("--k values must be positive")
    return ks


def _run_command(args: argparse.Namespace) -> int:
    benchmark: Benchmark = args.conv_benchmark
    level: Level = getattr(args, "level", "turn")
    data = load_json(args.path)
    if benchmark == "locomo":
        haystacks = load_locomo(data, limit=args.limit)
    else:
        haystacks = load_longmemeval(data, level=level, limit=args.limit)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()] if args.systems else default_systems(level)
    inner = make_encoder(args.encoder)
    progress = None if args.quiet else stderr_progress(inner.name)
    encoder = CachedEncoder(inner, args.cache_dir, progress=progress)
    fold_dir = tempfile.TemporaryDirectory(prefix="hippo-ranker-cv-")
    try:
        fold_weights = _fold_weights(args, haystacks, encoder, fold_dir.name) if args.ranker_cv else None
        report = run_benchmark(
            haystacks,
            benchmark=benchmark,
            level=level,
            systems=systems,
            encoder=encoder,
            ks=args.k,
            dataset_label=Path(args.path).name,
            quiet=args.quiet,
            overrides=dict(args.config),
            fold_weights=fold_weights,
        )
        if fold_weights:
            report["ranker_cv"] = {
                "train": [Path(p).name for p in args.ranker_cv],
                "folds": args.ranker_cv_folds,
                "pool": args.ranker_cv_pool,
            }
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        encoder.close()
        fold_dir.cleanup()
    print(format_report(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot_report(report, args.plot)
    return 0


def _fold_weights(
    args: argparse.Namespace, haystacks: Sequence[Haystack], encoder: CachedEncoder, out_dir: str
) -> dict[str, str]:
    """``--ranker-cv``: fit one ranker per fold on the training files (weights written
    to ``out_dir``) and map each haystack to the weights that never saw its question."""
    from .._learned import load_model
    from ._train import question_fold, train_fold_rankers

    several = [h.key for h in haystacks if len(h.questions) != 1]
    if several:
        raise ValueError("--ranker-cv needs one question per haystack (LongMemEval)")
    folds = args.ranker_cv_folds
    features = tuple(f.strip() for f in args.ranker_cv_features.split(",") if f.strip()) or load_model(None).features
    if not args.quiet:
        _log(f"training {folds} fold rankers on {', '.join(args.ranker_cv)} -> {out_dir}")
    paths = train_fold_rankers(
        args.ranker_cv,
        folds=folds,
        encoder=encoder,
        config=HippoConfig.create(**dict(args.config)),
        out_dir=out_dir,
        pool=args.ranker_cv_pool,
        features=features,
        progress=not args.quiet,
    )
    return {h.key: str(paths[question_fold(h.questions[0].qid, folds)]) for h in haystacks}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="the dataset file (.json or .json.gz)")
    parser.add_argument("--json", metavar="OUT", help="write the report as JSON here")
    parser.add_argument("--plot", metavar="OUT.png", help="write recall@k curves here")
    parser.add_argument("--limit", type=int, metavar="N", help="use the first N questions")
    parser.add_argument("--k", type=_parse_ks, default=[1, 3, 5, 10], metavar="1,3,5,10", help="cut-offs")
    parser.add_argument(
        "--systems",
        metavar="a,b,...",
        help="systems to run (default: the baselines and every hippo configuration); "
        f"baselines: {', '.join(BASELINE_SYSTEMS + SESSION_BASELINE_SYSTEMS)}; "
        f"hippo: {', '.join(HIPPO_SYSTEMS)}; prototypes: {', '.join(PROTO_SYSTEMS)}",
    )
    parser.add_argument(
        "--encoder",
        default=DEFAULT_MODEL,
        metavar="NAME_OR_PATH",
        help=f"sentence-transformers model name or path, or 'hashing[:DIM]' (default {DEFAULT_MODEL})",
    )
    add_cache_dir_argument(parser)
    add_config_argument(parser, "every hippo system", "lexical_candidates=20")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def register_commands(bench_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``locomo`` and ``longmemeval`` subcommands to a ``bench`` parser.

    Each subcommand sets ``func`` to a callable taking the parsed namespace and
    returning an exit code.
    """
    locomo = bench_subparsers.add_parser(
        "locomo",
        help="turn-level recall on LoCoMo conversations",
        description="Turn-level recall@k / all@k on LoCoMo, per category, beside baselines.",
    )
    _add_common(locomo)
    locomo.set_defaults(func=_run_command, conv_benchmark="locomo", level="turn", ranker_cv=None)

    longmemeval = bench_subparsers.add_parser(
        "longmemeval",
        help="session- or turn-level recall on LongMemEval",
        description="recall_any@k / recall_all@k on LongMemEval, per question type.",
    )
    _add_common(longmemeval)
    longmemeval.add_argument("--level", choices=("session", "turn"), default="session", help="what is ranked")
    longmemeval.add_argument(
        "--ranker-cv",
        nargs="+",
        metavar="TRAIN",
        help="rank each question with a ranker trained on these labelled files without the question's fold "
        "(the shipped weights were trained on LongMemEval dev questions: testing them on the same questions leaks)",
    )
    longmemeval.add_argument("--ranker-cv-folds", type=positive_int, default=5, help="folds of --ranker-cv (default 5)")
    longmemeval.add_argument(
        "--ranker-cv-pool", type=positive_int, default=12, help="haystack pooling of --ranker-cv training (default 12)"
    )
    longmemeval.add_argument(
        "--ranker-cv-features",
        default="",
        metavar="a,b,...",
        help="features of the --ranker-cv models (default: those of the shipped weights)",
    )
    longmemeval.set_defaults(func=_run_command, conv_benchmark="longmemeval")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hippo_memory.bench._conversations``."""
    parser = argparse.ArgumentParser(
        prog="python -m hippo_memory.bench._conversations",
        description="Recall benchmarks on LoCoMo and LongMemEval.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    register_commands(subparsers)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
