"""Helpers every ``hippo-memory`` subcommand module shares (none of them imports the main CLI module)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import StoreError

if TYPE_CHECKING:
    from ._memory import HippoMemory

__all__ = ["is_url", "missing_store", "open_memory", "package_version", "print_json"]


def package_version() -> str:
    """``hippo_memory.__version__`` without importing the package's heavy modules.

    The already imported package is asked first, then the installed distribution's
    metadata, then ``__version__ = "..."`` is read from ``__init__.py`` itself.
    """
    package = sys.modules.get(__package__ or "hippo_memory")
    version = vars(package).get("__version__") if package is not None else None
    if isinstance(version, str):
        return version
    from importlib import metadata

    try:
        return metadata.version("hippo-memory")
    except metadata.PackageNotFoundError:
        pass
    try:
        source = Path(__file__).with_name("__init__.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", source, re.MULTILINE)
    return match.group(1) if match else "unknown"


def is_url(store: str | os.PathLike[str]) -> bool:
    """Whether ``--store`` names a database (``postgresql://...``) rather than a directory."""
    return isinstance(store, str) and store.startswith(("postgresql://", "postgres://"))


def missing_store(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` holds no store (it is missing or an empty directory), or ``None``.

    A database URL is never missing here: opening it connects (a one-line ``StoreError``
    when it cannot) and creates the schema in an empty database.
    """
    if is_url(path):
        return None
    where = os.path.abspath(path)
    if not os.path.exists(where):
        return f"no store at {where}: the path does not exist (only 'add' and 'ingest' create a store)"
    if os.path.isdir(where) and not any(os.scandir(where)):
        return f"no store at {where}: the directory is empty (only 'add' and 'ingest' create a store)"
    return None


def open_memory(args: argparse.Namespace, *, create: bool = False) -> HippoMemory:
    """Open ``--store`` with ``--encoder``.

    Args:
        args: The parsed command line (``store`` and ``encoder``).
        create: Whether a missing store may be created (``add``, ``ingest``, ``demo``).

    Raises:
        StoreError: ``create`` is false and there is no store at ``args.store``.
    """
    if not create and (reason := missing_store(args.store)):
        raise StoreError(reason)
    from ._memory import HippoMemory  # torch: imported only when a command runs

    return HippoMemory(args.store, encoder=args.encoder)


def _json_default(value: object) -> object:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON; datetimes become ISO 8601 strings."""
    print(json.dumps(data, indent=2, default=_json_default))
