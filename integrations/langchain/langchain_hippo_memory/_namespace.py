"""Namespace templates resolved per call from the run's context and config.

A label such as ``"{user_id}"`` is filled when the tool, middleware or retriever
runs, so one instance serves many users. Values come from, in this order:

1. the LangGraph runtime context, LangChain v1's way of passing per-run values
   (``create_agent(..., context_schema=Ctx)``, then ``agent.invoke(..., context=Ctx(
   user_id=...))``): an attribute of a dataclass or pydantic model, or a key of a dict;
2. ``config["configurable"]``, the older convention (also langmem's
   ``NamespaceTemplate``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from hippo_memory import InvalidNamespaceError

__all__ = ["NamespaceLike", "current_context", "resolve_namespace"]

NamespaceLike = Sequence[str]
_FIELD = re.compile(r"\{([^{}]+)\}")
_MISSING = object()


def current_context() -> Any:
    """The runtime context of the LangGraph run this call belongs to, or ``None``.

    Read through ``langgraph.runtime.get_runtime()``; outside a graph run (a tool
    invoked directly, a plain script) there is none.
    """
    try:
        from langgraph.runtime import get_runtime

        runtime = get_runtime()
    except (ImportError, RuntimeError, KeyError, TypeError):
        return None
    return getattr(runtime, "context", None)


def _lookup(context: Any, name: str) -> Any:
    if context is None:
        return _MISSING
    if isinstance(context, Mapping):
        return context.get(name, _MISSING)
    return getattr(context, name, _MISSING)


def resolve_namespace(
    template: NamespaceLike | None,
    config: Mapping[str, Any] | None = None,
    *,
    context: Any = None,
) -> tuple[str, ...] | None:
    """Fill ``{placeholders}`` in a namespace from the runtime context or the config.

    Args:
        template: A namespace whose labels may contain ``{name}`` fields, or ``None``.
        config: A ``RunnableConfig``; only its ``configurable`` mapping is read.
        context: The runtime context (``Runtime.context`` / ``ToolRuntime.context``):
            an object whose attributes, or a mapping whose keys, fill the fields.
            It takes precedence over ``configurable``.

    Returns:
        The concrete namespace, or ``None`` when ``template`` is ``None``.

    Raises:
        InvalidNamespaceError: a placeholder has a value in neither.
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
            value = _lookup(context, name)
            if value is _MISSING or value is None:
                value = configurable.get(name, _MISSING)
            if value is _MISSING or value is None:
                raise InvalidNamespaceError(
                    f"namespace label {label!r} needs {name!r} in the runtime context "
                    f"(agent.invoke(..., context=...)) or in config['configurable']"
                )
            return str(value)

        labels.append(_FIELD.sub(fill, label))
    return tuple(labels)
