"""The ``hippo-memory`` command line.

Examples::

    hippo-memory --store ./mem add "Alice moved to Lisbon" --namespace alice
    hippo-memory --store ./mem ingest conversation.json --namespace alice
    hippo-memory --store ./mem recall "Where does Alice live?" --namespace alice
    hippo-memory --store ./mem chain "Alice moved to Lisbon" --hops 3
    hippo-memory bench synthetic

Exit status: 0 on success; 1 when the store or the encoder fails (no store at
``--store``, a locked, damaged or foreign store, an encoder mismatch); 2 when the
command line is wrong (argparse errors, bad JSON, input the engine rejects, an
unknown id). Errors are one ``hippo-memory: error: ...`` line, never a traceback.

Building the parser imports nothing heavy: torch, numpy and the models load only
when a command runs, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._cli_check import register_commands as _register_check
from ._cli_common import is_url, missing_store, open_memory, package_version, print_json
from ._cli_consolidate import register_command as _register_consolidate
from ._cli_migrate import register_command as _register_migrate
from ._cli_serve import register_commands as _register_serve
from ._errors import HippoMemoryError, InvalidInputError, MemoryNotFoundError, NotFoundError

if TYPE_CHECKING:
    from ._memory import MemoryInput
    from ._types import RecallHit

__all__ = ["is_url", "main", "open_memory", "package_version", "print_json"]

_DEFAULT_STORE = os.environ.get("HIPPO_MEMORY_STORE", ".hippo")

# Errors about what the user typed exit 2, like argparse's own; the rest exit 1.
_USAGE_ERRORS = (InvalidInputError, NotFoundError)


# ---------------------------------------------------------------------------- helpers
def _print(data: Any, as_json: bool, text: str) -> None:
    if as_json:
        print_json(data)
    else:
        print(text)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _namespace(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split("/") if part) or ("default",)


# ---------------------------------------------------------------------------- argument types
def _json_object(text: str) -> dict[str, Any]:
    """``--metadata``: a JSON object; anything else is an argparse error (exit 2)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON ({exc}): {text!r}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, not {type(value).__name__}: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer: {text!r}")
    return value


# ---------------------------------------------------------------------------- commands
def _cmd_add(args: argparse.Namespace) -> int:
    with open_memory(args, create=True) as mem:
        memory_id = mem.remember(
            args.text,
            namespace=_namespace(args.namespace),
            metadata=args.metadata,
            timestamp=args.timestamp,
            session=args.session,
            cues=args.cue or (),
        )
    _print({"id": memory_id}, args.json, memory_id)
    return 0


def _conversation_items(data: Any, limit: int | None) -> Iterator[tuple[tuple[str, ...], str, list[MemoryInput]]]:
    """Yield ``(namespace suffix, session, items)`` from any supported format."""
    from .bench._datasets import _parse_lme_date, _parse_locomo_date, locomo_turn_text

    items: list[MemoryInput]
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
            for sid, when, turns in zip(
                item["haystack_session_ids"], item["haystack_dates"], item["haystack_sessions"], strict=False
            ):
                stamp = _parse_lme_date(when)
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


def _read_conversations(path: str, limit: int | None) -> list[tuple[tuple[str, ...], str, list[MemoryInput]]]:
    """Every session of a conversation file, read before the store is opened.

    Raises:
        InvalidInputError: the file is missing, not JSON, or not of a supported shape.
    """
    from .bench._datasets import load_json

    try:
        data = load_json(path)
    except (OSError, ValueError, EOFError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc
    try:
        return list(_conversation_items(data, limit))
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc}") from exc
    except KeyError as exc:
        raise InvalidInputError(f"{path}: malformed conversation file: missing key {exc}") from exc
    except (TypeError, AttributeError, ValueError, IndexError) as exc:
        raise InvalidInputError(f"{path}: malformed conversation file: {exc}") from exc


def _cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    sessions = _read_conversations(args.path, args.limit)
    base = _namespace(args.namespace)
    total = sum(len(items) for _, _, items in sessions)
    stored = 0
    with (
        open_memory(args, create=True) as mem,
        tqdm(total=total, unit="turn", disable=args.quiet or total < 200) as bar,
    ):
        for suffix, session, items in sessions:
            for start in range(0, len(items), args.batch_size):
                batch = items[start : start + args.batch_size]
                mem.remember_many(batch, namespace=base + suffix, session=args.session or session)
                stored += len(batch)
                bar.update(len(batch))
    _print(
        {"stored": stored, "sessions": len(sessions)},
        args.json,
        f"stored {stored} memories from {len(sessions)} sessions",
    )
    return 0


def _hit_dict(hit: RecallHit) -> dict[str, Any]:
    return {
        "rank": hit.rank,
        "score": round(hit.score, 5),
        "id": hit.memory.id,
        "text": hit.memory.text,
        "namespace": list(hit.memory.namespace),
        "timestamp": _iso(hit.memory.timestamp),
        "metadata": dict(hit.memory.metadata),
        "diagnostics": {
            "similarity": round(hit.diagnostics.similarity, 4),
            "attention": round(hit.diagnostics.attention, 4),
            "cues_matched": hit.diagnostics.cues_matched,
            "best_cue": hit.diagnostics.best_cue.kind,
        },
    }


def _cmd_recall(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
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
    with open_memory(args) as mem:
        ns = _namespace(args.namespace) if args.namespace else None
        chain = mem.recall_chain(args.query, hops=args.hops, namespace=ns)
        hops = [
            {
                "hop": h.hop,
                "score": round(h.score, 4),
                "id": h.memory.id,
                "text": h.memory.text,
                "timestamp": _iso(h.memory.timestamp),
            }
            for h in chain
        ]
        lines = [f"hop {h['hop']} [{h['score']:.3f}] {h['text']}" for h in hops]
        _print(
            {"hops": hops, "stop_reason": chain.stop_reason},
            args.json,
            "\n".join([*lines, f"(stopped: {chain.stop_reason})"]),
        )
    return 0


def _cmd_get(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        record = mem.get(args.id).to_dict()
    _print(record, args.json, "\n".join(f"{key}: {value}" for key, value in record.items()))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        ns = _namespace(args.namespace) if args.namespace else None
        memories = mem.list(ns, limit=args.limit, newest_first=args.newest_first)
    records = [m.to_dict() for m in memories]
    lines = [f"{r['id']}  {r['timestamp'] or '-'}  {'/'.join(r['namespace'])}  {r['text']}" for r in records]
    _print({"memories": records}, args.json, "\n".join(lines) if lines else "no memories found")
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    reason = missing_store(args.store)
    if reason:
        # Without a store no id can exist: report the ids, and why, without creating one.
        raise MemoryNotFoundError(f"no memory with id {args.ids[0]!r}: {reason}")
    with open_memory(args) as mem:
        forgotten = mem.forget(args.ids)
    _print({"forgotten": forgotten}, args.json, f"forgot {forgotten} memories")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        stats = mem.stats()
        stats["namespaces_list"] = ["/".join(ns) for ns in mem.namespaces()]
    _print(stats, args.json, "\n".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(args.store if args.store != _DEFAULT_STORE else None, encoder=args.encoder)


# ---------------------------------------------------------------------------- parser
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hippo-memory", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument(
        "--store",
        default=_DEFAULT_STORE,
        help=f"store directory or postgresql:// URL (default {_DEFAULT_STORE!r} or $HIPPO_MEMORY_STORE)",
    )
    parser.add_argument(
        "--encoder",
        default=None,
        help="sentence-transformers model name or path (default all-MiniLM-L6-v2); "
        "'hashing' or 'hashing:DIM' for the model-free test encoder",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("add", help="remember one text (creates the store if needed)")
    p.add_argument("text")
    p.add_argument("--namespace", default="default", help="slash-separated, e.g. users/alice")
    p.add_argument("--metadata", type=_json_object, help="JSON object")
    p.add_argument("--timestamp", help="ISO 8601 date")
    p.add_argument("--session")
    p.add_argument("--cue", action="append", help="extra cue (repeatable)")
    p.add_argument("--json", action="store_true", help='print {"id": ...}')
    p.set_defaults(func=_cmd_add)

    p = sub.add_parser(
        "ingest",
        help="remember a conversation file ([{role, content, timestamp}], LoCoMo or LongMemEval; .json or .json.gz)",
    )
    p.add_argument("path")
    p.add_argument("--namespace", default="default")
    p.add_argument("--session", help="session id for a plain conversation (default: per file/session)")
    p.add_argument("--limit", type=_positive_int, help="conversations/questions to ingest from a dataset file")
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help='print {"stored": ..., "sessions": ...}')
    p.set_defaults(func=_cmd_ingest)

    for name, func, helptext in (
        ("recall", _cmd_recall, "single-hop recall"),
        ("chain", _cmd_chain, "multi-hop chain"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("query")
        p.add_argument("--namespace", default=None)
        if name == "recall":
            p.add_argument("-k", type=_positive_int, default=5)
        else:
            p.add_argument("--hops", type=_positive_int, default=3)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("get", help="one memory by id")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_get)

    p = sub.add_parser("list", help="memories in a namespace (and below it), in insertion order")
    p.add_argument("--namespace", default=None)
    p.add_argument("--limit", type=_positive_int, default=None, help="most memories shown (default all)")
    p.add_argument("--newest-first", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("forget", help="delete memories by id")
    p.add_argument("ids", nargs="+")
    p.add_argument("--json", action="store_true", help='print {"forgotten": ...}')
    p.set_defaults(func=_cmd_forget)

    p = sub.add_parser("stats", help="counts and sizes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("demo", help="store a short conversation and show recall and a chain")
    p.set_defaults(func=_cmd_demo)

    _register_consolidate(sub)
    _register_check(sub)
    _register_migrate(sub)
    _register_serve(sub)

    bench = sub.add_parser("bench", help="benchmarks (print a table, write JSON)").add_subparsers(
        dest="benchmark", required=True
    )
    # The benchmark modules import numpy and the config, never torch, at import time.
    from .bench import synthetic

    synthetic.register_command(bench)
    _register_optional(bench, "hippo_memory.bench._conversations", "register_commands")
    _register_optional(bench, "hippo_memory.bench._nightly", "register_command")
    _register_optional(bench, "hippo_memory.bench._shared", "register_command")
    _register_optional(bench, "hippo_memory.bench._train", "register_command")
    _register_optional(bench, "hippo_memory.bench._calibration", "register_command")
    _register_optional(bench, "hippo_memory.server._bench", "register_command")
    return parser


def _register_optional(subparsers: Any, module: str, function: str) -> None:
    import importlib

    try:
        register = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        return
    register(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hippo-memory`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HippoMemoryError as exc:
        print(f"hippo-memory: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, _USAGE_ERRORS) else 1
    except OSError as exc:  # a file outside the store (an output path, a closed pipe)
        print(f"hippo-memory: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
