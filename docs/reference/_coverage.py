"""A mkdocs hook: every public name of the packages has an entry in the API reference.

The public surface is each package's ``__all__`` (pinned by the packages' export
tests); the reference is the ``::: identifier`` directives of ``docs/reference/*.md``.
A public name without a directive is a warning, which ``mkdocs build --strict``
turns into a failed build, so a new export cannot be left out of the reference.

Loaded by ``mkdocs.yml`` (``hooks``); excluded from the site by ``exclude_docs``.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import Any

__all__ = ["on_pre_build"]

_log = logging.getLogger("mkdocs.hooks.reference_coverage")

# package -> the file whose __all__ is its public surface (paths from the repository root)
_PACKAGES = {
    "hippo_memory": "hippo_memory/__init__.py",
    "hippo_memory.client": "hippo_memory/client.py",
    "hippo_memory.server": "hippo_memory/server/__init__.py",
    "hippo_memory.functional": "hippo_memory/functional.py",
    "hippo_memory.integration": "hippo_memory/integration.py",
    "langchain_hippo_memory": "integrations/langchain/langchain_hippo_memory/__init__.py",
    "llama_index.memory.hippo": "integrations/llama_index/llama_index/memory/hippo/__init__.py",
}
# Not API entries: the version string.
_EXEMPT = frozenset({"__version__"})
_DIRECTIVE = re.compile(r"^:::\s+(?P<identifier>[\w.]+)\s*$", re.MULTILINE)
_NO_MEMBERS = re.compile(r"^\s+members:\s*false\s*$", re.MULTILINE)


def _public_names(source: Path) -> list[str]:
    """The literal ``__all__`` list of a module, read without importing it."""
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            return [str(ast.literal_eval(element)) for element in node.value.elts]
    raise ValueError(f"{source} has no literal __all__")


def _documented(reference: Path) -> tuple[set[str], set[str]]:
    """The identifiers of the directives, and the modules rendered with all their members."""
    identifiers: set[str] = set()
    whole_modules: set[str] = set()
    for page in sorted(reference.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        matches = list(_DIRECTIVE.finditer(text))
        for index, match in enumerate(matches):
            identifiers.add(match["identifier"])
            end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
            if not _NO_MEMBERS.search(text, match.end(), end):
                whole_modules.add(match["identifier"])
    return identifiers, whole_modules


def _missing(root: Path) -> list[str]:
    identifiers, whole_modules = _documented(root / "docs" / "reference")
    short_names = {identifier.rsplit(".", 1)[-1] for identifier in identifiers}
    missing = []
    for package, source in _PACKAGES.items():
        if package in whole_modules:
            continue
        for name in _public_names(root / source):
            # A re-export documented under its home (hippo_memory.HippoClient as
            # hippo_memory.client.HippoClient) counts once.
            if name not in _EXEMPT and f"{package}.{name}" not in identifiers and name not in short_names:
                missing.append(f"{package}.{name}")
    return missing


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """Warn about each public name without an entry in ``docs/reference``."""
    root = Path(config["config_file_path"]).resolve().parent
    for name in _missing(root):
        _log.warning("reference: %s is public (in __all__) but has no ::: entry in docs/reference", name)
