"""Validation of user input: namespaces, texts, times, metadata.

Pure functions with no engine state. Each raises a leaf of the
:class:`~hippo_memory.HippoMemoryError` tree, so bad input is rejected before any
write and callers can catch it precisely.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ._errors import EmptyTextError, InvalidInputError, InvalidNamespaceError, TextTooLongError
from ._types import Namespace

__all__ = [
    "DEFAULT_NAMESPACE",
    "MAX_EPOCH",
    "MAX_METADATA_DEPTH",
    "MIN_EPOCH",
    "TimeLike",
    "check_cues",
    "check_id",
    "check_ids",
    "check_metadata",
    "check_session",
    "check_string",
    "check_text",
    "dumps",
    "from_epoch",
    "to_epoch",
    "validate_namespace",
]

DEFAULT_NAMESPACE: Namespace = ("default",)
TimeLike = datetime | float | int | str

MIN_EPOCH = datetime.min.replace(tzinfo=UTC).timestamp()
"""Earliest storable time: 0001-01-01T00:00:00Z in epoch seconds."""
MAX_EPOCH = datetime.max.replace(tzinfo=UTC).timestamp()
"""Latest storable time: 9999-12-31T23:59:59.999999Z in epoch seconds."""
MAX_METADATA_DEPTH = 64
"""Deepest nesting of dicts and lists accepted in metadata."""

# Characters that leave a text blank: control (NUL, escapes) and format (zero-width
# space, joiners, BOM) characters carry nothing to encode, recall or show.
_INVISIBLE = frozenset({"Cc", "Cf"})


def dumps(value: Any) -> str:
    """Canonical JSON used for metadata and namespaces."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def check_string(value: str, what: str, error: type[InvalidInputError] = InvalidInputError) -> str:
    """Return ``value`` if it encodes to UTF-8, i.e. holds no lone surrogate.

    A lone surrogate (``"\\ud800"``, e.g. from ``surrogateescape`` decoding) is not
    text: SQLite, JSON export and every encoder would fail on it later.

    Raises:
        InvalidInputError (or ``error``): the string holds a lone surrogate.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(
            f"{what} contains a lone surrogate {value[exc.start]!r} at position {exc.start}, "
            "which is not valid Unicode; decode your input with errors='replace' first"
        ) from None
    return value


def _is_blank(text: str) -> bool:
    return all(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in text)


def validate_namespace(namespace: Any) -> Namespace:
    """Return ``namespace`` as a tuple, or raise :class:`InvalidNamespaceError`."""
    if isinstance(namespace, str) or not isinstance(namespace, Sequence) or not namespace:
        raise InvalidNamespaceError(
            f"namespace must be a non-empty tuple of strings, e.g. ('users', 'alice'); got {namespace!r}"
        )
    for label in namespace:
        if not isinstance(label, str) or not label:
            raise InvalidNamespaceError(f"namespace labels must be non-empty strings: {namespace!r}")
        if "." in label:
            raise InvalidNamespaceError(f"namespace labels may not contain periods: {namespace!r}")
        check_string(label, "a namespace label", InvalidNamespaceError)
    return tuple(namespace)


def check_text(text: Any, max_chars: int, what: str = "text") -> str:
    """Return ``text`` if it is a non-blank string of at most ``max_chars`` characters.

    Blank means nothing but whitespace, control characters (NUL, escapes) and format
    characters (zero-width spaces and joiners, BOM).

    Raises:
        EmptyTextError: not a string, blank, or holding a lone surrogate.
        TextTooLongError: longer than ``max_chars``.
    """
    if not isinstance(text, str):
        raise EmptyTextError(f"{what} must be a string, not {type(text).__name__}")
    if len(text) > max_chars:
        raise TextTooLongError(
            f"{what} has {len(text)} characters; the limit is {max_chars} (HippoConfig.max_text_chars)"
        )
    check_string(text, what, EmptyTextError)
    if _is_blank(text):
        raise EmptyTextError(f"{what} is empty (only whitespace, control or invisible format characters)")
    return text


def _check_json(value: Any, what: str, depth: int) -> None:
    """Raise :class:`InvalidInputError` unless ``value`` is plain JSON data."""
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{what} holds {value!r}; JSON has no NaN or infinity")
        return
    if isinstance(value, str):
        check_string(value, f"a string in {what}")
        return
    if depth >= MAX_METADATA_DEPTH:
        raise InvalidInputError(f"{what} is nested more than {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(
                    f"{what} keys must be strings, not {type(key).__name__} ({key!r}); JSON would turn it into a string"
                )
            check_string(key, f"a key in {what}")
            _check_json(item, what, depth + 1)
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json(item, what, depth + 1)
        return
    raise InvalidInputError(f"{what} holds a {type(value).__name__} ({value!r:.60}), which is not JSON")


def check_metadata(metadata: Any, what: str = "metadata") -> dict[str, Any]:
    """Return a JSON round-tripped copy of ``metadata``, a mapping of plain JSON data.

    Values may be ``None``, booleans, integers, finite floats, strings, lists, tuples
    (stored as lists) and mappings with string keys, nested at most
    :data:`MAX_METADATA_DEPTH` levels.

    Raises:
        InvalidInputError: not a mapping, or a value that JSON cannot store unchanged.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"{what} must be a dict (or None), not {type(metadata).__name__}")
    _check_json(metadata, what, 0)
    try:
        copy: dict[str, Any] = json.loads(dumps(dict(metadata)))
    except (TypeError, ValueError, RecursionError) as exc:  # e.g. an int beyond str()'s digit limit
        raise InvalidInputError(f"{what} is not JSON-serialisable: {exc}") from exc
    return copy


def to_epoch(value: TimeLike | None, what: str = "timestamp") -> float | None:
    """Epoch seconds of a datetime, number or ISO 8601 string (naive times are UTC); ``None`` stays ``None``.

    Every accepted value lies between :data:`MIN_EPOCH` and :data:`MAX_EPOCH`, so
    :func:`from_epoch` turns it back into a datetime.

    Raises:
        InvalidInputError: not a time, not finite, or outside years 1 to 9999 (UTC).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a datetime, epoch seconds or ISO string, not a bool")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond any float is beyond year 9999 too
            seconds = math.inf if value > 0 else -math.inf
        if math.isnan(seconds) or (isinstance(value, float) and math.isinf(seconds)):
            raise InvalidInputError(f"{what} must be finite epoch seconds, not {value!r:.40}")
    else:
        if isinstance(value, str):
            check_string(value, what)
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise InvalidInputError(f"{what} {value!r:.60} is not an ISO 8601 date") from exc
        if not isinstance(value, datetime):
            raise InvalidInputError(
                f"{what} must be a datetime, epoch seconds or ISO string, not {type(value).__name__}"
            )
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            seconds = value.timestamp()
        except (OverflowError, ValueError) as exc:
            raise InvalidInputError(f"{what} {value.isoformat()} is outside years 1 to 9999 in UTC") from exc
    if not MIN_EPOCH <= seconds <= MAX_EPOCH:
        raise InvalidInputError(
            f"{what} {value!r:.60} is outside years 1 to 9999 in UTC (epoch seconds {MIN_EPOCH:.0f} to {MAX_EPOCH:.0f})"
        )
    return seconds


def from_epoch(value: float | None) -> datetime | None:
    """The UTC datetime of epoch seconds; ``None`` (and NaN) stays ``None``.

    :func:`to_epoch` admits only convertible values; a time outside years 1 to 9999
    that an older version stored is clamped to the nearest representable one, so the
    memory stays readable instead of failing every read.
    """
    if value is None or math.isnan(value):
        return None
    if value <= MIN_EPOCH:
        return datetime.min.replace(tzinfo=UTC)
    if value >= MAX_EPOCH:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, tz=UTC)


def check_id(value: Any, what: str = "id") -> str | None:
    """A caller-chosen memory id: a non-blank string, or ``None`` for a fresh one.

    Raises:
        InvalidInputError: not a string, blank, or holding a lone surrogate.
    """
    if value is None:
        return None
    if not isinstance(value, str) or _is_blank(value):
        raise InvalidInputError(f"{what} must be a non-empty string or None, not {value!r:.60}")
    return check_string(value, what)


def check_ids(ids: Any) -> list[str]:
    """One id or a sequence of ids, as a list.

    Raises:
        InvalidInputError: not a string or a sequence of non-empty strings.
    """
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, Sequence) or isinstance(ids, bytes | bytearray):
        raise InvalidInputError(f"ids must be a string or a sequence of strings, not {type(ids).__name__}")
    out: list[str] = []
    for position, value in enumerate(ids):
        if value is None or check_id(value, f"ids[{position}]") is None:
            raise InvalidInputError(f"ids[{position}] must be a non-empty string, not None")
        out.append(value)
    return out


def check_cues(cues: Any, max_chars: int, what: str = "cues") -> list[str]:
    """Extra cue texts: a sequence of strings (not a single string).

    Raises:
        InvalidInputError: ``cues`` is a string or not a sequence.
        EmptyTextError, TextTooLongError: a cue is blank, too long or not text.
    """
    if cues is None:
        return []
    if isinstance(cues, str | bytes | bytearray) or not isinstance(cues, Sequence):
        raise InvalidInputError(
            f"{what} must be a list of strings, not {type(cues).__name__}"
            + (" (wrap a single cue in a list: cues=[...])" if isinstance(cues, str) else "")
        )
    return [check_text(cue, max_chars, f"{what}[{position}]") for position, cue in enumerate(cues)]


def check_session(value: Any, what: str = "session") -> str | None:
    """A session id: a string without lone surrogates, or ``None``.

    Raises:
        InvalidInputError: not a string, or holding a lone surrogate.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string or None, not {type(value).__name__}")
    return check_string(value, what)
