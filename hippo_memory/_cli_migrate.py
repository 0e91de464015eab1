"""The ``hippo-memory migrate SRC DST`` subcommand (see :mod:`._migrate_store`)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

__all__ = ["register_command"]


def _command(args: argparse.Namespace) -> int:
    from ._cli_common import missing_store, print_json
    from ._errors import StoreError
    from ._migrate_store import migrate_store

    if reason := missing_store(args.source):  # opening SRC would create it: a typo is an error
        raise StoreError(reason)
    report = migrate_store(
        args.source,
        args.target,
        encoder=args.encoder,
        sample=args.sample,
        batch_size=args.batch_size,
        progress=not args.quiet and not args.json,
    )
    if args.json:
        print_json({**dataclasses.asdict(report), "ok": report.ok})
    else:
        print(
            f"copied {report.memories} memories in {len(report.namespaces)} namespaces, {report.associations} "
            f"associations, {report.superseded} supersessions from {report.source} to {report.target} "
            f"in {report.seconds:.1f} s"
        )
        print(f"verified: counts of every namespace, top-5 recall of {report.sampled} sampled memories")
        print(f"not copied: {'; '.join(report.not_copied)}")
        for mismatch in report.mismatches:
            print(f"mismatch: {mismatch}")
        print("ok" if report.ok else f"{len(report.mismatches)} mismatch(es)")
    return 0 if report.ok else 1


def register_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``migrate SRC DST`` (the global ``--store`` is not used; ``--encoder`` defaults to the source's)."""
    parser = subparsers.add_parser(
        "migrate",
        help="copy a store to another directory or postgresql:// database, and verify the copy",
        description="Copy every memory, association and supersession of SRC into DST (a new or empty directory, or "
        "a database without memories), then compare the memory count of every namespace and the top-5 recall of a "
        "sample. Exit 0 when the copy matches, 1 otherwise.",
    )
    parser.add_argument("source", metavar="SRC", help="store directory or postgresql:// URL")
    parser.add_argument("target", metavar="DST", help="new store directory or postgresql:// URL (no memories)")
    parser.add_argument("--sample", type=int, default=200, help="memories whose recall is compared (default 200)")
    parser.add_argument("--batch-size", type=int, default=256, help="memories per write transaction")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_command)
