"""Command-line argument types shared by the ``hippo-memory bench`` commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._enc_cache import DEFAULT_CACHE_DIR

__all__ = ["add_cache_dir_argument", "add_config_argument", "config_item", "int_list_text", "positive_int"]


def positive_int(text: str) -> int:
    """An integer of at least 1, or an argparse error (exit 2) naming the option."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer: {text!r}")
    return value


def int_list_text(text: str) -> str:
    """Check a comma-separated list of positive integers (``1000,5000``); the text is kept as given."""
    for part in text.split(","):
        if part.strip():
            positive_int(part.strip())
    if not text.replace(",", "").strip():
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers: {text!r}")
    return text


def config_item(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(KEY, VALUE)``, the value read as JSON when it parses (``0``, ``true``).

    Used by ``--config``, which sets a ``HippoConfig`` field for every hippo system of
    a run (``--config lexical_weight=0``).
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE: {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def add_config_argument(parser: argparse.ArgumentParser, applies_to: str, example: str) -> None:
    """Add the repeatable ``--config KEY=VALUE`` option (parsed by :func:`config_item`)."""
    parser.add_argument(
        "--config",
        type=config_item,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a HippoConfig field for {applies_to}, e.g. {example} (repeatable)",
    )


def add_cache_dir_argument(parser: argparse.ArgumentParser, extra_help: str = "") -> None:
    """Add ``--cache-dir``: where encodings are cached (see ``CachedEncoder``)."""
    parser.add_argument(
        "--cache-dir",
        default=str(DEFAULT_CACHE_DIR),
        help=f"where encodings are cached{extra_help} (default {DEFAULT_CACHE_DIR})",
    )
