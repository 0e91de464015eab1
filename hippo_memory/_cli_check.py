"""The ``hippo-memory check`` and ``hippo-memory repair`` subcommands (see :mod:`._check`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register_commands"]


def _check_url(url: str) -> Any:
    """:class:`~._check.CheckReport` of a ``postgresql://`` store: meta, then every partition's blocks and records.

    Each partition's vector blocks are read and verified against their CRC-32 (as the
    engine does when it loads them); nothing is written.
    """
    from ._check import CheckReport, Problem
    from ._errors import StoreCorruptedError, StoreVersionError
    from ._postgres import PostgresStorage, redact
    from ._postgres_partition import BLOCK_ROWS

    problems: list[Problem] = []
    counts = {"partitions": 0, "memories": 0, "rows": 0, "blocks_verified": 0}
    with PostgresStorage.from_conn_string(url) as storage:
        meta = storage.read_meta()
        try:
            storage.check_meta(meta)
        except (StoreCorruptedError, StoreVersionError) as exc:
            return CheckReport(redact(url), problems=(Problem("meta", None, str(exc)),))
        dim = int(meta["dim"])
        for key in storage.partition_keys():
            part = storage.partition(key)
            if part is None:  # pragma: no cover - deleted meanwhile
                continue
            counts["partitions"] += 1
            try:
                rows = len(part.load_vectors(dim))
            except StoreCorruptedError as exc:
                problems.append(Problem("vector-file", "/".join(key), str(exc)))
                continue
            counts["rows"] += rows
            counts["blocks_verified"] += -(-rows // BLOCK_ROWS)
            counts["memories"] += sum(1 for _ in part.iter_memories())
    return CheckReport(
        redact(url),
        partitions=counts["partitions"],
        memories=counts["memories"],
        rows=counts["rows"],
        blocks_verified=counts["blocks_verified"],
        problems=tuple(problems),
    )


def _check_command(args: argparse.Namespace) -> int:
    from ._check import check_store
    from ._cli_common import is_url, missing_store, print_json
    from ._errors import StoreError

    if reason := missing_store(args.store):
        raise StoreError(reason)
    report = _check_url(args.store) if is_url(args.store) else check_store(args.store)
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
    from ._cli_common import is_url, missing_store, print_json
    from ._errors import InvalidInputError, StoreError

    if is_url(args.store) or is_url(args.out):
        raise InvalidInputError(
            "repair reads and writes store directories; for a postgresql:// store run 'check', and copy it with "
            "'hippo-memory migrate SRC DST'"
        )
    if reason := missing_store(args.store):
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
