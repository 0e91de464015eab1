"""The ``hippo-memory`` command line.

Examples::

    hippo-memory --store ./mem add "Alice moved to Lisbon" --namespace alice
    hippo-memory --store ./mem ingest conversation.json --namespace alice
    hippo-memory --store ./mem recall "Where does Alice live?" --namespace alice
    hippo-memory --store ./mem chain "Alice moved to Lisbon" --hops 3
    hippo-memory bench synthetic
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ._errors import HippoMemoryError, InvalidInputError

__all__ = ["main"]

_DEFAULT_STORE = os.environ.get("HIPPO_MEMORY_STORE", ".hippo")


def _namespace(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split("/") if part) or ("default",)


def _open(args: argparse.Namespace) -> Any:
    from ._memory import HippoMemory

    return HippoMemory(args.store, encoder=args.encoder)


def _print(data: Any, as_json: bool, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else text)


def _cmd_add(args: argparse.Namespace) -> int:
    metadata = json.loads(args.metadata) if args.metadata else None
    with _open(args) as mem:
        memory_id = mem.remember(
            args.text,
            namespace=_namespace(args.namespace),
            metadata=metadata,
            timestamp=args.timestamp,
            session=args.session,
            cues=args.cue or (),
        )
    print(memory_id)
    return 0


def _conversation_items(data: Any, limit: int | None) -> Iterator[tuple[tuple[str, ...], str, list[dict[str, Any]]]]:
    """Yield ``(namespace suffix, session, items)`` from any supported format."""
    from .bench._datasets import _parse_lme_date, _parse_locomo_date, locomo_turn_text

    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise InvalidInputError("a conversation file holds a non-empty JSON list")
    first = data[0]
    if isinstance(first, dict) and "conversation" in first:  # LoCoMo
        for index, sample in enumerate(data[:limit]):
            key = str(sample.get("sample_id", f"conversation-{index}"))
            conv = sample["conversation"]
            numbers = sorted(
                int(k.split("_")[1])
                for k, v in conv.items()
                if k.startswith("session_") and k.count("_") == 1 and isinstance(v, list)
            )
            for number in numbers:
                stamp = _parse_locomo_date(conv.get(f"session_{number}_date_time"))
                items = [
                    {
                        "text": locomo_turn_text(t),
                        "timestamp": stamp,
                        "metadata": {"dia_id": t.get("dia_id"), "speaker": t.get("speaker")},
                    }
                    for t in conv[f"session_{number}"]
                    if str(t.get("text", "")).strip()
                ]
                yield (key,), f"session_{number}", items
    elif isinstance(first, dict) and "haystack_sessions" in first:  # LongMemEval
        for item in data[:limit]:
            qid = str(item["question_id"])
            for sid, date, turns in zip(
                item["haystack_session_ids"], item["haystack_dates"], item["haystack_sessions"], strict=False
            ):
                stamp = _parse_lme_date(date)
                items = [
                    {
                        "text": f"{t['role']}: {t['content']}",
                        "timestamp": stamp,
                        "metadata": {"session_id": sid, "role": t["role"]},
                    }
                    for t in turns
                    if str(t.get("content", "")).strip()
                ]
                yield (qid,), str(sid), items
    elif isinstance(first, dict) and "content" in first:  # plain [{role, content, timestamp}]
        items = [
            {
                "text": f"{t.get('role', 'user')}: {t['content']}" if t.get("role") else str(t["content"]),
                "timestamp": t.get("timestamp"),
                "metadata": {"role": t.get("role")},
            }
            for t in data
            if str(t.get("content", "")).strip()
        ]
        yield (), "conversation", items
    else:
        raise InvalidInputError(
            "unrecognised conversation format: expected [{role, content, timestamp}], LoCoMo or LongMemEval"
        )


def _cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .bench._datasets import load_json

    try:
        data = load_json(args.path)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {args.path}: {exc}") from exc
    base = _namespace(args.namespace)
    sessions = list(_conversation_items(data, args.limit))
    total = sum(len(items) for _, _, items in sessions)
    stored = 0
    with _open(args) as mem, tqdm(total=total, unit="turn", disable=args.quiet or total < 200) as bar:
        for suffix, session, items in sessions:
            for start in range(0, len(items), args.batch_size):
                batch = items[start : start + args.batch_size]
                mem.remember_many(batch, namespace=base + suffix, session=args.session or session)
                stored += len(batch)
                bar.update(len(batch))
    print(f"stored {stored} memories from {len(sessions)} sessions")
    return 0


def _hit_dict(hit: Any) -> dict[str, Any]:
    return {
        "rank": hit.rank,
        "score": round(hit.score, 5),
        "id": hit.memory.id,
        "text": hit.memory.text,
        "namespace": list(hit.memory.namespace),
        "timestamp": hit.memory.timestamp,
        "metadata": dict(hit.memory.metadata),
        "diagnostics": {
            "similarity": round(hit.diagnostics.similarity, 4),
            "attention": round(hit.diagnostics.attention, 4),
            "cues_matched": hit.diagnostics.cues_matched,
            "best_cue": hit.diagnostics.best_cue.kind,
        },
    }


def _cmd_recall(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        ns = _namespace(args.namespace) if args.namespace else None
        result = mem.recall(args.query, namespace=ns, k=args.k)
        hits = [_hit_dict(h) for h in result]
        lines = [f"{h['rank'] + 1}. [{h['score']:.3f}] {h['text']}" for h in hits]
        timing = ", ".join(f"{k} {v:.2f} ms" for k, v in result.timings_ms.items())
        _print(
            {"hits": hits, "timings_ms": dict(result.timings_ms)},
            args.json,
            "\n".join([*lines, f"({result.backend} index; {timing})"]) if lines else "no memories found",
        )
    return 0


def _cmd_chain(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        ns = _namespace(args.namespace) if args.namespace else None
        chain = mem.recall_chain(args.query, hops=args.hops, namespace=ns)
        hops = [{"hop": h.hop, "score": round(h.score, 4), "id": h.memory.id, "text": h.memory.text} for h in chain]
        lines = [f"hop {h['hop']} [{h['score']:.3f}] {h['text']}" for h in hops]
        _print(
            {"hops": hops, "stop_reason": chain.stop_reason},
            args.json,
            "\n".join([*lines, f"(stopped: {chain.stop_reason})"]),
        )
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        print(f"forgot {mem.forget(args.ids)} memories")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        stats = mem.stats()
        stats["namespaces_list"] = ["/".join(ns) for ns in mem.namespaces()]
        _print(stats, args.json, "\n".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(args.store if args.store != _DEFAULT_STORE else None, encoder=args.encoder)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hippo-memory", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--store", default=_DEFAULT_STORE, help=f"store directory (default {_DEFAULT_STORE!r} or $HIPPO_MEMORY_STORE)"
    )
    parser.add_argument(
        "--encoder", default=None, help="sentence-transformers model name or path (default all-MiniLM-L6-v2)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("add", help="remember one text")
    p.add_argument("text")
    p.add_argument("--namespace", default="default", help="slash-separated, e.g. users/alice")
    p.add_argument("--metadata", help="JSON object")
    p.add_argument("--timestamp", help="ISO 8601 date")
    p.add_argument("--session")
    p.add_argument("--cue", action="append", help="extra cue (repeatable)")
    p.set_defaults(func=_cmd_add)

    p = sub.add_parser(
        "ingest",
        help="remember a conversation file ([{role, content, timestamp}], LoCoMo or LongMemEval; .json or .json.gz)",
    )
    p.add_argument("path")
    p.add_argument("--namespace", default="default")
    p.add_argument("--session", help="session id for a plain conversation (default: per file/session)")
    p.add_argument("--limit", type=int, help="conversations/questions to ingest from a dataset file")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_ingest)

    for name, func, helptext in (
        ("recall", _cmd_recall, "single-hop recall"),
        ("chain", _cmd_chain, "multi-hop chain"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("query")
        p.add_argument("--namespace", default=None)
        if name == "recall":
            p.add_argument("-k", type=int, default=5)
        else:
            p.add_argument("--hops", type=int, default=3)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("forget", help="delete memories by id")
    p.add_argument("ids", nargs="+")
    p.set_defaults(func=_cmd_forget)

    p = sub.add_parser("stats", help="counts and sizes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("demo", help="store a short conversation and show recall and a chain")
    p.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks (print a table, write JSON)").add_subparsers(
        dest="benchmark", required=True
    )
    from .bench import synthetic

    synthetic.register_command(bench)
    _register_optional(bench, "hippo_memory.bench._conversations", "register_commands")
    _register_optional(bench, "hippo_memory.bench._nightly", "register_command")
    _register_optional(sub, "hippo_memory._consolidation", "register_command")
    return parser


def _register_optional(subparsers: Any, module: str, function: str) -> None:
    import importlib

    try:
        register = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        return
    register(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hippo-memory`` command."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HippoMemoryError as exc:
        print(f"hippo-memory: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
