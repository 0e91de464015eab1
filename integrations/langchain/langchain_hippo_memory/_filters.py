"""LangChain's vector-store filters in the engine's dialect: a pure translator.

LangChain filters are Mongo-style dicts (``{"genre": "sf", "year": {"$gte": 2000}}``,
``{"$and": [...]}``); the engine's filters are a conjunction of per-field
conditions (LangGraph's dialect). :func:`to_hippo_filter` maps one to the other and
refuses what a conjunction cannot say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hippo_memory import InvalidFilterError

__all__ = ["to_hippo_filter"]

_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"})


def _conditions(condition: Any) -> dict[str, Any]:
    """One field's condition as an operator dict: ``"x"`` becomes ``{"$eq": "x"}``."""
    if isinstance(condition, Mapping) and any(str(op).startswith("$") for op in condition):
        unknown = sorted(str(op) for op in condition if op not in _OPERATORS)
        if unknown:
            raise InvalidFilterError(
                f"unsupported filter operator(s) {unknown}; use one of {sorted(_OPERATORS)}"
            )
        return dict(condition)
    return {"$eq": condition}


def _merge(into: dict[str, dict[str, Any]], field: str, condition: Any) -> None:
    ops = into.setdefault(field, {})
    for op, operand in _conditions(condition).items():
        if op in ops and ops[op] != operand:
            raise InvalidFilterError(
                f"filter sets {op} twice on {field!r} ({ops[op]!r} and {operand!r}); "
                "the engine's filters hold one condition per operator and field"
            )
        ops[op] = operand


def _collect(filter: Mapping[str, Any], into: dict[str, dict[str, Any]]) -> None:
    for key, condition in filter.items():
        if key == "$and" or (key == "$or" and isinstance(condition, list) and len(condition) == 1):
            if not isinstance(condition, list | tuple):
                raise InvalidFilterError(f"{key} takes a list of filters, got {condition!r}")
            for part in condition:
                if not isinstance(part, Mapping):
                    raise InvalidFilterError(f"{key} takes a list of filter dicts, got {part!r}")
                _collect(part, into)
        elif isinstance(key, str) and key.startswith("$"):
            raise InvalidFilterError(
                f"unsupported filter operator {key!r}: the engine's filters are a conjunction "
                "(every condition must hold), so only $and and a one-branch $or translate"
            )
        else:
            _merge(into, key, condition)


def to_hippo_filter(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Translate a LangChain metadata filter into the engine's filter dialect.

    LangChain vector stores take Mongo-style filters: ``{"field": value}`` for
    equality, ``{"field": {"$op": operand}}`` with ``$eq $ne $gt $gte $lt $lte $in
    $nin``, and ``{"$and": [filter, ...]}``. The engine (see
    ``hippo_memory.matches_filter``) takes the same field conditions, all of which
    must hold, with no ``$and``/``$or``: ``$and`` is flattened into one dict and
    conditions on the same field are merged.

    Args:
        filter: A LangChain filter, or ``None``.

    Returns:
        The engine filter: ``{field: value}`` or ``{field: {op: operand, ...}}``;
        ``None`` for no filter.

    Raises:
        InvalidFilterError: the filter is not a dict, uses ``$or`` with more than
            one branch, ``$not`` or an operator the engine lacks, or sets one
            operator twice on a field with different operands.

    Example:
        >>> to_hippo_filter({"$and": [{"genre": "sf"}, {"year": {"$gte": 2000}}]})
        {'genre': 'sf', 'year': {'$gte': 2000}}
    """
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise InvalidFilterError(f"filter must be a dict, not {type(filter).__name__}")
    merged: dict[str, dict[str, Any]] = {}
    _collect(filter, merged)
    if not merged:
        return None
    return {
        field: ops["$eq"] if list(ops) == ["$eq"] and not isinstance(ops["$eq"], Mapping) else ops
        for field, ops in merged.items()
    }
