"""``hippo-memory bench nightly`` and ``bench knowledge-update``: consolidation, measured.

``nightly`` (the prototype's experiment, re-measured): an agent learns ``--per-day``
templated facts a day for ``--days`` days; every night :meth:`HippoMemory.consolidate`
runs. Time is simulated (the memory's ``clock``) and compressed: an untouched
memory's strength halves every ``--half-life`` days and consolidation forgets it
below ``--forget-below``, so a fact nobody recalls or replays is really deleted
after about ``log2(1 / forget_below) * half_life`` days. Replay is budgeted
(``--budget`` memories a night, by default one day's intake): each replay resets a
memory's clock and, the more faded it was, the more it lengthens its half-life
(spacing effect), so a budget smaller than the store has to choose. After the last
night every fact is asked for with a paraphrased question (the question wording
never appears in the stored text) and recall@k is reported per learning day for:

- ``no replay``: budget 0, decay alone;
- ``random replay``: the same budget spent on randomly chosen memories;
- ``prioritised replay``: the engine's priority ``(1 + salience) * (1 + log1p(access))
  * (1 - strength)``;
- ``prioritised, half budget``;
- ``prioritised, no spacing``: the full budget, but a replay only resets the clock
  (``stability_growth = 1``): the budget then cannot keep up with the store.

A fact that was forgotten cannot be recalled; one that survives still has to be
found among all the others by the real two-stage recall.

``knowledge-update`` ranks the haystack sessions of LongMemEval's knowledge-update
questions by their best user turn, once without and once with supersession
detection (``HippoConfig.detect_supersession``), and reports how often the session
holding the latest value ranks above the outdated one, and recall of the gold
sessions, with superseded turns hidden (default recall) and demoted
(``include_superseded=True``). ``--config KEY=VALUE`` sets a ``HippoConfig`` field
for every system (``--config lexical_weight=0`` turns recall's BM25 channel off,
``--config spread=0`` its spreading activation), to see what a part of recall does to
the order of the two answer sessions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import HippoConfig
from .._encoder import DEFAULT_MODEL, Encoder, HashingEncoder, load_encoder
from ._args import add_config_argument, positive_int
from ._datasets import _parse_lme_date, load_json
from ._enc_cache import DEFAULT_CACHE_DIR, CachedEncoder
from ._facts import make_facts

if TYPE_CHECKING:
    from .._consolidation import PriorityFn
    from .._memory import HippoMemory, MemoryInput

__all__ = ["register_command", "run_knowledge_update", "run_nightly"]

DAY = 86_400.0
_START = 1_700_000_000.0  # 2023-11-14, any fixed origin of simulated time


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}; {cpu + '; ' if cpu else ''}{os.cpu_count()} CPUs"


def _encoder(spec: str | None, cache_dir: str | None) -> Encoder:
    """``hashing[:DIM]`` for the model-free encoder, else a model (cached on disk)."""
    if spec is not None and (spec == "hashing" or spec.startswith("hashing:")):
        return HashingEncoder(int(spec.split(":", 1)[1]) if ":" in spec else 256)
    inner = load_encoder(spec or DEFAULT_MODEL)
    return CachedEncoder(inner, cache_dir) if cache_dir else inner


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _random_priority(seed: int) -> PriorityFn:
    rng = np.random.default_rng(seed)

    def priority(salience: Any, access: Any, strength: Any) -> Any:
        return rng.random(strength.shape[0]) * (strength < 1.0)

    return priority


# ---------------------------------------------------------------------------- nightly
def run_nightly(
    encoder: Encoder,
    *,
    days: int = 7,
    per_day: int = 100,
    budget: int = 100,
    half_life: float = 1.0,
    forget_below: float = 0.1,
    growth: float = 3.0,
    salient_fraction: float = 0.1,
    daily_recalls: int = 0,
    ks: Sequence[int] = (1, 5),
    seed: int = 0,
    arms: Sequence[str] = (
        "no replay",
        "random replay",
        "prioritised replay",
        "prioritised, half budget",
        "prioritised, no spacing",
    ),
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the multi-night benchmark; returns the report (see the module docstring)."""
    from .._consolidation import replay_priority

    facts = make_facts(days * per_day, seed=seed)
    rng = random.Random(seed)
    salient = [rng.random() < salient_fraction for _ in facts]
    statements = [f.statement(0) for f in facts]
    questions = [f.question(0) for f in facts]
    query_vectors = encoder.encode(questions)
    config = HippoConfig(
        half_life_days=half_life,
        forget_below=forget_below,
        stability_growth=growth,
        replay_budget=budget,
        durable=False,
    )
    plans: dict[str, tuple[int, PriorityFn | None, float]] = {
        "no replay": (0, None, growth),
        "random replay": (budget, _random_priority(seed), growth),
        "prioritised replay": (budget, replay_priority, growth),
        "prioritised, half budget": (budget // 2, replay_priority, growth),
        "prioritised, no spacing": (budget, replay_priority, 1.0),
    }
    results: dict[str, Any] = {}
    for arm in arms:
        arm_budget, priority, arm_growth = plans[arm]
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="hippo-nightly-") as directory:
            results[arm] = _one_arm(
                encoder,
                config.model_copy(update={"stability_growth": arm_growth}),
                facts_text=statements,
                salient=salient,
                query_vectors=query_vectors,
                questions=questions,
                days=days,
                per_day=per_day,
                budget=arm_budget,
                priority=priority,
                daily_recalls=daily_recalls,
                ks=ks,
                seed=seed,
                path=Path(directory) / "store",
            )
        results[arm]["seconds"] = round(time.perf_counter() - started, 1)
        if not quiet:
            _log(f"nightly: {arm} done in {results[arm]['seconds']} s")
    return {
        "benchmark": "nightly",
        "encoder": encoder.name,
        "machine": _machine(),
        "settings": {
            "days": days,
            "per_day": per_day,
            "budget": budget,
            "half_life_days": half_life,
            "forget_below": forget_below,
            "stability_growth": growth,
            "salient_fraction": salient_fraction,
            "daily_recalls": daily_recalls,
            "seed": seed,
            "untouched_lifetime_days": round(math.log2(1 / forget_below) * half_life, 2) if forget_below > 0 else None,
        },
        "ks": list(ks),
        "arms": results,
    }


def _one_arm(
    encoder: Encoder,
    config: HippoConfig,
    *,
    facts_text: list[str],
    salient: list[bool],
    query_vectors: np.ndarray,
    questions: list[str],
    days: int,
    per_day: int,
    budget: int,
    priority: PriorityFn | None,
    daily_recalls: int,
    ks: Sequence[int],
    seed: int,
    path: Path,
) -> dict[str, Any]:
    from .._consolidation import consolidate
    from .._memory import HippoMemory  # torch: imported only when the benchmark runs

    clock = _Clock(_START)
    memory = HippoMemory(path, encoder=encoder, config=config)
    memory.clock = clock
    rng = random.Random(seed + 1)
    ids: list[str] = []
    nights = []
    try:
        for day in range(days):
            # learning happens through the day, 09:00 to 17:00
            batch = range(day * per_day, (day + 1) * per_day)
            for start in range(0, per_day, 10):
                clock.now = _START + day * DAY + (9 + 8 * start / per_day) * 3600
                items: list[MemoryInput] = [
                    {"text": facts_text[i], "salience": 1.0 if salient[i] else 0.0} for i in batch[start : start + 10]
                ]
                ids.extend(memory.remember_many(items, namespace=("agent",)))
                if daily_recalls and day > 0:
                    for _ in range(max(1, daily_recalls * 10 // per_day)):
                        i = rng.randrange(day * per_day)
                        memory.recall_vector(query_vectors[i], query=questions[i], namespace=("agent",), k=1)
            clock.now = _START + (day + 1) * DAY - 3600  # 23:00: sleep
            part = memory._partition(("agent",))  # the bench's one tenant; its replay priority is swapped
            assert part is not None
            report = consolidate(part, replay_budget=budget, _priority=priority)
            nights.append(
                {
                    "night": day + 1,
                    "replayed": report.replayed,
                    "decayed": report.decayed,
                    "merged": report.merged,
                    "memories_after": report.memories_after,
                    "compacted": report.compacted,
                    "seconds": round(report.duration_s, 3),
                    "lock_ms": round(report.lock_ms, 1),
                }
            )
        # the morning after the last night: ask for every fact
        clock.now = _START + days * DAY + 9 * 3600
        stored = {m.id for m in memory.list(("agent",))}
        depth = max(ks)
        found = np.zeros((len(ids), len(ks)), dtype=bool)
        kept = np.zeros(len(ids), dtype=bool)
        for i, memory_id in enumerate(ids):
            kept[i] = memory_id in stored
            result = memory.recall_vector(query_vectors[i], query=questions[i], namespace=("agent",), k=depth)
            ranked = [hit.memory.id for hit in result.hits]
            if memory_id in ranked:
                rank = ranked.index(memory_id)
                for j, k in enumerate(ks):
                    found[i, j] = rank < k
        day_of = np.repeat(np.arange(days), per_day)
        salient_mask = np.asarray(salient)
        per_day_out = []
        for day in range(days):
            mask = day_of == day
            per_day_out.append(
                {
                    "day": day + 1,
                    "retained": round(float(kept[mask].mean()), 4),
                    **{f"recall@{k}": round(float(found[mask, j].mean()), 4) for j, k in enumerate(ks)},
                }
            )
        return {
            "budget": budget,
            "per_day": per_day_out,
            "all_days": {f"recall@{k}": round(float(found[:, j].mean()), 4) for j, k in enumerate(ks)},
            "salient_day1": round(float(found[(day_of == 0) & salient_mask, -1].mean()), 4)
            if ((day_of == 0) & salient_mask).any()
            else None,
            "stored_after": len(stored),
            "nights": nights,
        }
    finally:
        memory.close()


def format_nightly(report: dict[str, Any]) -> str:
    """The table printed by ``bench nightly``."""
    ks = report["ks"]
    s = report["settings"]
    lines = [
        f"nightly consolidation: {s['per_day']} facts/day for {s['days']} days, half-life "
        f"{s['half_life_days']} d, forgotten below strength {s['forget_below']} "
        f"(untouched lifetime {s['untouched_lifetime_days']} d), replay budget {s['budget']}/night",
        f"encoder {report['encoder']}; {report['machine']}",
        "",
    ]
    head = f"{'arm':<26}{'budget':>7}{'day-1 kept':>12}" + "".join(f"{'day-1 R@' + str(k):>11}" for k in ks)
    head += "".join(f"{'all R@' + str(k):>9}" for k in ks) + f"{'stored':>8}"
    lines += [head, "-" * len(head)]
    for arm, out in report["arms"].items():
        first = out["per_day"][0]
        row = f"{arm:<26}{out['budget']:>7}{first['retained']:>12.1%}"
        row += "".join(f"{first[f'recall@{k}']:>11.1%}" for k in ks)
        row += "".join(f"{out['all_days'][f'recall@{k}']:>9.1%}" for k in ks) + f"{out['stored_after']:>8}"
        lines.append(row)
    k = ks[-1]
    lines += ["", f"recall@{k} by learning day (after the last night):"]
    days = len(next(iter(report["arms"].values()))["per_day"])
    head = f"{'arm':<26}" + "".join(f"{'day ' + str(d + 1):>8}" for d in range(days))
    lines += [head, "-" * len(head)]
    for arm, out in report["arms"].items():
        lines.append(f"{arm:<26}" + "".join(f"{d[f'recall@{k}']:>8.1%}" for d in out["per_day"]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- knowledge update
def run_knowledge_update(
    path: str | os.PathLike[str],
    encoder: Encoder,
    *,
    limit: int | None = None,
    max_sessions: int | None = 20,
    similarity: float = 0.6,
    overrides: Mapping[str, Any] | None = None,
    depth: int = 10,
    seed: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    """LongMemEval knowledge-update questions, with and without supersession.

    Each question gets fresh memories holding the user turns of its haystack
    sessions (in date order, one memory per turn, timestamped with the session
    date); sessions are ranked by their best turn among the top ``depth * 5`` hits.

    Args:
        path: ``longmemeval_s`` (``.json`` or ``.json.gz``).
        encoder: The encoder (a cached one saves re-encoding between systems).
        limit: First N knowledge-update questions.
        max_sessions: Keep the two answer sessions and this many sessions in all
            (seeded sample); ``None`` keeps the whole haystack.
        similarity: ``HippoConfig.supersede_similarity`` for the supersession run.
        overrides: ``HippoConfig`` fields set for every system, e.g.
            ``{"lexical_weight": 0}``; the rest are the benchmark's settings.

    Raises:
        InvalidConfigError: ``overrides`` names an unknown field or a bad value.
        depth: Rank cut-off reported (and 1, 3, 5 below it).
    """
    from .._memory import HippoMemory  # torch: imported only when the benchmark runs

    data = [
        item
        for item in load_json(path)
        if item.get("question_type") == "knowledge-update" and not str(item["question_id"]).endswith("_abs")
    ]
    if limit is not None:
        data = data[:limit]
    rng = random.Random(seed)
    fields = dict(overrides or {})
    base = HippoConfig.create(**{"durable": False, "context_cues": False, **fields})
    detecting = HippoConfig.create(
        **{**base.model_dump(), "detect_supersession": True, "supersede_similarity": similarity}
    )
    systems = {
        "without supersession": (base, False),
        "with supersession (hidden)": (detecting, False),
        "with supersession (demoted)": (detecting, True),
    }
    ks = [k for k in (1, 3, 5, 10) if k <= depth]
    per_question = []
    started = time.perf_counter()
    for number, item in enumerate(data):
        sessions = list(
            zip(item["haystack_session_ids"], item["haystack_dates"], item["haystack_sessions"], strict=True)
        )
        gold = [str(s) for s in item["answer_session_ids"]]
        if max_sessions is not None and len(sessions) > max_sessions:
            others = [s for s in sessions if str(s[0]) not in gold]
            keep = {str(s[0]) for s in rng.sample(others, max(0, max_sessions - len(gold)))} | set(gold)
            sessions = [s for s in sessions if str(s[0]) in keep]
        sessions.sort(key=lambda s: str(s[1]))
        dated = {str(sid): _parse_lme_date(date) for sid, date, _ in sessions}
        gold_sorted = sorted(gold, key=lambda sid: dated.get(sid) or 0.0)
        outdated, latest = gold_sorted[0], gold_sorted[-1]
        row: dict[str, Any] = {"qid": item["question_id"], "question": item["question"], "systems": {}}
        memories: dict[bool, HippoMemory] = {}
        for name, (config, demoted) in systems.items():
            detect = config.detect_supersession
            if detect not in memories:
                memory = HippoMemory(None, encoder=encoder, config=config)
                for sid, _date, turns in sessions:
                    batch: list[MemoryInput] = [
                        {
                            "text": str(t["content"]).strip(),
                            "metadata": {"session": str(sid)},
                            "timestamp": dated[str(sid)],
                        }
                        for t in turns
                        if t.get("role") == "user" and str(t.get("content", "")).strip()
                    ]
                    if batch:
                        memory.remember_many(batch, namespace=("user",), session=str(sid))
                memories[detect] = memory
            memory = memories[detect]
            result = memory.recall(item["question"], namespace=("user",), k=depth * 5, include_superseded=demoted)
            ranked: list[str] = []
            for hit in result.hits:
                sid = str(hit.memory.metadata["session"])
                if sid not in ranked:
                    ranked.append(sid)
            rank = {sid: i for i, sid in enumerate(ranked)}
            r_latest, r_outdated = rank.get(latest, math.inf), rank.get(outdated, math.inf)
            row["systems"][name] = {
                "latest_rank": None if math.isinf(r_latest) else int(r_latest),
                "outdated_rank": None if math.isinf(r_outdated) else int(r_outdated),
                "latest_above": bool(r_latest < r_outdated),
                **{f"latest@{k}": bool(r_latest < k) for k in ks},
                **{f"any@{k}": bool(min(r_latest, r_outdated) < k) for k in ks},
                "superseded_turns": memory.stats()["superseded"],
            }
        for memory in memories.values():
            memory.close()
        per_question.append(row)
        if not quiet:
            _log(f"knowledge-update: {number + 1}/{len(data)} ({time.perf_counter() - started:.0f} s)")
    summary: dict[str, Any] = {}
    for name in systems:
        rows = [q["systems"][name] for q in per_question]
        n = max(1, len(rows))
        summary[name] = {
            "latest_above_outdated": round(sum(r["latest_above"] for r in rows) / n, 4),
            **{f"latest@{k}": round(sum(r[f"latest@{k}"] for r in rows) / n, 4) for k in ks},
            **{f"any@{k}": round(sum(r[f"any@{k}"] for r in rows) / n, 4) for k in ks},
            "superseded_turns_per_question": round(sum(r["superseded_turns"] for r in rows) / n, 2),
        }
    return {
        "benchmark": "knowledge-update",
        "dataset": Path(path).name,
        "encoder": encoder.name,
        "machine": _machine(),
        "settings": {
            "limit": limit,
            "max_sessions": max_sessions,
            "supersede_similarity": similarity,
            "config": fields,
            "depth": depth,
            "seed": seed,
        },
        "questions": len(per_question),
        "ks": ks,
        "summary": summary,
        "per_question": per_question,
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_knowledge_update(report: dict[str, Any]) -> str:
    """The table printed by ``bench knowledge-update``."""
    ks = report["ks"]
    s = report["settings"]
    lines = [
        f"LongMemEval knowledge-update ({report['dataset']}): {report['questions']} questions, "
        f"{'all' if s['max_sessions'] is None else '<= ' + str(s['max_sessions'])} sessions each, "
        f"one memory per user turn; supersede_similarity {s['supersede_similarity']}"
        + "".join(f", {key} {value}" for key, value in s.get("config", {}).items()),
        f"encoder {report['encoder']}; {report['machine']}",
        "",
    ]
    head = f"{'system':<30}{'latest above outdated':>23}" + "".join(f"{'latest@' + str(k):>10}" for k in ks)
    head += "".join(f"{'any@' + str(k):>8}" for k in ks) + f"{'superseded/q':>14}"
    lines += [head, "-" * len(head)]
    for name, row in report["summary"].items():
        line = f"{name:<30}{row['latest_above_outdated']:>23.1%}"
        line += "".join(f"{row[f'latest@{k}']:>10.1%}" for k in ks)
        line += "".join(f"{row[f'any@{k}']:>8.1%}" for k in ks)
        line += f"{row['superseded_turns_per_question']:>14.1f}"
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- commands
def _parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers like 1,5: {text!r}") from exc
    if not ks or ks[0] < 1:
        raise argparse.ArgumentTypeError("cut-offs must be positive")
    return ks


def _write_json(report: dict[str, Any], target: str | None) -> None:
    if target:
        out = Path(target)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {out}")


def _nightly_command(args: argparse.Namespace) -> int:
    encoder = _encoder(args.encoder, args.cache_dir)
    try:
        report = run_nightly(
            encoder,
            days=args.days,
            per_day=args.per_day,
            budget=args.budget,
            half_life=args.half_life,
            forget_below=args.forget_below,
            growth=args.growth,
            salient_fraction=args.salient,
            daily_recalls=args.daily_recalls,
            ks=args.k,
            seed=args.seed,
            quiet=args.quiet,
        )
    finally:
        if isinstance(encoder, CachedEncoder):
            encoder.close()
    print(format_nightly(report))
    _write_json(report, args.json)
    return 0


def _knowledge_update_command(args: argparse.Namespace) -> int:
    encoder = _encoder(args.encoder, args.cache_dir)
    try:
        report = run_knowledge_update(
            args.path,
            encoder,
            limit=args.limit,
            max_sessions=args.max_sessions or None,
            similarity=args.similarity,
            overrides=dict(args.config),
            seed=args.seed,
            quiet=args.quiet,
        )
    finally:
        if isinstance(encoder, CachedEncoder):
            encoder.close()
    print(format_knowledge_update(report))
    _write_json(report, args.json)
    return 0


def _add_encoder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoder",
        default=None,
        help=f"model name or path (default {DEFAULT_MODEL}), or 'hashing[:DIM]' (model-free, for tests)",
    )
    parser.add_argument(
        "--cache-dir",
        default=str(DEFAULT_CACHE_DIR),
        help=f"encoding cache for model encoders (default {DEFAULT_CACHE_DIR}; '' disables it)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT", help="write the report as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def register_command(bench_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``nightly`` and ``knowledge-update`` to the ``hippo-memory bench`` subcommands."""
    nightly = bench_subparsers.add_parser(
        "nightly",
        help="multi-night consolidation: day-1 recall with and without replay",
        description=(__doc__ or "").split("\n\n")[1] if __doc__ else None,
    )
    nightly.add_argument("--days", type=positive_int, default=7)
    nightly.add_argument("--per-day", type=positive_int, default=100, help="facts learned per day")
    nightly.add_argument("--budget", type=int, default=100, help="memories replayed per night")
    nightly.add_argument("--half-life", type=float, default=1.0, help="half-life of an untouched memory, days")
    nightly.add_argument("--forget-below", type=float, default=0.1, help="strength below which memories are forgotten")
    nightly.add_argument(
        "--growth", type=float, default=3.0, help="stability growth of a fully faded memory per replay"
    )
    nightly.add_argument("--salient", type=float, default=0.1, help="fraction of facts flagged salient")
    nightly.add_argument("--daily-recalls", type=int, default=0, help="recalls of earlier facts per day (accesses)")
    nightly.add_argument("--k", type=_parse_ks, default=[1, 5], metavar="1,5", help="recall cut-offs")
    _add_encoder(nightly)
    nightly.set_defaults(func=_nightly_command)

    update = bench_subparsers.add_parser(
        "knowledge-update",
        help="LongMemEval knowledge-update: latest value ranked above the outdated one, with and without supersession",
    )
    update.add_argument("path", help="longmemeval_s (.json or .json.gz)")
    update.add_argument("--limit", type=int, help="first N knowledge-update questions")
    update.add_argument(
        "--max-sessions",
        type=int,
        default=20,
        help="sessions kept per haystack (the answer sessions plus a seeded sample; 0 keeps all)",
    )
    update.add_argument("--similarity", type=float, default=0.6, help="supersede_similarity")
    add_config_argument(update, "every system", "lexical_weight=0")
    _add_encoder(update)
    update.set_defaults(func=_knowledge_update_command)
