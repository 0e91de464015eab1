"""Consolidation and forgetting: memory strength, replay, decay, merging, compaction.

The model (details and the reasons in ``docs/consolidation.md``):

- Every memory has a *strength* ``s = 2 ** (-(now - reinforced_at) / half_life)``.
  A new memory starts at ``s = 1`` with ``half_life = HippoConfig.half_life_days *
  (1 + salience)``. Recalling it (an *access*) or replaying it resets the clock and
  multiplies its half-life by ``1 + (stability_growth - 1) * (1 - s)``: a faded
  memory that is used again becomes much more stable, a fresh one gains nothing
  (the spacing effect), so bursts of recalls do not inflate it.
- :func:`consolidate` ("sleep") works on a snapshot without holding the engine lock:
  it expires memories whose ``ttl`` ran out; *replays* up to ``replay_budget``
  memories chosen by ``priority = (1 + salience) * (1 + log1p(access_count)) *
  (1 - s)`` (what matters and is fading), which refreshes them and re-potentiates
  their associations (Hebbian re-learning, ``w += replay_rate * w``); forgets
  memories whose strength is below ``forget_below``; evicts the weakest memories of
  a namespace above ``max_memories``; and merges near-duplicates (same namespace,
  text cosine at least ``merge_similarity``) into the oldest, keeping their ids as
  aliases and their cues as extra ``merged`` cues, re-pointing their links (the
  survivor keeps the latest expiry of the group, so a duplicate is never lost with a
  temporary copy). Then,
  under the lock and in one SQLite transaction, it checks that every planned change
  still applies (a memory recalled, updated or deleted meanwhile is left alone),
  decays every association by ``2 ** (-elapsed / link_half_life)``, scales each
  memory's outgoing strengths down to ``max_out_strength`` (homeostasis), prunes
  those below ``link_prune_below``, and commits.
- Compaction (:func:`compact`) rewrites the vector file without dead rows as a new
  generation file (written and fsynced outside the lock), then remaps the row
  numbers and names the new file in one transaction; the old file is deleted after
  the commit, and leftovers of an interrupted compaction are deleted on open.
- Access counts are kept in RAM and flushed by :func:`consolidate` and on close.

A process killed at any point leaves the store as it was before the pass or after
it (the fault-injection hook ``HIPPO_MEMORY_FAULT=<point>`` kills the process at the
named point, for tests).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._errors import InvalidInputError
from ._policy import dump_counts, policy_counts
from ._store import MemoryRow, dumps
from ._types import ConsolidationReport, Cue

if TYPE_CHECKING:
    import sqlite3

    from ._memory import HippoMemory

__all__ = [
    "LifecycleState",
    "attach_cues",
    "compact",
    "consolidate",
    "export_jsonl",
    "flush_access",
    "forget_before",
    "memory_strength",
    "register_command",
    "reinforced_stability",
    "replay_priority",
    "supersede",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PriorityFn = Callable[[FloatArray, IntArray, FloatArray], FloatArray]

DAY = 86_400.0
_IDENTICAL = 0.98
_FAULT_ENV = "HIPPO_MEMORY_FAULT"


def _fault(point: str) -> None:
    """Kill this process at ``point`` when ``HIPPO_MEMORY_FAULT`` names it (crash tests)."""
    if os.environ.get(_FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------- pure maths
def memory_strength(now: float, reinforced_at: FloatArray, stability: FloatArray) -> FloatArray:
    """Strength ``2 ** (-(now - reinforced_at) / stability)``, clipped to ``[0, 1]``.

    Args:
        now: Epoch seconds.
        reinforced_at: float64 ``(n,)``, last creation, access or replay.
        stability: float64 ``(n,)``, half-lives in seconds.

    Returns:
        float64 ``(n,)``.
    """
    age = np.maximum(0.0, now - reinforced_at)
    out: FloatArray = np.clip(np.exp2(-age / np.maximum(stability, 1e-9)), 0.0, 1.0)
    return out


def reinforced_stability(stability: FloatArray, strength: FloatArray, growth: float) -> FloatArray:
    """Half-life after an access or replay at ``strength``: ``S * (1 + (growth - 1) * (1 - s))``."""
    out: FloatArray = stability * (1.0 + (growth - 1.0) * (1.0 - strength))
    return out


def replay_priority(salience: FloatArray, access: IntArray, strength: FloatArray) -> FloatArray:
    """``(1 + salience) * (1 + log1p(access)) * (1 - strength)``: what matters and is fading."""
    out: FloatArray = (1.0 + salience) * (1.0 + np.log1p(access)) * (1.0 - strength)
    return out


def duplicate_groups(
    vectors: npt.NDArray[np.float32],
    groups: IntArray,
    fresh: npt.NDArray[np.bool_],
    threshold: float,
    block: int = 1024,
) -> dict[int, int]:
    """Near-duplicates to merge: ``{index: index of the survivor}``.

    Each fresh item is merged into its most similar older item of the same group
    (cosine at least ``threshold``), following earlier merges to their survivor,
    so the oldest of a cluster survives. Items are compared fresh-against-all.

    Args:
        vectors: float32 ``(n, d)``, L2-normalised, ordered oldest first.
        groups: int64 ``(n,)``, only items of one group are compared (namespaces).
        fresh: bool ``(n,)``, items written since the last comparison.
        threshold: Cosine at which two items are duplicates.
        block: Rows per matrix product.
    """
    into: dict[int, int] = {}

    def root(i: int) -> int:
        while i in into:
            i = into[i]
        return i

    for group in np.unique(groups).tolist():
        members = np.flatnonzero(groups == group)
        new = members[fresh[members]]
        if members.size < 2 or new.size == 0:
            continue
        member_vectors = vectors[members]
        for start in range(0, new.size, block):
            chunk = new[start : start + block]
            sims = vectors[chunk] @ member_vectors.T
            for row, item in enumerate(chunk.tolist()):
                older = members < item
                candidates = np.flatnonzero(older & (sims[row] >= threshold))
                if candidates.size == 0:
                    continue
                best = int(members[candidates[int(np.argmax(sims[row][candidates]))]])
                survivor = root(best)
                if survivor != item:
                    into[item] = survivor
    return {item: root(item) for item in into}


# ---------------------------------------------------------------------------- lifecycle state
class LifecycleState:
    """Per-slot lifecycle of the memories, mirrored in the ``lifecycle`` table.

    Arrays are indexed by slot, like the engine's other per-slot state. Access
    counts change in RAM on every recall and are written by :meth:`write_rows`
    (from :func:`consolidate` and :func:`flush_access`).
    """

    def __init__(self) -> None:
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
        self.decisions: dict[str, int] = {"stored": 0, "skipped": 0, "merged": 0, "superseded": 0}
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
        self, db: sqlite3.Connection, rows: Sequence[MemoryRow], id_slot: dict[str, int], half_life: float
    ) -> None:
        """Read the lifecycle table; memories without a row get defaults."""
        live = {int(row[0]) for row in rows}
        self.grow(max(live, default=-1) + 1)
        for row in rows:
            self.reset(int(row[0]), learned_at=float(row[6]), stability=half_life)
        for (
            slot,
            salience,
            novelty,
            learned,
            reinforced,
            stability,
            access,
            last,
            replays,
            expires,
            superseded,
            merged,
        ) in db.execute(
            "SELECT slot, salience, novelty, learned_at, reinforced_at, stability, access_count, "
            "last_access, replay_count, expires_at, superseded_by, merged_from FROM lifecycle"
        ):
            if slot not in live:
                continue  # a row left by a memory that no longer exists
            self.salience[slot] = salience
            self.novelty[slot] = np.nan if novelty is None else novelty
            self.learned_at[slot] = learned
            self.reinforced_at[slot] = reinforced
            self.stability[slot] = stability
            self.access[slot] = access
            self.last_access[slot] = np.nan if last is None else last
            self.replays[slot] = replays
            self.expires_at[slot] = math.inf if expires is None else expires
            newer = id_slot.get(superseded, -1) if superseded else -1
            if newer >= 0:
                self.superseded_by[slot] = newer
                self.n_superseded += 1
            ids = json.loads(merged or "[]")
            if ids:
                self.merged_from[slot] = list(ids)
        self.next_expiry = float(self.expires_at.min()) if self.expires_at.size else math.inf
        self.aliases = {str(a): str(t) for a, t in db.execute("SELECT id, target FROM aliases")}
        self.decisions.update(policy_counts(db))

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
        self.grow(slot + 1)
        newer = int(self.superseded_by[slot])
        novelty = float(self.novelty[slot])
        expires = float(self.expires_at[slot])
        return {
            "salience": float(self.salience[slot]),
            "novelty": None if math.isnan(novelty) else novelty,
            "strength": float(
                memory_strength(now, self.reinforced_at[slot : slot + 1], self.stability[slot : slot + 1])[0]
            ),
            "access_count": int(self.access[slot]),
            "expires_at": None if math.isinf(expires) else datetime.fromtimestamp(expires, tz=UTC),
            "superseded_by": slot_id[newer] if 0 <= newer < len(slot_id) else None,
            "merged_from": tuple(self.merged_from.get(slot, ())),
        }

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
        strength = self.strength(slots, now)
        self.stability[slots] = reinforced_stability(self.stability[slots], strength, growth)
        self.reinforced_at[slots] = np.maximum(self.reinforced_at[slots], now)
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
    def row(self, slot: int, slot_id: Sequence[str | None]) -> tuple[Any, ...]:
        """The ``lifecycle`` table row of ``slot``."""
        self.grow(slot + 1)
        newer = int(self.superseded_by[slot])
        novelty = float(self.novelty[slot])
        last = float(self.last_access[slot])
        expires = float(self.expires_at[slot])
        return (
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

    def write_rows(self, db: sqlite3.Connection, slots: Iterable[int], slot_id: Sequence[str | None]) -> None:
        """Upsert the rows of ``slots`` (inside the caller's transaction)."""
        db.executemany(
            "INSERT OR REPLACE INTO lifecycle VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [self.row(s, slot_id) for s in slots if s < len(slot_id) and slot_id[s] is not None],
        )

    def ensure_row(self, db: sqlite3.Connection, slot: int, memory: HippoMemory) -> None:
        """Insert the current state of ``slot`` unless it has a row already."""
        db.execute("INSERT OR IGNORE INTO lifecycle VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", self.row(slot, memory._slot_id))

    @staticmethod
    def delete_rows(db: sqlite3.Connection, slots: Sequence[int], ids: Sequence[str]) -> None:
        """Delete the lifecycle of deleted memories (inside the caller's transaction)."""
        for start in range(0, len(slots), 900):
            chunk = list(slots[start : start + 900])
            db.execute(f"DELETE FROM lifecycle WHERE slot IN ({','.join('?' * len(chunk))})", chunk)
        for start in range(0, len(ids), 900):
            chunk_ids = list(ids[start : start + 900])
            marks = ",".join("?" * len(chunk_ids))
            db.execute(f"UPDATE lifecycle SET superseded_by = NULL WHERE superseded_by IN ({marks})", chunk_ids)
            db.execute(f"DELETE FROM aliases WHERE target IN ({marks})", chunk_ids)

    def add_counts(self, db: sqlite3.Connection, counts: dict[str, int]) -> None:
        """Persist a batch's policy decisions (inside the write transaction)."""
        total = dict(self.decisions)
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        db.execute("INSERT OR REPLACE INTO meta VALUES ('write_policy_counts', ?)", (dump_counts(total),))


# ---------------------------------------------------------------------------- cue rewrites
class _CueBlock:
    """A memory's new contiguous block of cue rows (its old cues plus merged ones)."""

    __slots__ = ("cues", "first_row", "slot", "vectors")

    def __init__(self, slot: int, cues: list[tuple[str, str]], vectors: npt.NDArray[np.float32]) -> None:
        self.slot = slot
        self.cues = cues
        self.vectors = vectors
        self.first_row = 0


def _cue_block(
    memory: HippoMemory, slot: int, extra: Sequence[tuple[str, str]], extra_vectors: npt.NDArray[np.float32]
) -> _CueBlock | None:
    """The memory's cues plus those of ``extra`` that add something; ``None`` if none do."""
    start, count = (int(v) for v in memory._slot_rows[slot])
    rows = np.arange(start, start + count)
    vectors = memory._index.vectors(rows)
    cues = [(kind, text) for _, kind, text in memory._store.cues_by_slot([slot]).get(slot, [])]
    limit = max(4 * memory.config.max_cues, count)
    kept = [vectors]
    added: list[tuple[str, str]] = []
    current = vectors
    for (kind, text), vector in zip(extra, extra_vectors, strict=True):
        if len(cues) + len(added) >= limit:
            break
        if current.size and float((current @ vector).max()) >= _IDENTICAL:
            continue
        added.append((kind, text))
        kept.append(vector[None, :])
        current = np.concatenate(kept)
    if not added:
        return None
    return _CueBlock(slot, cues + added, np.ascontiguousarray(np.concatenate(kept), dtype=np.float32))


def _write_blocks_sql(db: sqlite3.Connection, blocks: Sequence[_CueBlock]) -> None:
    for block in blocks:
        db.execute("DELETE FROM cues WHERE slot = ?", (block.slot,))
        db.executemany(
            "INSERT INTO cues VALUES (?,?,?,?)",
            [(block.first_row + i, block.slot, kind, text) for i, (kind, text) in enumerate(block.cues)],
        )
        db.execute(
            "UPDATE memories SET row_start = ?, row_count = ? WHERE slot = ?",
            (block.first_row, len(block.cues), block.slot),
        )


def _install_blocks(memory: HippoMemory, blocks: Sequence[_CueBlock]) -> None:
    """Mirror committed cue blocks in RAM (rows were allocated from ``_index.n_rows``)."""
    for block in blocks:
        old_start, old_count = (int(v) for v in memory._slot_rows[block.slot])
        memory._index.remove(np.arange(old_start, old_start + old_count))
    if blocks:
        memory._index.add(np.concatenate([b.vectors for b in blocks]))
        memory._row_owner = np.concatenate(
            [memory._row_owner, *[np.full(len(b.cues), b.slot, dtype=np.int64) for b in blocks]]
        )
    for block in blocks:
        memory._slot_rows[block.slot] = (block.first_row, len(block.cues))


def _allocate(memory: HippoMemory, blocks: Sequence[_CueBlock]) -> int:
    """Give blocks consecutive rows after the committed ones; returns the new row count."""
    row = memory._index.n_rows
    for block in blocks:
        block.first_row = row
        row += len(block.cues)
    return row


def attach_cues(
    memory: HippoMemory,
    slot: int,
    cues: Sequence[Cue],
    vectors: npt.NDArray[np.float32],
    *,
    salience: float = 0.0,
    merged_id: str | None = None,
    now: float | None = None,
) -> None:
    """Fold a duplicate into ``slot``: extra cues, salience, provenance; one transaction.

    Call under the engine lock. Cues practically identical to an existing one
    (cosine at least 0.98) are not added; the memory counts as accessed.
    """
    now = memory.clock() if now is None else now
    life = memory._life
    store = memory._store
    block = _cue_block(memory, slot, [(c.kind, c.text) for c in cues], vectors)
    blocks = [block] if block is not None else []
    end_row = _allocate(memory, blocks)
    life.grow(slot + 1)
    life.salience[slot] = max(float(life.salience[slot]), salience)
    life.touch(np.asarray([slot]), now, memory.config.stability_growth)
    if merged_id is not None:
        life.merged_from.setdefault(slot, []).append(merged_id)
    if blocks:
        store.append_vectors(np.concatenate([b.vectors for b in blocks]))
    with store.transaction() as db:
        _write_blocks_sql(db, blocks)
        life.write_rows(db, [slot], memory._slot_id)
        if blocks:
            store.commit_rows(end_row)
    life.dirty.discard(slot)
    if blocks:
        store.rows_committed(end_row)
        _install_blocks(memory, blocks)
        memory._persist_ivf()


# ---------------------------------------------------------------------------- consolidate
class _Snapshot:
    """What the planning phase reads, copied under the lock."""

    def __init__(self, memory: HippoMemory, now: float) -> None:
        n = len(memory._slot_id)
        life = memory._life
        life.grow(n)
        self.n = n
        self.now = now
        self.ids = list(memory._slot_id)
        self.alive = memory._slot_ns[:n] >= 0
        self.ns = memory._slot_ns[:n].copy()
        self.text_rows = memory._slot_rows[:n, 0].copy()
        self.vectors = memory._index.all_vectors  # rows below n_rows are never rewritten
        self.salience = life.salience[:n].copy()
        self.learned_at = life.learned_at[:n].copy()
        self.reinforced_at = life.reinforced_at[:n].copy()
        self.stability = life.stability[:n].copy()
        self.access = life.access[:n].copy()
        self.expires_at = life.expires_at[:n].copy()
        self.superseded = life.superseded_by[:n] >= 0
        meta = memory._store.read_meta()
        first = float(self.learned_at[self.alive].min()) if self.alive.any() else now
        self.last = float(meta.get("consolidated_at", first))  # links decay from the first memory on
        self.memories = len(memory._id_slot)
        self.links = sum(len(t) for t in memory._assoc.links.values())


class _Plan:
    """Decisions computed from a snapshot, without the lock."""

    def __init__(self) -> None:
        self.expired: list[int] = []
        self.decayed: list[int] = []
        self.evicted: list[int] = []
        self.replayed: IntArray = np.zeros(0, dtype=np.int64)
        self.replay_stability: FloatArray = np.zeros(0)
        self.merges: dict[int, int] = {}


def _make_plan(
    snap: _Snapshot,
    memory: HippoMemory,
    *,
    replay: bool,
    budget: int,
    decay: bool,
    merge: bool,
    full: bool,
    priority: PriorityFn | None,
) -> _Plan:
    config = memory.config
    plan = _Plan()
    now = snap.now
    alive = snap.alive
    slots = np.flatnonzero(alive)
    expired = alive & (snap.expires_at <= now)
    plan.expired = np.flatnonzero(expired).tolist()
    strength = np.ones(snap.n)
    strength[slots] = memory_strength(now, snap.reinforced_at[slots], snap.stability[slots])
    candidates = np.flatnonzero(alive & ~expired & ~snap.superseded)
    if replay and budget > 0 and candidates.size:
        score = (priority or replay_priority)(snap.salience[candidates], snap.access[candidates], strength[candidates])
        order = np.lexsort((candidates, -score))
        chosen = candidates[order[:budget]]
        chosen = chosen[score[order[:budget]] > 0]
        plan.replayed = chosen.astype(np.int64)
        plan.replay_stability = reinforced_stability(snap.stability[chosen], strength[chosen], config.stability_growth)
        strength[chosen] = 1.0
    doomed = expired.copy()
    if decay and config.forget_below > 0:
        decayed = alive & ~doomed & (strength < config.forget_below)
        plan.decayed = np.flatnonzero(decayed).tolist()
        doomed |= decayed
    if config.max_memories is not None:
        importance = (1.0 + snap.salience) * (1.0 + np.log1p(snap.access))
        retention = importance * strength
        for ns in np.unique(snap.ns[alive & ~doomed]).tolist():
            members = np.flatnonzero(alive & ~doomed & (snap.ns == ns))
            excess = members.size - config.max_memories
            if excess > 0:
                order = np.lexsort((members, retention[members]))
                evicted = members[order[:excess]]
                plan.evicted.extend(evicted.tolist())
                doomed[evicted] = True
    if merge:
        pool = np.flatnonzero(alive & ~doomed & ~snap.superseded)
        if pool.size > 1:
            vectors = snap.vectors[snap.text_rows[pool]]
            fresh = np.ones(pool.size, dtype=bool) if full else snap.learned_at[pool] >= snap.last
            found = duplicate_groups(vectors, snap.ns[pool].astype(np.int64), fresh, config.merge_similarity)
            plan.merges = {int(pool[i]): int(pool[s]) for i, s in found.items()}
    return plan


def consolidate(
    memory: HippoMemory,
    *,
    now: float | None = None,
    replay: bool = True,
    replay_budget: int | None = None,
    decay: bool = True,
    merge: bool = True,
    compact_files: bool | None = None,
    full: bool = False,
    _priority: PriorityFn | None = None,
) -> ConsolidationReport:
    """One consolidation pass; see :meth:`HippoMemory.consolidate` and the module docstring."""
    started = time.perf_counter()
    config = memory.config
    budget = config.replay_budget if replay_budget is None else replay_budget
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise InvalidInputError(f"replay_budget must be a non-negative integer, not {budget!r}")
    locked = 0.0
    with memory._life.pass_lock:
        with memory._lock:
            t = time.perf_counter()
            memory._check_open()
            now_t = memory.clock() if now is None else float(now)
            snap = _Snapshot(memory, now_t)
            locked += time.perf_counter() - t
        plan = _make_plan(
            snap,
            memory,
            replay=replay,
            budget=budget,
            decay=decay,
            merge=merge,
            full=full,
            priority=_priority,
        )
        _fault("consolidate:planned")
        with memory._lock:
            t = time.perf_counter()
            memory._check_open()
            outcome = _commit(memory, snap, plan, decay=decay)
            locked += time.perf_counter() - t
        rows_before = rows_after = memory._store.n_rows
        compacted = False
        if compact_files is not False:
            result = _compact(memory, force=bool(compact_files))
            if result is not None:
                compacted = True
                rows_before, rows_after, compact_locked = result
                locked += compact_locked
    return ConsolidationReport(
        started_at=datetime.fromtimestamp(now_t, tz=UTC),
        duration_s=time.perf_counter() - started,
        lock_ms=locked * 1e3,
        memories_before=snap.memories,
        memories_after=len(memory._id_slot),
        replayed=outcome["replayed"],
        expired=outcome["expired"],
        decayed=outcome["decayed"],
        evicted=outcome["evicted"],
        merged=outcome["merged"],
        links_before=snap.links,
        links_after=sum(len(t) for t in memory._assoc.links.values()),
        links_pruned=outcome["pruned"],
        accesses_flushed=outcome["flushed"],
        compacted=compacted,
        rows_before=rows_before,
        rows_after=rows_after,
        conflicts=outcome["conflicts"],
    )


def _commit(memory: HippoMemory, snap: _Snapshot, plan: _Plan, *, decay: bool) -> dict[str, int]:
    """Apply a plan under the lock: validate, one transaction, then mirror in RAM."""
    config = memory.config
    life = memory._life
    store = memory._store
    n = len(memory._slot_id)
    conflicts = 0

    def same(slot: int) -> bool:
        return (
            slot < n and slot < snap.n and memory._slot_id[slot] is not None and memory._slot_id[slot] == snap.ids[slot]
        )

    def unchanged(slot: int) -> bool:  # not re-encoded or given new cues since the snapshot
        return same(slot) and int(memory._slot_rows[slot, 0]) == int(snap.text_rows[slot])

    def untouched(slot: int) -> bool:
        return same(slot) and int(life.access[slot]) == int(snap.access[slot])

    removed: dict[str, list[int]] = {"expired": [], "decayed": [], "evicted": []}
    for slot in plan.expired:
        if same(slot):
            removed["expired"].append(slot)
        else:
            conflicts += 1
    for key, planned in (("decayed", plan.decayed), ("evicted", plan.evicted)):
        for slot in planned:
            if untouched(slot):  # recalled meanwhile: it is not fading after all
                removed[key].append(slot)
            else:
                conflicts += 1
    doomed = sorted({s for v in removed.values() for s in v})
    doomed_set = set(doomed)
    merges: dict[int, int] = {}
    for dup, survivor in sorted(plan.merges.items()):
        if (
            unchanged(dup)
            and unchanged(survivor)
            and dup not in doomed_set
            and survivor not in doomed_set
            and life.superseded_by[dup] < 0
            and life.superseded_by[survivor] < 0
        ):
            merges[dup] = survivor
        else:
            conflicts += 1
    replayed = [s for s, st in zip(plan.replayed.tolist(), plan.replay_stability.tolist(), strict=True) if same(s)]
    conflicts += len(plan.replayed) - len(replayed)
    # survivors' new cue blocks: their own cues plus the duplicates' cues
    by_survivor: dict[int, list[int]] = {}
    for dup, survivor in merges.items():
        by_survivor.setdefault(survivor, []).append(dup)
    blocks: list[_CueBlock] = []
    for survivor, dups in sorted(by_survivor.items()):
        extra: list[tuple[str, str]] = []
        extra_vectors = []
        cue_rows = store.cues_by_slot(dups)
        for dup in dups:
            for row, _kind, text in cue_rows.get(dup, []):
                extra.append(("merged", text))
                extra_vectors.append(memory._index.vectors(np.asarray([row]))[0])
        if extra:
            block = _cue_block(memory, survivor, extra, np.asarray(extra_vectors, dtype=np.float32))
            if block is not None:
                blocks.append(block)
    end_row = _allocate(memory, blocks)
    # links: decay by elapsed time, re-potentiate replayed memories, re-point merged, homeostasis, prune
    elapsed = max(0.0, snap.now - snap.last)
    factor = math.exp2(-elapsed / (config.link_half_life_days * DAY)) if decay else 1.0
    boost = 1.0 + config.replay_rate
    replay_set = set(replayed)
    gone = doomed_set | set(merges)
    final: dict[int, dict[int, float]] = {}
    for src, targets in memory._assoc.links.items():
        if src in doomed_set:
            continue
        new_src = merges.get(src, src)
        for dst, w in targets.items():
            if dst in doomed_set:
                continue
            new_dst = merges.get(dst, dst)
            if new_src == new_dst:
                continue
            weight = w * factor * (boost if (src in replay_set or dst in replay_set) else 1.0)
            out = final.setdefault(new_src, {})
            out[new_dst] = out.get(new_dst, 0.0) + weight
    pruned = 0
    for src in list(final):
        targets = final[src]
        total = sum(targets.values())
        if total > config.max_out_strength:
            scale = config.max_out_strength / total
            for dst in targets:
                targets[dst] *= scale
        weak = [dst for dst, w in targets.items() if w < config.link_prune_below]
        pruned += len(weak)
        for dst in weak:
            del targets[dst]
        if not targets:
            del final[src]
    # lifecycle of survivors and replayed memories
    growth_stability = dict(zip(plan.replayed.tolist(), plan.replay_stability.tolist(), strict=True))
    dirty = set(life.dirty) - gone
    changed: set[int] = set(replayed) | set(by_survivor) | dirty
    backup = life.backup(sorted(changed))  # restored if the transaction fails
    for slot in replayed:
        life.stability[slot] = max(float(life.stability[slot]), growth_stability[slot])
        life.reinforced_at[slot] = max(float(life.reinforced_at[slot]), snap.now)
        life.replays[slot] += 1
    for survivor, dups in by_survivor.items():
        for dup in dups:
            life.salience[survivor] = max(life.salience[survivor], life.salience[dup])
            life.access[survivor] += life.access[dup]
            life.stability[survivor] = max(life.stability[survivor], life.stability[dup])
            life.reinforced_at[survivor] = max(life.reinforced_at[survivor], life.reinforced_at[dup])
            # the survivor lives as long as the longest-lived copy: a permanent duplicate of a
            # memory with a ttl must not expire with it
            life.expires_at[survivor] = max(life.expires_at[survivor], life.expires_at[dup])
            merged = life.merged_from.setdefault(survivor, [])
            merged.append(memory._slot_id[dup] or "")
            merged.extend(life.merged_from.get(dup, []))
    alias_rows = []
    for dup, survivor in merges.items():
        dup_id, survivor_id = memory._slot_id[dup], memory._slot_id[survivor]
        if dup_id is not None and survivor_id is not None:
            alias_rows.append((dup_id, survivor_id))
    dropped = sorted(gone)
    doomed_ids = [memory._slot_id[s] or "" for s in doomed]
    if blocks:
        store.append_vectors(np.concatenate([b.vectors for b in blocks]))
    _fault("consolidate:appended")
    try:
        _commit_sql(memory, dropped, doomed_ids, alias_rows, blocks, final, changed, snap.now, end_row)
    except BaseException:
        life.restore(backup)
        raise
    _fault("consolidate:committed")
    # committed: mirror in RAM
    if blocks:
        store.rows_committed(end_row)
        _install_blocks(memory, blocks)
    for dup, survivor in merges.items():
        superseded = np.flatnonzero(life.superseded_by == dup)
        life.superseded_by[superseded] = survivor
    for dup_id, survivor_id in alias_rows:
        life.aliases = {a: (survivor_id if t == dup_id else t) for a, t in life.aliases.items()}
        life.aliases[dup_id] = survivor_id
    memory._drop_slots(dropped)
    memory._assoc.links = final
    life.dirty -= changed
    life.next_expiry = float(life.expires_at.min()) if life.expires_at.size else math.inf
    memory._persist_ivf()
    return {
        "replayed": len(replayed),
        "expired": len(removed["expired"]),
        "decayed": len(removed["decayed"]),
        "evicted": len(removed["evicted"]),
        "merged": len(merges),
        "pruned": pruned,
        "flushed": len(dirty),
        "conflicts": conflicts,
    }


def _commit_sql(
    memory: HippoMemory,
    dropped: list[int],
    doomed_ids: list[str],
    alias_rows: list[tuple[str, str]],
    blocks: list[_CueBlock],
    final: dict[int, dict[int, float]],
    changed: set[int],
    now: float,
    end_row: int,
) -> None:
    """The one transaction of a consolidation pass."""
    store = memory._store
    life = memory._life
    with store.transaction() as db:
        for start in range(0, len(dropped), 900):
            chunk = dropped[start : start + 900]
            marks = ",".join("?" * len(chunk))
            db.execute(f"DELETE FROM memories WHERE slot IN ({marks})", chunk)
            db.execute(f"DELETE FROM cues WHERE slot IN ({marks})", chunk)
            db.execute(f"DELETE FROM lifecycle WHERE slot IN ({marks})", chunk)
        LifecycleState.delete_rows(db, [], doomed_ids)
        for dup_id, survivor_id in alias_rows:
            db.execute("UPDATE aliases SET target = ? WHERE target = ?", (survivor_id, dup_id))
            db.execute("UPDATE lifecycle SET superseded_by = ? WHERE superseded_by = ?", (survivor_id, dup_id))
        db.executemany("INSERT OR REPLACE INTO aliases VALUES (?, ?)", alias_rows)
        _write_blocks_sql(db, blocks)
        _fault("consolidate:in-transaction")
        db.execute("DELETE FROM links")
        db.executemany(
            "INSERT INTO links VALUES (?,?,?)",
            [(s, d, w) for s, targets in final.items() for d, w in targets.items()],
        )
        life.write_rows(db, sorted(changed), memory._slot_id)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('consolidated_at', ?)", (repr(now),))
        if blocks:
            store.commit_rows(end_row)


# ---------------------------------------------------------------------------- compaction
def compact(memory: HippoMemory, *, force: bool = False) -> tuple[int, int, float] | None:
    """Rewrite the vector file and the index without dead rows (one pass at a time).

    The live rows of a snapshot are written to the next generation's file and a new
    index is built from them without the lock; under the lock the rows added since
    are appended, rows deleted since are marked dead, and one transaction remaps the
    row numbers and names the new file. The old file is deleted after the commit.

    Returns:
        ``(rows_before, rows_after, seconds_locked)``, or ``None`` when there was too
        little dead space (below ``HippoConfig.compact_dead_fraction``) and not ``force``.
    """
    with memory._life.pass_lock:
        return _compact(memory, force=force)


def _compact(memory: HippoMemory, *, force: bool) -> tuple[int, int, float] | None:
    from ._index import CueIndex

    locked = 0.0
    with memory._lock:
        t = time.perf_counter()
        memory._check_open()
        index = memory._index
        n0 = index.n_rows
        alive0 = index.alive(np.arange(n0))
        vectors = index.all_vectors
        name = memory._store.next_vectors_name()
        locked += time.perf_counter() - t
    dead = n0 - int(alive0.sum())
    if n0 == 0 or dead == 0 or (not force and dead < memory.config.compact_dead_fraction * n0):
        return None
    live_rows = np.flatnonzero(alive0).astype(np.int64)
    kept = np.ascontiguousarray(vectors[live_rows])
    memory._store.write_vector_file(name, kept)
    _fault("compact:written")
    fresh: CueIndex = memory._new_index()
    fresh.add(kept, rebuild=False)
    fresh.refresh()
    with memory._lock:
        t = time.perf_counter()
        memory._check_open()
        store = memory._store
        index = memory._index
        n1 = index.n_rows
        mapping = np.full(n1, -1, dtype=np.int64)
        mapping[live_rows] = np.arange(live_rows.size)
        if n1 > n0:  # rows written while the file was being copied
            delta = np.arange(n0, n1)
            mapping[delta] = live_rows.size + np.arange(delta.size)
            store.write_vector_file(name, index.vectors(delta), first_row=live_rows.size)
            fresh.add(index.vectors(delta), alive=index.alive(delta))
        died = live_rows[~index.alive(live_rows)]
        if died.size:
            fresh.remove(mapping[died])
        n_new = live_rows.size + (n1 - n0)
        _fault("compact:remapped")
        with store.transaction() as db:
            moved = np.flatnonzero(mapping != np.arange(n1))
            moved = moved[mapping[moved] >= 0]
            db.execute("CREATE TEMP TABLE IF NOT EXISTS remap (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
            db.execute("DELETE FROM remap")
            db.executemany("INSERT INTO remap VALUES (?, ?)", zip(moved.tolist(), mapping[moved].tolist(), strict=True))
            # two passes through negative numbers, so no row collides with one not yet moved
            db.execute(
                "UPDATE cues SET row = -1 - (SELECT new FROM remap WHERE old = cues.row) WHERE row IN (SELECT old FROM remap)"
            )
            db.execute("UPDATE cues SET row = -1 - row WHERE row < 0")
            db.execute(
                "UPDATE memories SET row_start = (SELECT new FROM remap WHERE old = memories.row_start) WHERE row_start IN (SELECT old FROM remap)"
            )
            db.execute("DELETE FROM remap")
            store.commit_vectors_name(name)
            store.commit_rows(n_new)
        _fault("compact:committed")
        store.switch_vectors(name, n_new)
        owner = np.full(n_new, -1, dtype=np.int64)
        valid = mapping >= 0
        owner[mapping[valid]] = memory._row_owner[:n1][valid]
        memory._row_owner = owner
        live_slots = np.flatnonzero(memory._slot_ns[: len(memory._slot_id)] >= 0)
        memory._slot_rows[live_slots, 0] = mapping[memory._slot_rows[live_slots, 0]]
        memory._index = fresh
        memory._persist_ivf()
        locked += time.perf_counter() - t
    return n0, n_new, locked


# ---------------------------------------------------------------------------- other operations
def flush_access(memory: HippoMemory) -> int:
    """Write in-RAM access counts to the store (call under the engine lock)."""
    life = memory._life
    if not life.dirty:
        return 0
    slots = sorted(life.dirty)
    with memory._store.transaction() as db:
        life.write_rows(db, slots, memory._slot_id)
    life.dirty.clear()
    return len(slots)


def supersede(memory: HippoMemory, old: str, new: str) -> None:
    """Mark memory ``old`` as superseded by ``new`` (see :meth:`HippoMemory.supersede`)."""
    with memory._lock:
        memory._check_open()
        old_slot, new_slot = memory._slot(old), memory._slot(new)
        if old_slot == new_slot:
            raise InvalidInputError("a memory cannot supersede itself")
        if memory._life.superseded_by[new_slot] == old_slot:
            raise InvalidInputError(f"{old!r} already supersedes {new!r}; supersession cannot be circular")
        life = memory._life
        with memory._store.transaction() as db:
            life.ensure_row(db, old_slot, memory)
            db.execute("UPDATE lifecycle SET superseded_by = ? WHERE slot = ?", (memory._slot_id[new_slot], old_slot))
            life.add_counts(db, {"superseded": 1})
        life.set_superseded(old_slot, new_slot)
        life.count({"superseded": 1})


def forget_before(memory: HippoMemory, before: float, namespace: tuple[str, ...] | None) -> int:
    """Forget memories from before ``before`` (epoch seconds); see :meth:`HippoMemory.forget_before`."""
    with memory._lock:
        memory._check_open()
        n = len(memory._slot_id)
        matching = memory._matching_namespaces(namespace)
        mask = np.isin(memory._slot_ns[:n], np.asarray(matching, dtype=np.int32))
        memory._life.grow(n)
        when = np.where(np.isnan(memory._slot_time[:n]), memory._life.learned_at[:n], memory._slot_time[:n])
        slots = np.flatnonzero(mask & (when < before))
        ids = [memory._slot_id[s] for s in slots.tolist()]
        return memory.forget([i for i in ids if i is not None]) if ids else 0


def export_jsonl(
    memory: HippoMemory,
    path: str | os.PathLike[str],
    namespace: tuple[str, ...] | None,
    include_superseded: bool,
) -> int:
    """Write memories as JSON lines; see :meth:`HippoMemory.export_jsonl`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with memory._lock:
        memory._check_open()
        n = len(memory._slot_id)
        matching = memory._matching_namespaces(namespace)
        mask = np.isin(memory._slot_ns[:n], np.asarray(matching, dtype=np.int32))
        hidden = memory._life.hidden(n, memory.clock(), include_superseded)
        if hidden is not None:
            mask &= ~hidden
        slots = np.flatnonzero(mask).tolist()
    written = 0
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for start in range(0, len(slots), 256):
                with memory._lock:
                    memory._check_open()
                    chunk = [s for s in slots[start : start + 256] if memory._slot_id[s] is not None]
                    rows = memory._store.memories_by_slot(chunk)
                    cues = memory._store.cues_by_slot(chunk)
                    records = [memory._memory(rows[s], cues.get(s, [])) for s in chunk if s in rows]
                for record in records:
                    handle.write(json.dumps(_export_record(record), ensure_ascii=False) + "\n")
                    written += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return written


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


# ---------------------------------------------------------------------------- command line
def _command(args: argparse.Namespace) -> int:
    from ._memory import HippoMemory

    with HippoMemory(args.store, encoder=getattr(args, "encoder", None)) as memory:
        report = memory.consolidate(
            replay=not args.no_replay,
            replay_budget=args.replay_budget,
            decay=not args.no_decay,
            merge=not args.no_merge,
            compact={"auto": None, "always": True, "never": False}[args.compact],
            full=args.full,
        )
    data = {key: getattr(report, key) for key in report.__dataclass_fields__}
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        width = max(len(key) for key in data)
        for key, value in data.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"{key:<{width}}  {shown}")
    return 0


def register_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``consolidate`` subcommand (uses the parent parser's ``--store``/``--encoder``)."""
    parser = subparsers.add_parser(
        "consolidate",
        help="replay, decay, merge duplicates, expire and compact the store (a 'night')",
        description="One consolidation pass over the store; prints what it did.",
    )
    parser.add_argument("--no-replay", action="store_true", help="do not replay memories")
    parser.add_argument("--no-decay", action="store_true", help="no link decay, no forgetting by strength")
    parser.add_argument("--no-merge", action="store_true", help="do not merge near-duplicates")
    parser.add_argument("--replay-budget", type=int, default=None, help="memories replayed (default from the config)")
    parser.add_argument(
        "--compact",
        choices=("auto", "always", "never"),
        default="auto",
        help="rewrite the vector file without dead rows (auto: when enough rows are dead)",
    )
    parser.add_argument("--full", action="store_true", help="compare all pairs for duplicates, not only new memories")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_command)
