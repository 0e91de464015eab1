"""Benchmark: HippoStore against LangGraph's InMemoryStore on the same items.

Run ``python -m langchain_hippo_memory.bench`` (``--help`` for options). It puts
``--items`` items (10,000 by default) across ``--users`` x ``--kinds`` namespaces
``("users", "u<i>", "<kind>")`` into an ``InMemoryStore`` and into ``HippoStore``
(the deterministic hashing encoder, in RAM, or in a directory with ``--dir``), then
times ``list_namespaces`` (all, prefix, suffix, wildcard, ``max_depth``), ``get``
and ``search`` with a filter on each store, prints a table of milliseconds (best of
``--repeats`` runs, as ``timeit`` reports: the least disturbed by other processes)
with the HippoStore/InMemoryStore ratio, and writes the figures as JSON (``--out``).
A query search is timed on HippoStore only: InMemoryStore without embeddings
ignores the query.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from hippo_memory import HashingEncoder
from langgraph.store.base import BaseStore, PutOp
from langgraph.store.memory import InMemoryStore

from ._store import HippoStore

__all__ = ["Timing", "main", "run"]

PROG = "python -m langchain_hippo_memory.bench"
KINDS = ("notes", "prefs", "facts", "events", "tasks", "people", "places", "books", "music", "food")


class _Op(NamedTuple):
    label: str
    call: Callable[[BaseStore], object]
    comparable: bool = True


class Timing(NamedTuple):
    """One operation's best time on both stores.

    Attributes:
        operation: What was timed, e.g. ``"list_namespaces(prefix=('users', 'u7'))"``.
        inmemory_ms: Best milliseconds on ``InMemoryStore`` (``None``: not comparable).
        hippo_ms: Best milliseconds on ``HippoStore``.
    """

    operation: str
    inmemory_ms: float | None
    hippo_ms: float

    @property
    def ratio(self) -> float | None:
        """HippoStore time over InMemoryStore time."""
        return None if not self.inmemory_ms else self.hippo_ms / self.inmemory_ms


def _best_ms(call: Callable[[BaseStore], object], store: BaseStore, repeats: int) -> float:
    call(store)  # warm: first-use loading is not what is measured
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(store)
        times.append((time.perf_counter() - start) * 1000.0)
    return min(times)


def _ops(users: int, keys: Sequence[tuple[tuple[str, ...], str]]) -> list[_Op]:
    """Every timed operation."""
    u = f"u{users // 2}"
    everything = 100_000
    return [
        _Op("list_namespaces()", lambda s: s.list_namespaces()),
        _Op("list_namespaces(limit=100000)", lambda s: s.list_namespaces(limit=everything)),
        _Op(
            f"list_namespaces(prefix=('users', {u!r}))",
            lambda s: s.list_namespaces(prefix=("users", u)),
        ),
        _Op("list_namespaces(suffix=('notes',))", lambda s: s.list_namespaces(suffix=("notes",))),
        _Op(
            "list_namespaces(prefix=('users', '*', 'notes'))",
            lambda s: s.list_namespaces(prefix=("users", "*", "notes")),
        ),
        _Op(
            "list_namespaces(max_depth=2, limit=100000)",
            lambda s: s.list_namespaces(max_depth=2, limit=everything),
        ),
        _Op(f"get x {len(keys)}", lambda s: [s.get(ns, key) for ns, key in keys]),
        _Op(
            f"search(('users', {u!r}), filter={{'n': {{'$lt': 50}}}})",
            lambda s: s.search(("users", u), filter={"n": {"$lt": 50}}, limit=10),
        ),
        _Op(
            f"search(('users', {u!r}), query=..., filter={{'kind': 'notes'}})",
            lambda s: s.search(("users", u), query="note 7 topic 3", filter={"kind": "notes"}),
            comparable=False,
        ),
    ]


def _fill(store: BaseStore, items: Sequence[tuple[tuple[str, ...], str, dict[str, Any]]]) -> float:
    start = time.perf_counter()
    for i in range(0, len(items), 1000):
        store.batch([PutOp(ns, key, value) for ns, key, value in items[i : i + 1000]])
    return time.perf_counter() - start


def run(
    *, items: int = 10_000, users: int = 100, repeats: int = 20, directory: Path | None = None
) -> tuple[list[Timing], dict[str, float]]:
    """Fill both stores and time every operation.

    Returns:
        The timings, and the seconds each store took to take all items.
    """
    rows = []
    for i in range(items):
        user, kind = f"u{i % users}", KINDS[(i // users) % len(KINDS)]
        value = {"text": f"{kind[:-1]} {i} about topic {i % 13}", "kind": kind, "n": i % 100}
        rows.append((("users", user, kind), f"k{i}", value))
    reference: BaseStore = InMemoryStore()
    hippo = HippoStore(path=directory, encoder=HashingEncoder(dim=128))
    try:
        fill = {"InMemoryStore": _fill(reference, rows), "HippoStore": _fill(hippo, rows)}
        sample = random.Random(0).sample(rows, min(100, len(rows)))
        timings = []
        for op in _ops(users, [(ns, key) for ns, key, _ in sample]):
            a = _best_ms(op.call, reference, repeats) if op.comparable else None
            b = _best_ms(op.call, hippo, repeats)
            timings.append(Timing(op.label, a, b))
        return timings, fill
    finally:
        hippo.close()


def _table(timings: Sequence[Timing]) -> str:
    width = max(len(t.operation) for t in timings)
    lines = [
        f"{'operation':<{width}}  {'InMemoryStore ms':>16}  {'HippoStore ms':>13}  {'ratio':>7}"
    ]
    for t in timings:
        a = "n/a" if t.inmemory_ms is None else f"{t.inmemory_ms:.3f}"
        r = "n/a" if t.ratio is None else f"{t.ratio:.1f}x"
        lines.append(f"{t.operation:<{width}}  {a:>16}  {t.hippo_ms:>13.3f}  {r:>7}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m langchain_hippo_memory.bench", description=__doc__
    )
    parser.add_argument("--items", type=int, default=10_000, help="items put into each store")
    parser.add_argument(
        "--users", type=int, default=100, help="users; namespaces = users x 10 kinds"
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed repeats per operation (best reported)"
    )
    parser.add_argument(
        "--dir", action="store_true", help="HippoStore in a temporary directory, not in RAM"
    )
    parser.add_argument("--out", type=Path, default=Path("bench_results/langchain_store.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "store" if args.dir else None
        timings, fill = run(
            items=args.items, users=args.users, repeats=args.repeats, directory=directory
        )
    print(_table(timings))
    print("fill seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in fill.items()))
    report = {
        "command": "python -m langchain_hippo_memory.bench "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "items": args.items,
        "namespaces": args.users * len(KINDS),
        "hippo_store": "directory" if args.dir else "in RAM",
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "fill_seconds": fill,
        "timings": [{**t._asdict(), "ratio": t.ratio} for t in timings],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
