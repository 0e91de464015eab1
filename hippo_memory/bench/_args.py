"""Command-line argument types shared by the ``hippo-memory bench`` commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["config_item"]


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
