"""The ``hippo-memory consolidate`` subcommand."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register_command"]


def _command(args: argparse.Namespace) -> int:
    from ._cli_common import open_memory, print_json

    with open_memory(args) as memory:
        report = memory.consolidate(
            replay=not args.no_replay,
            replay_budget=args.replay_budget,
            decay=not args.no_decay,
            merge=not args.no_merge,
            compact={"auto": None, "always": True, "never": False}[args.compact],
            full=args.full,
        )
    data = {key: getattr(report, key) for key in report.__dataclass_fields__}
    if args.json:
        print_json(data)
    else:
        width = max(len(key) for key in data)
        for key, value in data.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"{key:<{width}}  {shown}")
    return 0


def register_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``consolidate`` subcommand (uses the parent parser's ``--store``/``--encoder``)."""
    parser = subparsers.add_parser(
        "consolidate",
        help="replay, decay, merge duplicates, expire and compact the store (a 'night')",
        description="One consolidation pass over the store; prints what it did.",
    )
    parser.add_argument("--no-replay", action="store_true", help="do not replay memories")
    parser.add_argument("--no-decay", action="store_true", help="no link decay, no forgetting by strength")
    parser.add_argument("--no-merge", action="store_true", help="do not merge near-duplicates")
    parser.add_argument("--replay-budget", type=int, default=None, help="memories replayed (default from the config)")
    parser.add_argument(
        "--compact",
        choices=("auto", "always", "never"),
        default="auto",
        help="rewrite the vector file without dead rows (auto: when enough rows are dead)",
    )
    parser.add_argument("--full", action="store_true", help="compare all pairs for duplicates, not only new memories")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_command)
