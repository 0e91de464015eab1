"""A griffe extension for the API reference: Sphinx roles in docstrings become links.

The docstrings are Google style but name other objects with Sphinx roles
(``:class:`~hippo_memory.Encoder```, ``:meth:`recall```). mkdocstrings renders
Markdown, where such a role would show as literal text; this extension rewrites each
role into an ``<autoref>`` element that mkdocs-autorefs turns into a link to the
object's entry in the reference. The target is resolved from the docstring's own
scope (its members, imports and parents, as Python would resolve the name). A
target outside the reference (a private module, another library) is marked
optional: it renders as inline code with the full name as a tooltip, not a warning.

Loaded by ``mkdocs.yml`` (``plugins: mkdocstrings: handlers: python: options:
extensions``); excluded from the site by ``exclude_docs``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

__all__ = ["SphinxRoles"]

_PACKAGES = ("hippo_memory", "langchain_hippo_memory", "llama_index.memory.hippo")
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(?P<target>[^`<>]+)`")
# reST's "text::" before an indented literal block; Markdown shows the block as code already
_LITERAL_MARKER = re.compile(r"::\n(?=[ \t]*\n)")


def _resolve(obj: griffe.Object, target: str) -> str:
    """The full dotted path ``target`` names when read in ``obj``'s docstring."""
    if target.startswith("."):  # a sibling module, as in ``from .x import y``
        module = obj.module
        package = module if module.is_init_module or module.parent is None else module.parent
        return package.path + target
    head, _, rest = target.partition(".")
    try:
        resolved = obj.resolve(head)
    except (griffe.NameResolutionError, AttributeError, KeyError):
        return target
    return f"{resolved}.{rest}" if rest else resolved


def _rewrite(obj: griffe.Object, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        target = match["target"].strip()
        short = target.startswith("~")
        target = target.lstrip("~")
        title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        identifier = _resolve(obj, target)
        return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(title)}</code></autoref>'

    return _LITERAL_MARKER.sub(":\n", _ROLE.sub(replace, text))


def _walk(obj: griffe.Object) -> None:
    if obj.docstring is not None and ":" in obj.docstring.value:  # every role and marker has one
        obj.docstring.value = _rewrite(obj, obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            _walk(member)


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of this project's docstrings once a package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the project's modules of ``pkg`` (only those: ``llama_index`` is shared)."""
        for name in _PACKAGES:
            root, _, rest = name.partition(".")
            if root != pkg.name:
                continue
            module: griffe.Object = pkg
            try:
                for part in rest.split(".") if rest else ():
                    module = module.members[part]  # type: ignore[assignment]
            except KeyError:
                continue
            _walk(module)
