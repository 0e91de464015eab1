"""Train the learned ranker: dump candidate features with labels, fit, cross-validate, write weights.

``hippo-memory bench train-ranker DATA --out weights.json`` runs the engine's recall
stages on every question of ``DATA`` (each haystack in a fresh in-memory store, as
the recall benchmarks do), labels each candidate memory relevant or not, fits the
L2 logistic model of :mod:`hippo_memory._learned` and writes its weights file, which
``HippoConfig(ranker_weights=...)`` names. Cross-validation folds are by question:
no model is scored on questions it was trained on.

``DATA`` is a LongMemEval file (turns labelled ``has_answer``), a LoCoMo file
(``evidence``), or the generic format::

    [{"memories": [{"id": "m1", "text": "...", "session": "s1",
                    "timestamp": 1700000000, "speaker": "Ann"}, ...],
      "questions": [{"query": "...", "relevant": ["m1"]}, ...]}, ...]

The shipped default weights were trained on LongMemEval_S dev and oracle dev (MIT
licence) only; LoCoMo (CC BY-NC) is for evaluation (see ``docs/ranker.md``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .._config import HippoConfig
from .._features import FEATURES
from .._learned import fit_logistic, reliability_table
from ._args import add_cache_dir_argument, add_config_argument
from ._datasets import Haystack, Question, Unit, load_json, load_locomo, load_longmemeval

if TYPE_CHECKING:  # the engine (and torch) load when training runs, not when the CLI starts
    from .._encoder import Encoder
    from .._memory import HippoMemory

__all__ = [
    "FeatureDump",
    "cross_validate",
    "dump_features",
    "load_training_haystacks",
    "main",
    "name_speakers",
    "pool_haystacks",
    "question_fold",
    "rank_metrics",
    "register_command",
    "train_fold_rankers",
]

NAMESPACE = ("train",)
DEPTH = 50
"""Memories asked of each recall when dumping (every candidate is kept, not only these)."""


class FeatureDump(NamedTuple):
    """Candidate rows of many questions.

    Attributes:
        x: float32 ``(n, len(FEATURES))``: features.
        y: int8 ``(n,)``: 1 when the candidate is a gold memory.
        group: int64 ``(n,)``: the question's index.
        fused: float32 ``(n,)``: the hand-set fusion score (the comparison ranking).
        parent: ``(n,)`` object: the unit a candidate belongs to (its session at session level).
        n_gold: int64 ``(q,)``: gold memories per question (found or not).
        gold_parents: one set of gold parents per question.
        qids: question ids.
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int8]
    group: npt.NDArray[np.int64]
    fused: npt.NDArray[np.float32]
    parent: npt.NDArray[np.object_]
    n_gold: npt.NDArray[np.int64]
    gold_parents: list[frozenset[str]]
    qids: list[str]


def _generic_haystacks(data: Sequence[dict[str, Any]]) -> list[Haystack]:
    haystacks = []
    for index, item in enumerate(data):
        units = [
            Unit(
                uid=str(m["id"]),
                text=str(m["text"]),
                session=str(m.get("session") or f"s{index}"),
                timestamp=m.get("timestamp"),
                speaker=m.get("speaker"),
            )
            for m in item["memories"]
        ]
        questions = [
            Question(qid=f"{index}:{j}", text=str(q["query"]), category="", gold=frozenset(map(str, q["relevant"])))
            for j, q in enumerate(item["questions"])
        ]
        haystacks.append(Haystack(key=str(index), units=units, questions=questions))
    return haystacks


_NAMES = (("Alex", "Sam"), ("Maria", "Jon"), ("Priya", "Leo"), ("Tom", "Ines"), ("Yuki", "Omar"), ("Ada", "Ben"))
_FIRST_PERSON = (
    (re.compile(r"\bI'm\b"), "{u} is"),
    (re.compile(r"\bI've\b"), "{u} has"),
    (re.compile(r"\bI'd\b"), "{u} would"),
    (re.compile(r"\bI\b"), "{u}"),
    (re.compile(r"\b(?:me|myself)\b", re.IGNORECASE), "{u}"),
    (re.compile(r"\b(?:my|mine)\b", re.IGNORECASE), "{u}'s"),
    (re.compile(r"\byour\b", re.IGNORECASE), "{a}'s"),
    (re.compile(r"\byou\b", re.IGNORECASE), "{a}"),
)


def name_speakers(haystacks: Sequence[Haystack]) -> list[Haystack]:
    """Copies of two-party (user/assistant) haystacks in which the parties have names.

    Each turn gets its party's name as speaker (the stored text is unchanged), and
    each question's first and second person become those names ("What did I buy?"
    -> "What did Alex buy?"), as in a conversation between named people. LongMemEval
    names no speaker, so without these copies the ranker could not learn what a
    query naming a speaker says about that speaker's memories. Question ids get
    ``#named``; :func:`cross_validate` keeps a copy in its original's fold.
    """
    out = []
    for index, haystack in enumerate(haystacks):
        user, assistant = _NAMES[index % len(_NAMES)]
        units = [
            replace(
                u,
                speaker=user if u.text.startswith("user:") else assistant if u.text.startswith("assistant:") else None,
            )
            for u in haystack.units
        ]
        questions = []
        for question in haystack.questions:
            text = question.text
            for pattern, template in _FIRST_PERSON:
                text = pattern.sub(template.format(u=user, a=assistant), text)
            if text != question.text:
                questions.append(replace(question, qid=f"{question.qid}#named", text=text))
        if questions:
            out.append(replace(haystack, key=f"{haystack.key}#named", units=units, questions=questions))
    return out


def pool_haystacks(haystacks: Sequence[Haystack], size: int) -> list[Haystack]:
    """Each haystack joined by the memories of the ``size - 1`` haystacks after it (cyclically).

    LongMemEval's oracle haystacks hold only a question's evidence sessions, about 20
    turns; real memories hold hundreds, most about something else. Pooling makes
    the other questions' sessions distractors (a memory id held twice is kept once),
    so the ranker learns from candidate sets of a realistic size and base rate; the
    gold stays each question's own.
    """
    if size <= 1 or len(haystacks) <= 1:
        return list(haystacks)
    out = []
    for index, haystack in enumerate(haystacks):
        units: dict[str, Unit] = {u.uid: u for u in haystack.units}
        for step in range(1, min(size, len(haystacks))):
            for unit in haystacks[(index + step) % len(haystacks)].units:
                units.setdefault(unit.uid, unit)
        # In time order; a session's turns stay together and in their order (its
        # turns share the session's time, and the sort is stable).
        ordered = sorted(units.values(), key=lambda u: (u.timestamp is None, u.timestamp or 0.0))
        out.append(replace(haystack, units=ordered))
    return out


def load_training_haystacks(path: str, limit: int | None = None) -> list[Haystack]:
    """Haystacks with turn-level gold from a LongMemEval, LoCoMo or generic file (see the module docstring)."""
    data = load_json(path)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        first = data[0]
        if "haystack_sessions" in first:
            return load_longmemeval(data, level="turn", limit=limit)
        if "conversation" in first:
            return load_locomo(data, limit=limit)
        if "memories" in first:
            return _generic_haystacks(data[:limit] if limit else data)
    raise ValueError(f"{path}: not LongMemEval, LoCoMo or the generic training format")


def _ingest(memory: HippoMemory, units: Sequence[Unit]) -> None:
    from .._memory import MemoryInput

    inputs: list[MemoryInput] = []
    for unit in units:
        spec: MemoryInput = {"id": unit.uid, "text": unit.text, "session": unit.session}
        if unit.timestamp is not None:
            spec["timestamp"] = unit.timestamp
        if unit.speaker:
            spec["metadata"] = {"speaker": unit.speaker}
        inputs.append(spec)
    memory.remember_many(inputs, namespace=NAMESPACE)


def dump_features(
    haystacks: Sequence[Haystack],
    encoder: Encoder,
    config: HippoConfig,
    *,
    parents: dict[str, str] | None = None,
    progress: bool = False,
) -> FeatureDump:
    """Run the recall stages on every question and keep every candidate's features and label.

    Args:
        haystacks: Turn-level haystacks (gold = relevant turns).
        encoder: The encoder (cached in the bench).
        config: Engine settings (the ranker's features do not depend on ``ranker``).
        parents: uid -> the unit it belongs to, for session-level metrics (default: itself).
        progress: Print progress to stderr.
    """
    from .._memory import HippoMemory
    from .._recall import candidate_table

    config = config.model_copy(update={"durable": False, "ranker": "fusion"})
    xs: list[npt.NDArray[np.float32]] = []
    ys: list[npt.NDArray[np.int8]] = []
    groups: list[npt.NDArray[np.int64]] = []
    fused: list[npt.NDArray[np.float32]] = []
    parent_rows: list[str] = []
    n_gold: list[int] = []
    gold_parents: list[frozenset[str]] = []
    qids: list[str] = []
    parents = parents or {}
    for h_index, haystack in enumerate(haystacks):
        with HippoMemory(None, encoder=encoder, config=config, device="cpu") as memory:
            _ingest(memory, haystack.units)
            part = memory._partition(NAMESPACE)
            assert part is not None
            vectors = encoder.encode([q.text for q in haystack.questions])
            for question, vector in zip(haystack.questions, vectors, strict=True):
                with memory._locked(part):
                    table = candidate_table(
                        part,
                        np.asarray(vector, dtype=np.float32),
                        query=question.text,
                        k=min(DEPTH, part.n_memories),
                        slots=None,
                        include_superseded=False,
                        min_similarity=None,
                        want_features=True,
                    )
                assert table.features is not None
                ids = [str(part.slot_id[int(s)]) for s in table.uniq]
                xs.append(table.features)
                ys.append(np.asarray([i in question.gold for i in ids], dtype=np.int8))
                groups.append(np.full(len(ids), len(qids), dtype=np.int64))
                fused.append(table.fused)
                parent_rows.extend(parents.get(i, i) for i in ids)
                n_gold.append(len(question.gold))
                gold_parents.append(frozenset(parents.get(g, g) for g in question.gold))
                qids.append(question.qid)
        if progress and (h_index + 1) % 10 == 0:
            print(f"[train-ranker] {h_index + 1}/{len(haystacks)} haystacks", file=sys.stderr, flush=True)
    return FeatureDump(
        np.concatenate(xs) if xs else np.zeros((0, len(FEATURES)), np.float32),
        np.concatenate(ys) if ys else np.zeros(0, np.int8),
        np.concatenate(groups) if groups else np.zeros(0, np.int64),
        np.concatenate(fused) if fused else np.zeros(0, np.float32),
        np.asarray(parent_rows, dtype=object),
        np.asarray(n_gold, dtype=np.int64),
        gold_parents,
        qids,
    )


def rank_metrics(dump: FeatureDump, scores: npt.NDArray[Any], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Per-question ranking metrics of ``scores`` over the dumped candidates (mean over questions).

    ``recall_any@k``: some gold memory in the top k; ``recall_all@k``: all of them
    (gold memories the candidate stage never found count as missed);
    ``session_any@k`` / ``session_all@k``: the same over parents (a unit ranked where
    its best candidate ranks).
    """
    out: dict[str, list[float]] = {}
    order = np.lexsort((-np.asarray(scores, dtype=np.float64), dump.group))
    bounds = np.flatnonzero(np.diff(dump.group[order])) + 1
    for rows in np.split(order, bounds):
        if not rows.size:
            continue
        g = int(dump.group[rows[0]])
        labels = dump.y[rows]
        parents = list(dict.fromkeys(dump.parent[rows].tolist()))
        gold = dump.gold_parents[g]
        for k in ks:
            hit = int(labels[:k].sum())
            out.setdefault(f"recall_any@{k}", []).append(float(hit > 0))
            out.setdefault(f"recall_all@{k}", []).append(float(hit >= dump.n_gold[g]))
            top = set(parents[:k])
            out.setdefault(f"session_any@{k}", []).append(float(bool(top & gold)))
            out.setdefault(f"session_all@{k}", []).append(float(gold <= top))
    return {name: float(np.mean(values)) for name, values in out.items()}


def cross_validate(
    dump: FeatureDump, *, folds: int = 5, l2: float = 1.0, features: tuple[str, ...] = FEATURES, seed: int = 0
) -> tuple[npt.NDArray[np.float64], list[int]]:
    """Out-of-fold probabilities: each question scored by a model fitted without it.

    Returns:
        ``(p, fold_of_question)``: float64 ``(n,)`` held-out probabilities and each question's fold.
    """
    bases = [qid.removesuffix("#named") for qid in dump.qids]
    distinct = sorted(set(bases))
    folds = min(folds, len(distinct))
    if folds < 2:
        raise ValueError(f"cross-validation needs 2 questions or more, not {len(distinct)}")
    # A question and its named copy share a fold: no model sees a paraphrase of its test question.
    base_fold = dict(zip(distinct, np.random.default_rng(seed).permutation(len(distinct)) % folds, strict=True))
    fold_of = np.asarray([base_fold[b] for b in bases], dtype=np.int64)
    p = np.zeros(dump.y.shape[0], dtype=np.float64)
    for fold in range(folds):
        test = fold_of[dump.group] == fold
        model = fit_logistic(dump.x[~test], dump.y[~test], features=features, l2=l2)
        p[test] = model.probability(dump.x[test])
    return p, [int(f) for f in fold_of]


def question_fold(qid: str, folds: int) -> int:
    """A question's fold among ``folds``, from its id alone.

    The same question gets the same fold in every file and run (LongMemEval's
    oracle and ``_s`` files share question ids), so a model trained on one file's
    other folds can be tested on another file's questions of this fold.
    """
    base = qid.removesuffix("#named")
    return int.from_bytes(hashlib.sha1(base.encode("utf-8")).digest()[:4], "big") % folds


def train_fold_rankers(
    train_paths: Sequence[str],
    *,
    folds: int,
    encoder: Encoder,
    config: HippoConfig,
    out_dir: str | Path,
    pool: int = 12,
    features: tuple[str, ...] = FEATURES,
    l2: float = 1.0,
    progress: bool = False,
) -> list[Path]:
    """Fit one ranker per fold, each without the questions of its fold.

    Used to score a benchmark's questions with weights that never saw them (the
    shipped weights were trained on LongMemEval's dev questions, so testing them on
    the same questions of another LongMemEval file would leak): a test question of
    fold ``f`` (:func:`question_fold`) is ranked by ``paths[f]``.

    Args:
        train_paths: Labelled training files (see :func:`load_training_haystacks`).
        folds: Number of folds (at least 2).
        encoder: The encoder.
        config: Engine settings whose stages produce the features.
        out_dir: Where the ``fold<f>.json`` weights files are written.
        pool: Haystack pooling (see :func:`pool_haystacks`).
        features: Features the models read.
        l2: Ridge penalty.
        progress: Print progress to stderr.

    Returns:
        The weights file of each fold, index = fold.

    Raises:
        ValueError: ``folds`` is under 2, or a fold's training rows hold no relevant candidate.
    """
    if folds < 2:
        raise ValueError(f"fold rankers need 2 folds or more, not {folds}")
    haystacks: list[Haystack] = []
    for train_path in train_paths:
        haystacks += load_training_haystacks(train_path)
    if pool > 1:
        haystacks = pool_haystacks(haystacks, pool)
    dump = dump_features(haystacks, encoder, config, progress=progress)
    fold_of = np.asarray([question_fold(qid, folds) for qid in dump.qids], dtype=np.int64)[dump.group]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for fold in range(folds):
        train = fold_of != fold
        if not dump.y[train].any():
            raise ValueError(f"fold {fold}: no relevant candidate to learn from")
        model = fit_logistic(
            dump.x[train],
            dump.y[train],
            features=features,
            l2=l2,
            provenance={
                "trained_on": [Path(p).name for p in train_paths],
                "held_out_fold": fold,
                "folds": folds,
                "pooled_haystacks": pool,
                "questions": len({int(g) for g in dump.group[train]}),
                "encoder": encoder.name,
            },
        )
        weights = out / f"fold{fold}.json"
        model.save(weights)
        paths.append(weights)
    return paths


def _format_reliability(p: npt.NDArray[Any], y: npt.NDArray[Any]) -> tuple[list[str], float, list[dict[str, float]]]:
    bins, ece = reliability_table(p, y)
    lines = [f"{'predicted':>12} {'n':>7} {'mean p':>7} {'observed':>8}"]
    lines += [f"{b.low:>5.2f}-{b.high:<5.2f} {b.n:>8} {b.predicted:>7.3f} {b.observed:>8.3f}" for b in bins]
    return lines, ece, [b._asdict() for b in bins]


def _run(args: argparse.Namespace) -> int:
    from ._conversations import make_encoder
    from ._enc_cache import CachedEncoder, stderr_progress

    started = time.perf_counter()
    haystacks: list[Haystack] = []
    sources: list[str] = []
    for path in args.data:
        haystacks += load_training_haystacks(path, args.limit)
        sources.append(Path(path).name)
    if args.pool > 1:
        haystacks = pool_haystacks(haystacks, args.pool)
    if args.name_speakers:
        haystacks += name_speakers(haystacks)
    overrides = dict(args.config)
    config = HippoConfig.create(**overrides)
    inner = make_encoder(args.encoder)
    encoder = CachedEncoder(inner, args.cache_dir, progress=None if args.quiet else stderr_progress(inner.name))
    parents = {u.uid: u.session for h in haystacks for u in h.units}
    try:
        dump = dump_features(haystacks, encoder, config, parents=parents, progress=not args.quiet)
    finally:
        encoder.close()
    if not dump.y.any():
        print("error: no candidate is labelled relevant; nothing to learn", file=sys.stderr)
        return 2
    if args.dump:
        np.savez_compressed(
            args.dump,
            x=dump.x,
            y=dump.y,
            group=dump.group,
            fused=dump.fused,
            parent=dump.parent.astype(str),
            n_gold=dump.n_gold,
            qids=np.asarray(dump.qids),
            features=np.asarray(FEATURES),
        )
    features = tuple(f.strip() for f in args.features.split(",") if f.strip()) if args.features else FEATURES
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        print(f"error: unknown feature(s) {unknown}; known: {', '.join(FEATURES)}", file=sys.stderr)
        return 2
    p_cv, _ = cross_validate(dump, folds=args.folds, l2=args.l2, features=features)
    fused_metrics = rank_metrics(dump, dump.fused)
    cv_metrics = rank_metrics(dump, p_cv)
    lines, ece, bins = _format_reliability(p_cv, dump.y)
    model = fit_logistic(
        dump.x,
        dump.y,
        features=features,
        l2=args.l2,
        provenance={
            "trained_on": sources,
            "questions": len(dump.qids),
            "candidates": int(dump.y.shape[0]),
            "relevant": int(dump.y.sum()),
            "encoder": encoder.name,
            "l2": args.l2,
            "named_speaker_copies": bool(args.name_speakers),
            "pooled_haystacks": args.pool,
            "config_overrides": overrides,
            "cv_folds": args.folds,
            "cv_ece": round(ece, 4),
            "cv_metrics": {k: round(v, 4) for k, v in cv_metrics.items()},
            "fusion_metrics": {k: round(v, 4) for k, v in fused_metrics.items()},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    model.save(args.out)
    print(f"{len(dump.qids)} questions, {dump.y.shape[0]} candidates ({int(dump.y.sum())} relevant) from {sources}")
    print(f"\n{'metric':<16} {'fusion':>8} {'learned (CV by question)':>25}")
    for name in cv_metrics:
        print(f"{name:<16} {fused_metrics[name]:>8.3f} {cv_metrics[name]:>25.3f}")
    print(f"\nreliability of the held-out probabilities (ECE {ece:.4f})")
    print("\n".join(lines))
    print(f"\ncoefficients (standardised features) -> {args.out}")
    for name, coef in sorted(zip(model.features, model.coef, strict=True), key=lambda t: -abs(t[1])):
        print(f"  {name:<14} {coef:+.3f}")
    if args.json:
        report = {
            "data": sources,
            "questions": len(dump.qids),
            "candidates": int(dump.y.shape[0]),
            "fusion": fused_metrics,
            "learned_cv": cv_metrics,
            "ece": ece,
            "reliability": bins,
            "weights": model.to_dict(),
            "seconds": round(time.perf_counter() - started, 1),
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def register_command(bench_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``train-ranker`` to a ``bench`` parser."""
    from .._encoder import DEFAULT_MODEL

    parser = bench_subparsers.add_parser(
        "train-ranker",
        help="fit the learned ranker on labelled conversations and write a weights file",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("data", nargs="+", help="LongMemEval, LoCoMo or generic JSON (.json / .json.gz)")
    parser.add_argument(
        "--out", required=True, help="weights file to write (JSON); name it in HippoConfig.ranker_weights"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="first N questions of each file")
    parser.add_argument(
        "--name-speakers",
        action="store_true",
        help="also train on copies of two-party (user/assistant) haystacks whose parties and questions use names",
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=1,
        metavar="N",
        help="join each question's haystack with the next N-1 haystacks' memories as distractors (default 1: alone)",
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds, by question (default 5)")
    parser.add_argument("--l2", type=float, default=1.0, help="ridge penalty (default 1.0)")
    parser.add_argument(
        "--features",
        metavar="a,b,...",
        help="features the model reads (default: all of hippo_memory._features.FEATURES)",
    )
    parser.add_argument("--json", metavar="OUT", help="write the report (metrics, reliability table) as JSON")
    parser.add_argument("--dump", metavar="OUT.npz", help="also save the feature rows")
    parser.add_argument("--encoder", default=DEFAULT_MODEL, help=f"encoder (default {DEFAULT_MODEL})")
    add_cache_dir_argument(parser)
    add_config_argument(parser, "the engine whose stages produce the features", "lexical_window=1")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=_run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hippo_memory.bench._train``."""
    parser = argparse.ArgumentParser(prog="python -m hippo_memory.bench._train")
    register_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train-ranker", *(argv if argv is not None else sys.argv[1:])])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
