"""Temporal cues: the time window a query names, for a recall-time prior.

"What did Gina find on 1 February, 2023?" names a day; "in May 2022" a month; "in
2024" a year. Memories whose ``timestamp`` falls in that window get
``HippoConfig.temporal_weight`` added to their score. Only absolute dates are read
(relative ones, "last week", need the asker's clock and are left alone).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["query_time_window"]

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+(?:of\s+)?(\d{{4}})\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:in|during|of|since|from|by)\s+((?:19|20)\d\d)\b", re.IGNORECASE)


def _day(year: int, month: int, day: int) -> tuple[float, float] | None:
    try:
        start = datetime(year, month, day, tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return start, start + 86_400.0


def _month(year: int, month: int) -> tuple[float, float]:
    start = datetime(year, month, 1, tzinfo=UTC).timestamp()
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp()
    return start, end


def query_time_window(text: str) -> tuple[float, float] | None:
    """The first absolute date a query names, as a half-open UTC window.

    Args:
        text: A recall query.

    Returns:
        ``(start, end)`` in epoch seconds (a day, a month or a year), or ``None``
        when the query names no date.

    Example:
        >>> start, end = query_time_window("What happened on 1 February, 2023?")
        >>> (end - start) / 86400
        1.0
    """
    match = _ISO.search(text)
    if match:
        return _day(int(match[1]), int(match[2]), int(match[3]))
    match = _DAY_MONTH_YEAR.search(text)
    if match:
        return _day(int(match[3]), _MONTHS[match[2].lower()], int(match[1]))
    match = _MONTH_DAY_YEAR.search(text)
    if match:
        return _day(int(match[3]), _MONTHS[match[1].lower()], int(match[2]))
    match = _MONTH_YEAR.search(text)
    if match:
        return _month(int(match[2]), _MONTHS[match[1].lower()])
    match = _YEAR.search(text)
    if match:
        year = int(match[1])
        return datetime(year, 1, 1, tzinfo=UTC).timestamp(), datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()
    return None
