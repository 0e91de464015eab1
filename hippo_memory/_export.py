"""Export of a partition's memories as JSON records (for fine-tuning or backups)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._partition import Partition

__all__ = ["export_records"]


def export_records(
    memory: Partition, namespace: tuple[str, ...] | None, include_superseded: bool
) -> Iterator[dict[str, Any]]:
    """The JSON records of a partition's memories under ``namespace``; see :meth:`HippoMemory.export_jsonl`."""
    with memory.lock:
        memory.check_open()
        n = len(memory.slot_id)
        matching = memory.matching_namespaces(namespace)
        mask = np.isin(memory.slot_ns[:n], np.asarray(matching, dtype=np.int32))
        hidden = memory.life.hidden(n, memory.clock(), include_superseded)
        if hidden is not None:
            mask &= ~hidden
        slots = np.flatnonzero(mask).tolist()
    for start in range(0, len(slots), 256):
        with memory.lock:
            memory.check_open()
            chunk = [s for s in slots[start : start + 256] if memory.slot_id[s] is not None]
            records = list(memory.memories(chunk).values())
        for record in records:
            yield _export_record(record)


def _export_record(memory: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": memory.id,
        "text": memory.text,
        "namespace": list(memory.namespace),
        "metadata": dict(memory.metadata),
        "timestamp": iso(memory.timestamp),
        "created_at": iso(memory.created_at),
        "session": memory.session,
        "salience": memory.salience,
        "novelty": memory.novelty,
        "strength": round(memory.strength, 6),
        "access_count": memory.access_count,
        "superseded_by": memory.superseded_by,
        "merged_from": list(memory.merged_from),
        "cues": [{"text": c.text, "kind": c.kind} for c in memory.cues],
    }
