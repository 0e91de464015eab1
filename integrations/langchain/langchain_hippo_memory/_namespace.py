"""Namespace templates resolved per call from a runnable config.

A label such as ``"{user_id}"`` is filled from ``config["configurable"]["user_id"]``
when the tool, middleware or retriever runs, the same convention as langmem's
``NamespaceTemplate``, so one tool instance can serve many users.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from hippo_memory import InvalidNamespaceError

__all__ = ["NamespaceLike", "resolve_namespace"]

NamespaceLike = Sequence[str]
_FIELD = re.compile(r"\{([^{}]+)\}")


def resolve_namespace(
    template: NamespaceLike | None, config: Mapping[str, Any] | None = None
) -> tuple[str, ...] | None:
    """Fill ``{placeholders}`` in a namespace from ``config["configurable"]``.

    Args:
        template: A namespace whose labels may contain ``{name}`` fields, or ``None``.
        config: A ``RunnableConfig``; only its ``configurable`` mapping is read.

    Returns:
        The concrete namespace, or ``None`` when ``template`` is ``None``.

    Raises:
        InvalidNamespaceError: a placeholder has no value in the config.
    """
    if template is None:
        return None
    if isinstance(template, str):
        raise InvalidNamespaceError(
            f"namespace must be a tuple of strings such as ('users', 'alice'), not {template!r}"
        )
    configurable: Mapping[str, Any] = (config or {}).get("configurable") or {}
    labels: list[str] = []
    for label in template:
        if not isinstance(label, str):
            raise InvalidNamespaceError(f"namespace labels must be strings: {template!r}")

        def fill(match: re.Match[str], label: str = label) -> str:
            name = match.group(1)
            if name not in configurable:
                raise InvalidNamespaceError(
                    f"namespace label {label!r} needs config['configurable'][{name!r}]"
                )
            return str(configurable[name])

        labels.append(_FIELD.sub(fill, label))
    return tuple(labels)
