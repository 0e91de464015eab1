"""The ``hippo-memory check`` and ``hippo-memory repair`` subcommands (see :mod:`._check`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register_commands"]


def _check_command(args: argparse.Namespace) -> int:
    from ._check import check_store
    from ._cli import _missing_store, print_json
    from ._errors import StoreError

    if reason := _missing_store(args.store):
        raise StoreError(reason)
    report = check_store(args.store)
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"{report.path}: {report.partitions} partitions, {report.memories} memories, {report.rows} vector rows; "
            f"{report.blocks_verified} blocks verified, {report.blocks_unknown} without a checksum yet"
        )
        for note in report.notes:
            print(f"note: {note}")
        for problem in report.problems:
            where = f" [partition {problem.partition}]" if problem.partition else ""
            print(f"problem: {problem.kind}{where}: {problem.detail}")
        print("ok" if report.ok else f"{len(report.problems)} problem(s); nothing was modified")
    return 0 if report.ok else 1


def _repair_command(args: argparse.Namespace) -> int:
    from ._check import repair_encoder, repair_store
    from ._cli import _missing_store, print_json
    from ._errors import StoreError

    if reason := _missing_store(args.store):
        raise StoreError(reason)
    report = repair_store(args.store, args.out, repair_encoder(args.store, args.encoder))
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"{report.target}: {report.recovered} memories rebuilt from {report.source} "
            f"({report.links} links, {report.lifecycle} lifecycle rows, {report.aliases} aliases)"
        )
        for what, reason in report.lost:
            print(f"lost: {what}: {reason}")
        for problem in report.check.problems:
            print(f"problem in the new store: {problem.kind}: {problem.detail}")
    return 0 if not report.lost and report.check.ok else 1


def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``check`` and ``repair`` (``--store`` may also follow the subcommand)."""
    parser = subparsers.add_parser(
        "check",
        help="verify the store (rows, files, checksums, records) without modifying it",
        description="Verify every partition without writing anything. Exit 0 when clean, 1 with problems.",
    )
    parser.add_argument("--store", default=argparse.SUPPRESS, help="store directory (as the global --store)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_check_command)

    parser = subparsers.add_parser(
        "repair",
        help="rebuild every intact memory of a damaged store into a NEW directory",
        description="Re-encode every memory whose record is intact into --out (never in place); report what "
        "could not be recovered. Exit 0 when everything was recovered, 1 otherwise.",
    )
    parser.add_argument("--store", default=argparse.SUPPRESS, help="the damaged store (as the global --store)")
    parser.add_argument("--out", required=True, help="new store directory (must not exist or be empty)")
    parser.add_argument(
        "--encoder", default=argparse.SUPPRESS, help="encoder to re-encode with (default: the one the store names)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_repair_command)
