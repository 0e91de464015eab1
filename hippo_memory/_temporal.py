"""Temporal cues: the dates a memory states and the dates a query asks about.

Write time: a memory that says "I went to the support group yesterday" or "we
moved two weeks ago" is about a day or a week other than its ``timestamp``.
:func:`resolve_time_cues` resolves such expressions against the memory's own
timestamp with ``dateparser`` (relative and absolute expressions, a maintained
grammar) into absolute half-open UTC intervals, stored in the memory's metadata
under :data:`TIME_CUES_KEY` as ISO 8601 intervals (``"2023-05-07/2023-05-08"``).

Query time: :func:`query_time` reads the windows a query names (absolute dates
always; relative ones against a reference time) and whether it asks *when*;
:func:`temporal_match` scores each candidate memory against them, a float32
``(u,)`` feature for the ranker. "What did Gina find on 1 February, 2023?" names
a day; "in May 2022" a month; "in 2024" a year; "last Saturday" a day before the
reference time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "TIME_CUES_KEY",
    "QueryTime",
    "TimeSpan",
    "candidate_spans",
    "format_time_cues",
    "query_time",
    "query_time_window",
    "resolve_time_cues",
    "temporal_match",
    "time_cues_from_json",
]

FloatArray = npt.NDArray[np.float32]
TimeArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TIME_CUES_KEY = "time_cues"
"""The metadata key under which the write path stores a memory's resolved dates."""

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
_FOUR_DIGITS = re.compile(r"\d{4}")
"""Every date pattern above holds a four-digit year: a query without one names no date."""


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
    if not _FOUR_DIGITS.search(text):  # most queries: five pattern searches saved
        return None
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


# ---------------------------------------------------------------- time cues
class TimeSpan(NamedTuple):
    """A half-open UTC interval ``[start, end)`` in epoch seconds (a day, week, month or year)."""

    start: float
    end: float


_TOKEN = re.compile(r"[A-Za-z]+|\d+")
_CLAUSE = re.compile(r"(?<=[.!?;])\s+|\n+")
_WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
_MONTH_NAMES = frozenset(name for name in _MONTHS if len(name) > 3 or name == "may")
_CAPITALISED_ONLY = frozenset({"may", "march"})  # also a verb: a month only when capitalised
_ANCHORS = frozenset({"yesterday", "today", "tonight", "tomorrow", "ago"}) | _WEEKDAYS
_SHIFTERS = frozenset({"last", "next", "this", "past", "previous", "coming"})
_UNITS = frozenset({"week", "weekend", "month", "year"})
_WHEN_NOUNS = frozenset({"date", "day", "year", "month", "week", "time"})
_MAX_CUES = 4
_DAY = 86_400.0


def _anchored(tokens: Sequence[str]) -> bool:
    """Whether tokens hold a calendar anchor: a relative day word, a weekday, a month, a year, "last week".

    Both a gate (only clauses with an anchor reach the parser, which is slow) and a
    filter (a parsed span without one is a false positive: "We" read as Wednesday,
    "for 4 years now", "in a second").
    """
    for i, token in enumerate(tokens):
        low = token.lower()
        if low in _ANCHORS:
            return True
        if low in _MONTH_NAMES and (low not in _CAPITALISED_ONLY or token[0].isupper()):
            return True
        if len(token) == 4 and token.isdigit() and token[:2] in ("19", "20"):
            return True
        if low in _SHIFTERS and i + 1 < len(tokens) and tokens[i + 1].lower() in _UNITS:
            return True
    return False


def _utc(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


def _period_span(moment: datetime, period: str) -> TimeSpan:
    """The calendar interval of ``period`` (``day``, ``week``, ``month``, ``year``) around ``moment``."""
    day = datetime(moment.year, moment.month, moment.day)
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return TimeSpan(_utc(monday), _utc(monday + timedelta(days=7)))
    if period == "month":
        start, end = _month(moment.year, moment.month)
        return TimeSpan(start, end)
    if period == "year":
        return TimeSpan(_utc(datetime(moment.year, 1, 1)), _utc(datetime(moment.year + 1, 1, 1)))
    return TimeSpan(_utc(day), _utc(day) + _DAY)


@lru_cache(maxsize=1)
def _search_dates() -> Any:
    """``dateparser.search.search_dates``, imported on first use (about 0.5 s)."""
    from dateparser.search import search_dates

    return search_dates


def _period(tokens: Sequence[str]) -> str:
    """The calendar unit a date phrase names: ``week``, ``month``, ``year`` or ``day``.

    "two weeks ago" is a week, "last month" and "in June" a month, "in 2022" a year;
    a phrase with a day of the month ("3 March 2021") or a day word is a day.
    """
    lowered = [t.lower() for t in tokens]
    if any(t.startswith("week") for t in lowered):
        return "week"
    if any(t in _ANCHORS for t in lowered) or any(t.isdigit() and len(t) <= 2 for t in lowered):
        return "day"
    if any(t in ("month", "months") for t in lowered) or any(t in _MONTH_NAMES for t in lowered):
        return "month"
    return "year" if any(t in ("year", "years") or (t.isdigit() and len(t) == 4) for t in lowered) else "day"


def _windows(clause: str, radius: int = 4) -> list[str]:
    """The words around each calendar anchor of a clause, overlapping windows merged: the parser's input.

    ``dateparser`` tries every sub-phrase of its input, so its cost grows with the
    text; a date phrase is a few words around its anchor.
    """
    words = clause.split()
    tokens = [_TOKEN.findall(word) for word in words]
    spans: list[list[int]] = []
    for i in range(len(words)):
        if not _anchored([t for word in tokens[i : i + 2] for t in word]):
            continue
        lo, hi = max(0, i - radius), min(len(words), i + radius + 1)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = hi
        else:
            spans.append([lo, hi])
    return [" ".join(words[lo:hi]) for lo, hi in spans]


def resolve_time_cues(text: str, reference: float) -> list[TimeSpan]:
    """Resolve the dates a text states against the moment it was written.

    "yesterday", "last Saturday", "two weeks ago", "next month", "on 3 March" and
    "in 2022" become the day, week, month or year they name: ``dateparser`` finds
    and resolves them, and the phrase's unit word sets the width. Only the words
    around a calendar anchor are parsed, and parsed phrases without one are
    dropped, which keeps both the cost and the false positives down.

    Args:
        text: A memory's text (or a query).
        reference: Epoch seconds the text's relative expressions count from
            (the memory's timestamp).

    Returns:
        Up to 4 distinct spans in order of appearance; ``[]`` when the text names no date.

    Example:
        >>> ref = datetime(2023, 5, 8, 13, 56, tzinfo=UTC).timestamp()
        >>> [datetime.fromtimestamp(s.start, UTC).date().isoformat() for s in resolve_time_cues("I ran yesterday", ref)]
        ['2023-05-07']
    """
    pieces = [piece for clause in _CLAUSE.split(text) for piece in _windows(clause)]
    if not pieces or not np.isfinite(reference):
        return []
    try:
        base = datetime.fromtimestamp(reference, UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return []
    search_dates = _search_dates()
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    spans: list[TimeSpan] = []
    for piece in pieces:
        try:
            found = search_dates(piece, languages=["en"], settings=settings) or []
        except (OverflowError, ValueError):  # dateparser's own arithmetic on odd inputs
            continue
        for phrase, moment in found:
            tokens = _TOKEN.findall(phrase)
            if not _anchored(tokens):
                continue
            try:
                span = _period_span(moment, _period(tokens))
            except (OverflowError, ValueError):
                continue
            if span not in spans:
                spans.append(span)
            if len(spans) >= _MAX_CUES:
                return spans
    return spans


def format_time_cues(spans: Sequence[TimeSpan]) -> list[str]:
    """Spans as ISO 8601 date intervals, ``"2023-05-07/2023-05-08"`` (the end is exclusive)."""
    return [
        f"{datetime.fromtimestamp(s.start, UTC).date().isoformat()}/{datetime.fromtimestamp(s.end, UTC).date().isoformat()}"
        for s in spans
    ]


def _parse_interval(value: Any) -> TimeSpan | None:
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    try:
        start, end = (_utc(datetime.fromisoformat(part.strip()).replace(tzinfo=None)) for part in value.split("/"))
    except ValueError:
        return None
    return TimeSpan(start, end) if end > start else None


def time_cues_from_json(meta_json: str) -> TimeArray:
    """The time cues of a memory's metadata JSON, float64 ``(n, 2)`` ``[start, end)`` epoch seconds.

    Entries that are not ISO 8601 intervals are ignored (a caller may store anything
    under the key); a missing key gives shape ``(0, 2)``.
    """
    empty: TimeArray = np.zeros((0, 2), dtype=np.float64)
    if TIME_CUES_KEY not in meta_json:
        return empty
    value = json.loads(meta_json).get(TIME_CUES_KEY)
    if not isinstance(value, list):
        return empty
    spans = [span for span in map(_parse_interval, value) if span is not None]
    return np.asarray(spans, dtype=np.float64).reshape(-1, 2)


# ---------------------------------------------------------------- queries
class QueryTime(NamedTuple):
    """What a query asks about time.

    Attributes:
        windows: float64 ``(w, 2)``: half-open UTC intervals the query names.
        asks_when: The query asks for a time ("When did ...", "What year ...").
    """

    windows: TimeArray
    asks_when: bool


def _asks_when(tokens: Sequence[str]) -> bool:
    lowered = [t.lower() for t in tokens]
    for i, token in enumerate(lowered):
        if token == "when":
            return True
        if token in ("what", "which") and any(t in _WHEN_NOUNS for t in lowered[i + 1 : i + 3]):
            return True
        if token == "how" and lowered[i + 1 : i + 3] == ["long", "ago"]:
            return True
    return False


@lru_cache(maxsize=1024)
def _query_time(text: str, reference_minute: int) -> QueryTime:
    tokens = _TOKEN.findall(text)
    spans = resolve_time_cues(text, reference_minute * 60.0) if _anchored(tokens) else []
    absolute = query_time_window(text)
    if absolute is not None and TimeSpan(*absolute) not in spans:
        spans.insert(0, TimeSpan(*absolute))
    windows = np.asarray(spans, dtype=np.float64).reshape(-1, 2)
    windows.flags.writeable = False  # shared through the cache
    return QueryTime(windows, _asks_when(tokens))


def query_time(text: str, reference: float | None = None) -> QueryTime:
    """The time windows a query names and whether it asks *when*.

    Args:
        text: A recall query.
        reference: Epoch seconds relative expressions ("last week") count from;
            ``None``: now.

    Returns:
        The windows (absolute dates, then the parser's) and the *when* flag.

    Example:
        >>> ref = datetime(2023, 5, 30, tzinfo=UTC).timestamp()
        >>> q = query_time("What did I buy last Saturday?", ref)
        >>> datetime.fromtimestamp(q.windows[0, 0], UTC).date().isoformat(), q.asks_when
        ('2023-05-27', False)
    """
    when = time.time() if reference is None else float(reference)
    return _query_time(text, int(when // 60))


def candidate_spans(slot_spans: Mapping[int, TimeArray], uniq: IntArray) -> tuple[TimeArray, IntArray]:
    """Gather the time cues of candidate memories.

    Args:
        slot_spans: Time cues per memory slot, float64 ``(n_i, 2)`` (memories without any absent).
        uniq: int64 ``(u,)``: the candidates' slots.

    Returns:
        ``(spans, owners)``: float64 ``(n, 2)`` and int64 ``(n,)``, each span's position in ``uniq``.
    """
    found = [(i, slot_spans[s]) for i, s in enumerate(uniq.tolist()) if s in slot_spans]
    if not found:
        return np.zeros((0, 2), dtype=np.float64), np.zeros(0, dtype=np.int64)
    spans = np.concatenate([s for _, s in found]).astype(np.float64)
    owners = np.repeat(np.asarray([i for i, _ in found], dtype=np.int64), [s.shape[0] for _, s in found])
    return spans, owners


def temporal_match(
    query: QueryTime, times: TimeArray, spans: TimeArray, owners: IntArray, *, when_score: float = 0.5
) -> FloatArray:
    """Per-candidate temporal match: a feature for the ranker.

    A candidate scores 1 when its timestamp or one of its time cues falls in a
    window the query names; otherwise, when the query asks *when*, ``when_score``
    if the candidate states a date (a time cue), since the answer to "when" is a
    memory that says when; else 0.

    Args:
        query: From :func:`query_time`.
        times: float64 ``(u,)``: the candidates' timestamps (NaN: none).
        spans: float64 ``(n, 2)``: their time cues, from :func:`candidate_spans`.
        owners: int64 ``(n,)``: each span's candidate.
        when_score: Score of a dated candidate for a *when* question with no window.

    Returns:
        float32 ``(u,)`` in ``[0, 1]``.
    """
    out = np.zeros(times.shape[0], dtype=np.float32)
    windows = query.windows
    if windows.shape[0]:
        with np.errstate(invalid="ignore"):
            inside = ((times[:, None] >= windows[None, :, 0]) & (times[:, None] < windows[None, :, 1])).any(axis=1)
        out[inside] = 1.0
        if spans.shape[0]:
            overlap = ((spans[:, None, 0] < windows[None, :, 1]) & (spans[:, None, 1] > windows[None, :, 0])).any(
                axis=1
            )
            out[owners[overlap]] = 1.0
    if query.asks_when and spans.shape[0]:
        dated = np.zeros(times.shape[0], dtype=bool)
        dated[owners] = True
        out = np.maximum(out, np.float32(when_score) * dated)
    return out
