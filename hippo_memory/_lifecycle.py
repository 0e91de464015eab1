"""The lifecycle of memories: strength, access, replay, expiry, supersession.

The maths (:func:`memory_strength`, :func:`reinforced_stability`,
:func:`replay_priority`) are pure functions; :class:`LifecycleState` holds the
per-slot arrays of one partition, mirrored in the storage's lifecycle rows. The
model is described in :mod:`hippo_memory._consolidation` and ``docs/consolidation.md``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._storage import LifecycleRecord, MemoryRecord, PartitionStorage
from ._validation import dumps, from_epoch

__all__ = ["DAY", "LifecycleState", "memory_strength", "reinforced_stability", "replay_priority"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DAY = 86_400.0


# ---------------------------------------------------------------------------- pure maths
def memory_strength(now: float, reinforced_at: FloatArray, stability: FloatArray) -> FloatArray:
    """Strength ``2 ** (-(now - reinforced_at) / stability)`` in ``[0, 1]`` (an age below 0 counts as 0).

    Args:
        now: Epoch seconds.
        reinforced_at: float64 ``(n,)`` (or one float64), last creation, access or replay.
        stability: float64 ``(n,)`` (or one float64), half-lives in seconds.

    Returns:
        float64 ``(n,)`` (one float64 for scalars).
    """
    age = np.maximum(0.0, now - reinforced_at)
    # An exponent <= 0 puts exp2 in [0, 1] already (NaN stays NaN): no clip to pay for.
    out: FloatArray = np.exp2(-age / np.maximum(stability, 1e-9))
    return out


def reinforced_stability(stability: FloatArray, strength: FloatArray, growth: float) -> FloatArray:
    """Half-life after an access or replay at ``strength``: ``S * (1 + (growth - 1) * (1 - s))``."""
    out: FloatArray = stability * (1.0 + (growth - 1.0) * (1.0 - strength))
    return out


def replay_priority(salience: FloatArray, access: IntArray, strength: FloatArray) -> FloatArray:
    """``(1 + salience) * (1 + log1p(access)) * (1 - strength)``: what matters and is fading."""
    out: FloatArray = (1.0 + salience) * (1.0 + np.log1p(access)) * (1.0 - strength)
    return out


# ---------------------------------------------------------------------------- lifecycle state
class LifecycleState:
    """Per-slot lifecycle of the memories, mirrored in the ``lifecycle`` table.

    Arrays are indexed by slot, like the engine's other per-slot state. Access
    counts change in RAM on every recall and are written by :meth:`write_rows`
    (from :func:`consolidate` and :func:`flush_access`).
    """

    def __init__(self, decisions: dict[str, int] | None = None) -> None:
        self.salience = np.zeros(0, dtype=np.float64)
        self.novelty = np.zeros(0, dtype=np.float64)
        self.learned_at = np.zeros(0, dtype=np.float64)
        self.reinforced_at = np.zeros(0, dtype=np.float64)
        self.stability = np.ones(0, dtype=np.float64)
        self.access = np.zeros(0, dtype=np.int64)
        self.last_access = np.zeros(0, dtype=np.float64)
        self.replays = np.zeros(0, dtype=np.int64)
        self.expires_at = np.zeros(0, dtype=np.float64)
        self.superseded_by = np.zeros(0, dtype=np.int64)
        self.merged_from: dict[int, list[str]] = {}
        self.aliases: dict[str, str] = {}
        self.dirty: set[int] = set()
        self.decisions: dict[str, int] = (
            decisions if decisions is not None else {"stored": 0, "skipped": 0, "merged": 0, "superseded": 0}
        )
        """Write-policy decisions, shared by the partitions of one memory."""
        self.n_superseded = 0
        self.next_expiry = math.inf
        self.pass_lock = threading.Lock()
        """Serialises consolidation and compaction passes (recall never waits for it)."""

    # -- growth and defaults ------------------------------------------------------------
    def grow(self, n: int) -> None:
        """Make room for slots ``0 .. n-1``."""
        have = self.salience.shape[0]
        if n <= have:
            return
        extra = max(n, int(have * 1.5) + 64) - have

        def pad(array: npt.NDArray[Any], fill: float) -> npt.NDArray[Any]:
            return np.concatenate([array, np.full(extra, fill, dtype=array.dtype)])

        self.salience = pad(self.salience, 0.0)
        self.novelty = pad(self.novelty, np.nan)
        self.learned_at = pad(self.learned_at, 0.0)
        self.reinforced_at = pad(self.reinforced_at, 0.0)
        self.stability = pad(self.stability, 30 * DAY)
        self.access = pad(self.access, 0)
        self.last_access = pad(self.last_access, np.nan)
        self.replays = pad(self.replays, 0)
        self.expires_at = pad(self.expires_at, math.inf)
        self.superseded_by = pad(self.superseded_by, -1)

    def reset(
        self,
        slot: int,
        *,
        learned_at: float,
        stability: float,
        salience: float = 0.0,
        novelty: float = math.nan,
        expires_at: float = math.inf,
    ) -> None:
        """Initialise the state of a new memory."""
        self.grow(slot + 1)
        if self.superseded_by[slot] >= 0:
            self.n_superseded -= 1
        self.salience[slot] = salience
        self.novelty[slot] = novelty
        self.learned_at[slot] = self.reinforced_at[slot] = learned_at
        self.stability[slot] = stability
        self.access[slot] = 0
        self.last_access[slot] = np.nan
        self.replays[slot] = 0
        self.expires_at[slot] = expires_at
        self.superseded_by[slot] = -1
        self.merged_from.pop(slot, None)
        self.next_expiry = min(self.next_expiry, expires_at)

    def load(
        self, store: PartitionStorage, rows: Sequence[MemoryRecord], id_slot: dict[str, int], half_life: float
    ) -> None:
        """Read the partition's lifecycle rows; memories without a row get defaults."""
        live = {row.slot for row in rows}
        self.grow(max(live, default=-1) + 1)
        for row in rows:
            self.reset(row.slot, learned_at=float(row.created_at), stability=half_life)
        for record in store.lifecycle():
            if record.slot in live:  # else a row left by a memory that no longer exists
                self.mirror(record, id_slot)
        self.next_expiry = float(self.expires_at.min()) if self.expires_at.size else math.inf
        self.aliases = store.aliases()

    def mirror(self, record: LifecycleRecord, id_slot: dict[str, int]) -> None:
        """Set a memory's state to its stored lifecycle row (a load, or another process's commit).

        Args:
            record: The row; its ``slot`` must hold a memory (grown here if needed).
            id_slot: Live ids to slots, to resolve ``superseded_by``.
        """
        slot = record.slot
        self.grow(slot + 1)
        self.salience[slot] = record.salience
        self.novelty[slot] = np.nan if record.novelty is None else record.novelty
        self.learned_at[slot] = record.learned_at
        self.reinforced_at[slot] = record.reinforced_at
        self.stability[slot] = record.stability
        self.access[slot] = record.access_count
        self.last_access[slot] = np.nan if record.last_access is None else record.last_access
        self.replays[slot] = record.replay_count
        self.expires_at[slot] = math.inf if record.expires_at is None else record.expires_at
        newer = id_slot.get(record.superseded_by, -1) if record.superseded_by else -1
        self.n_superseded += int(newer >= 0) - int(self.superseded_by[slot] >= 0)
        self.superseded_by[slot] = newer
        ids = json.loads(record.merged_from or "[]")
        if ids:
            self.merged_from[slot] = list(ids)
        else:
            self.merged_from.pop(slot, None)

    # -- reading --------------------------------------------------------------------
    def resolve(self, id: str) -> str:
        """The id a merged-away id now lives under (itself otherwise)."""
        seen = 0
        while id in self.aliases and seen < 64:
            id = self.aliases[id]
            seen += 1
        return id

    def strength(self, slots: IntArray, now: float) -> FloatArray:
        """Strength of ``slots`` at ``now``."""
        self.grow(int(slots.max()) + 1 if slots.size else 0)
        return memory_strength(now, self.reinforced_at[slots], self.stability[slots])

    def hidden(self, n: int, now: float, include_superseded: bool) -> npt.NDArray[np.bool_] | None:
        """Slots recall must not return (superseded unless asked for, expired), or ``None``."""
        self.grow(n)
        mask: npt.NDArray[np.bool_] | None = None
        if not include_superseded and self.n_superseded > 0:
            mask = self.superseded_by[:n] >= 0
        if self.next_expiry <= now:
            expired = self.expires_at[:n] <= now
            mask = expired if mask is None else mask | expired
        return mask

    def visible(
        self, allowed: IntArray | None, slot_ns: npt.NDArray[np.int32], now: float, include_superseded: bool
    ) -> IntArray | None:
        """Narrow a recall's allowed slots (``None`` = all live) to the visible ones."""
        n = int(slot_ns.shape[0])
        hidden = self.hidden(n, now, include_superseded)
        if hidden is None:
            return allowed
        if allowed is None:
            return np.flatnonzero((slot_ns[:n] >= 0) & ~hidden).astype(np.int64)
        return allowed[~hidden[allowed]]

    def demote(self, order: IntArray, slots: IntArray) -> IntArray:
        """Stable reorder of a ranking so superseded memories come after current ones."""
        if self.n_superseded == 0 or order.size == 0:
            return order
        self.grow(int(slots.max()) + 1)
        old = self.superseded_by[slots[order]] >= 0
        return np.concatenate([order[~old], order[old]])

    def fields(self, slot: int, slot_id: Sequence[str | None], now: float) -> dict[str, Any]:
        """Lifecycle fields of :class:`~hippo_memory.Memory`."""
        return self.fields_of([slot], slot_id, now)[0]

    def fields_of(self, slots: Sequence[int], slot_id: Sequence[str | None], now: float) -> list[dict[str, Any]]:
        """:meth:`fields` of several slots, read in one pass over the arrays (a recall's hits)."""
        if not slots:
            return []
        self.grow(max(slots) + 1)
        index = np.asarray(slots, dtype=np.int64)
        strength = memory_strength(now, self.reinforced_at[index], self.stability[index]).tolist()
        salience = self.salience[index].tolist()
        novelty = self.novelty[index].tolist()
        access = self.access[index].tolist()
        expires = self.expires_at[index].tolist()
        newer = self.superseded_by[index].tolist()
        n_ids = len(slot_id)
        merged = self.merged_from
        return [
            {
                "salience": salience[j],
                "novelty": None if math.isnan(novelty[j]) else novelty[j],
                "strength": strength[j],
                "access_count": access[j],
                "expires_at": None if math.isinf(expires[j]) else from_epoch(expires[j]),
                "superseded_by": slot_id[newer[j]] if 0 <= newer[j] < n_ids else None,
                "merged_from": tuple(merged.get(slot, ())),
            }
            for j, slot in enumerate(slots)
        ]

    def stats(self, slots: IntArray, now: float) -> dict[str, Any]:
        """Lifecycle figures for ``HippoMemory.stats()``."""
        strength = self.strength(slots, now) if slots.size else np.zeros(0)
        return {
            "write_policy": dict(self.decisions),
            "superseded": self.n_superseded,
            "aliases": len(self.aliases),
            "mean_strength": round(float(strength.mean()), 4) if strength.size else None,
            "accesses_unflushed": len(self.dirty),
        }

    # -- changing -------------------------------------------------------------------
    def touch(self, slots: IntArray, now: float, growth: float) -> None:
        """Count an access (a recall hit) and reinforce: clock reset, half-life grown."""
        if slots.size == 0:
            return
        slots = np.asarray(slots, dtype=np.int64)
        self.grow(int(slots.max()) + 1)
        reinforced_at, stability = self.reinforced_at[slots], self.stability[slots]  # read once
        strength = memory_strength(now, reinforced_at, stability)
        self.stability[slots] = reinforced_stability(stability, strength, growth)
        self.reinforced_at[slots] = np.maximum(reinforced_at, now)
        self.access[slots] += 1
        self.last_access[slots] = now
        self.dirty.update(slots.tolist())

    def set_superseded(self, old: int, new: int) -> None:
        """Mark ``old`` as superseded by ``new``."""
        self.grow(max(old, new) + 1)
        if self.superseded_by[old] < 0:
            self.n_superseded += 1
        self.superseded_by[old] = new

    def remove(self, slots: Sequence[int], ids: Sequence[str]) -> None:
        """Forget the state of deleted memories; what they superseded is current again."""
        if not slots:
            return
        gone = np.asarray(slots, dtype=np.int64)
        self.grow(int(gone.max()) + 1)
        self.n_superseded -= int((self.superseded_by[gone] >= 0).sum())
        self.superseded_by[gone] = -1
        restored = np.isin(self.superseded_by, gone)
        self.n_superseded -= int(restored.sum())
        self.superseded_by[restored] = -1
        self.expires_at[gone] = math.inf
        for slot in slots:
            self.merged_from.pop(slot, None)
            self.dirty.discard(slot)
        dead = set(ids)
        if dead:
            self.aliases = {a: t for a, t in self.aliases.items() if t not in dead}

    def backup(self, slots: list[int]) -> dict[str, Any]:
        """The changeable state of ``slots``, for :meth:`restore`."""
        index = np.asarray(slots, dtype=np.int64)
        return {
            "slots": index,
            "arrays": {
                name: getattr(self, name)[index].copy()
                for name in ("salience", "stability", "reinforced_at", "access", "replays", "expires_at")
            },
            "merged_from": {s: list(self.merged_from[s]) for s in slots if s in self.merged_from},
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Undo in-RAM changes made for a transaction that did not commit."""
        for name, values in saved["arrays"].items():
            getattr(self, name)[saved["slots"]] = values
        for slot in saved["slots"].tolist():
            self.merged_from.pop(slot, None)
        self.merged_from.update(saved["merged_from"])

    def count(self, counts: dict[str, int]) -> None:
        """Add a write batch's policy decisions to the in-RAM counters."""
        for key, value in counts.items():
            self.decisions[key] = self.decisions.get(key, 0) + value

    # -- persisting -----------------------------------------------------------------
    def row(self, slot: int, slot_id: Sequence[str | None]) -> LifecycleRecord:
        """The stored lifecycle row of ``slot``."""
        self.grow(slot + 1)
        newer = int(self.superseded_by[slot])
        novelty = float(self.novelty[slot])
        last = float(self.last_access[slot])
        expires = float(self.expires_at[slot])
        return LifecycleRecord(
            slot,
            float(self.salience[slot]),
            None if math.isnan(novelty) else novelty,
            float(self.learned_at[slot]),
            float(self.reinforced_at[slot]),
            float(self.stability[slot]),
            int(self.access[slot]),
            None if math.isnan(last) else last,
            int(self.replays[slot]),
            None if math.isinf(expires) else expires,
            slot_id[newer] if 0 <= newer < len(slot_id) else None,
            dumps(self.merged_from.get(slot, [])),
        )

    def write_rows(self, store: PartitionStorage, slots: Iterable[int], slot_id: Sequence[str | None]) -> None:
        """Upsert the rows of ``slots`` (inside the caller's transaction)."""
        store.write_lifecycle([self.row(s, slot_id) for s in slots if s < len(slot_id) and slot_id[s] is not None])

    def ensure_row(self, store: PartitionStorage, slot: int, slot_id: Sequence[str | None]) -> None:
        """Insert the current state of ``slot`` unless it has a row already."""
        store.write_lifecycle([self.row(slot, slot_id)], keep_existing=True)

    def counts_after(self, counts: dict[str, int]) -> dict[str, int]:
        """The policy counters once a batch's ``counts`` are added (to persist with the batch)."""
        total = dict(self.decisions)
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        return total
