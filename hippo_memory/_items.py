"""The items of a write batch: what callers pass (:class:`MemoryInput`) and what the write path carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from ._types import Cue, Namespace
from ._validation import TimeLike

__all__ = ["MemoryInput", "Prepared"]


class MemoryInput(TypedDict, total=False):
    """One item of :meth:`HippoMemory.remember_many` given as a dict."""

    text: str
    metadata: Mapping[str, Any]
    timestamp: TimeLike | None
    cues: Sequence[str]
    id: str
    session: str | None
    namespace: Sequence[str]
    salience: float | bool | None
    ttl: float | None
    supersedes: str | None


class Prepared:
    """A validated item of a write batch (cues are built by :func:`build_item_cues`)."""

    __slots__ = (
        "cues",
        "id",
        "metadata",
        "namespace",
        "previous",
        "salience",
        "session",
        "supersedes",
        "text",
        "time_resolved",
        "timestamp",
        "ttl",
    )

    def __init__(
        self,
        id: str,
        text: str,
        namespace: Namespace,
        metadata: dict[str, Any],
        timestamp: float | None,
        session: str | None,
        cues: list[Cue],
        salience: float | None = None,
        ttl: float | None = None,
        supersedes: str | None = None,
    ) -> None:
        self.id = id
        self.text = text
        self.namespace = namespace
        self.metadata = metadata
        self.timestamp = timestamp
        self.session = session
        self.cues = cues
        self.salience = salience
        self.ttl = ttl
        self.supersedes = supersedes
        self.previous: str | None = None
        self.time_resolved = False  # the text's dates are in metadata (see _write.attach_time_cues)
