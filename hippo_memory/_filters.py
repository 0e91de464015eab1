"""Metadata filters in the LangGraph store dialect.

A filter maps a key (dots descend into nested dicts) to a value (equality) or to
an operator dict: ``{"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"}``.
All conditions must hold. As in LangGraph, there is no top-level ``$or``/``$and``:
a top-level key starting with ``$`` is rejected rather than read as a field name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._errors import InvalidFilterError

__all__ = ["OPERATORS", "matches_filter", "validate_filter"]

OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"})
_MISSING = object()


def validate_filter(filter: Mapping[str, Any] | None) -> None:
    """Raise :class:`InvalidFilterError` unless the filter is well formed."""
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise InvalidFilterError(f"filter must be a dict, not {type(filter).__name__}")
    for key, condition in filter.items():
        if not isinstance(key, str) or not key:
            raise InvalidFilterError(f"filter keys must be non-empty strings: {key!r}")
        if key.startswith("$"):
            raise InvalidFilterError(
                f"unknown top-level filter operator {key!r}: the LangGraph filter dialect has no "
                "top-level $or/$and; all conditions must hold, so write {'field': value, 'other': {'$gt': 1}}"
            )
        if isinstance(condition, Mapping) and any(str(op).startswith("$") for op in condition):
            for op, operand in condition.items():
                if op not in OPERATORS:
                    raise InvalidFilterError(f"unknown filter operator {op!r}; use one of {sorted(OPERATORS)}")
                if op in ("$in", "$nin") and not isinstance(operand, list | tuple | set):
                    raise InvalidFilterError(f"{op} takes a list, got {operand!r}")
        try:
            json.dumps(condition)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidFilterError(f"filter value for {key!r} is not JSON: {exc}") from exc


def _lookup(metadata: Mapping[str, Any], key: str) -> Any:
    if key in metadata:
        return metadata[key]
    value: Any = metadata
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _compare(value: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return value is not _MISSING and bool(value == operand)
    if op == "$ne":
        return value is _MISSING or bool(value != operand)
    if op == "$in":
        return value is not _MISSING and value in list(operand)
    if op == "$nin":
        return value is _MISSING or value not in list(operand)
    if value is _MISSING or value is None or operand is None:
        return False
    try:
        if op == "$gt":
            return bool(value > operand)
        if op == "$gte":
            return bool(value >= operand)
        if op == "$lt":
            return bool(value < operand)
        return bool(value <= operand)  # $lte
    except TypeError:
        return False


def matches_filter(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` satisfies every condition of ``filter``.

    Comparisons between incomparable types (a string against a number) are false
    rather than errors.
    """
    if not filter:
        return True
    for key, condition in filter.items():
        value = _lookup(metadata, key)
        if isinstance(condition, Mapping) and any(str(op).startswith("$") for op in condition):
            if not all(_compare(value, op, operand) for op, operand in condition.items()):
                return False
        elif not _compare(value, "$eq", condition):
            return False
    return True
