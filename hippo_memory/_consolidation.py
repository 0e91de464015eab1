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
  a namespace above ``max_memories``; and merges near-duplicates (same namespace and metadata,
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

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._compaction import _compact, compact
from ._cue_blocks import _allocate, _cue_block, _CueBlock, _install_blocks, _write_blocks, attach_cues
from ._errors import InvalidInputError
from ._faults import fault as _fault
from ._lifecycle import DAY, memory_strength, reinforced_stability, replay_priority
from ._storage import LinkRecord
from ._types import ConsolidationReport

if TYPE_CHECKING:
    from ._partition import Partition

__all__ = [
    "attach_cues",
    "compact",
    "consolidate",
    "forget_before",
    "memory_strength",
    "merge_reports",
    "reinforced_stability",
    "replay_priority",
    "supersede",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PriorityFn = Callable[[FloatArray, IntArray, FloatArray], FloatArray]

_IDENTICAL = 0.98
_FAULT_ENV = "HIPPO_MEMORY_FAULT"


# ---------------------------------------------------------------------------- pure maths
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


# ---------------------------------------------------------------------------- consolidate
class _Snapshot:
    """What the planning phase reads, copied under the lock."""

    def __init__(self, memory: Partition, now: float) -> None:
        n = len(memory.slot_id)
        life = memory.life
        life.grow(n)
        self.n = n
        self.now = now
        self.ids = list(memory.slot_id)
        self.alive = memory.slot_ns[:n] >= 0
        self.ns = memory.slot_ns[:n].copy()
        self.text_rows = memory.slot_rows[:n, 0].copy()
        self.vectors = memory.index.all_vectors  # rows below n_rows are never rewritten
        self.salience = life.salience[:n].copy()
        self.learned_at = life.learned_at[:n].copy()
        self.reinforced_at = life.reinforced_at[:n].copy()
        self.stability = life.stability[:n].copy()
        self.access = life.access[:n].copy()
        self.expires_at = life.expires_at[:n].copy()
        self.superseded = life.superseded_by[:n] >= 0
        first = float(self.learned_at[self.alive].min()) if self.alive.any() else now
        at = memory.store.consolidated_at()
        self.last = first if at is None else at  # links decay from the first memory on
        self.memories = len(memory.id_slot)
        self.links = sum(len(t) for t in memory.assoc.links.values())


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
    memory: Partition,
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
            plan.merges = _same_metadata(memory, {int(pool[i]): int(pool[s]) for i, s in found.items()})
    return plan


def _same_metadata(memory: Partition, merges: dict[int, int]) -> dict[int, int]:
    """The merges whose two memories carry the same metadata.

    Near-identical texts with different metadata are different records (a LangGraph
    store's items under two keys, a fact told by two speakers): merging them would
    lose one's metadata and answer a lookup of its id with the other.
    """
    if not merges:
        return merges
    metadata = dict(memory.store.metadata_by_slot(sorted(set(merges) | set(merges.values()))))
    return {dup: survivor for dup, survivor in merges.items() if metadata.get(dup) == metadata.get(survivor)}


def consolidate(
    memory: Partition,
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
    with memory.life.pass_lock:
        with memory.lock:
            t = time.perf_counter()
            memory.check_open()
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
        with memory.lock:
            t = time.perf_counter()
            memory.check_open()
            outcome = _commit(memory, snap, plan, decay=decay)
            locked += time.perf_counter() - t
        rows_before = rows_after = memory.store.n_rows
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
        memories_after=len(memory.id_slot),
        replayed=outcome["replayed"],
        expired=outcome["expired"],
        decayed=outcome["decayed"],
        evicted=outcome["evicted"],
        merged=outcome["merged"],
        links_before=snap.links,
        links_after=sum(len(t) for t in memory.assoc.links.values()),
        links_pruned=outcome["pruned"],
        accesses_flushed=outcome["flushed"],
        compacted=compacted,
        rows_before=rows_before,
        rows_after=rows_after,
        conflicts=outcome["conflicts"],
    )


def _commit(memory: Partition, snap: _Snapshot, plan: _Plan, *, decay: bool) -> dict[str, int]:
    """Apply a plan under the lock: validate, one transaction, then mirror in RAM."""
    config = memory.config
    life = memory.life
    store = memory.store
    n = len(memory.slot_id)
    conflicts = 0

    def same(slot: int) -> bool:
        return (
            slot < n and slot < snap.n and memory.slot_id[slot] is not None and memory.slot_id[slot] == snap.ids[slot]
        )

    def unchanged(slot: int) -> bool:  # not re-encoded or given new cues since the snapshot
        return same(slot) and int(memory.slot_rows[slot, 0]) == int(snap.text_rows[slot])

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
            for cue in cue_rows.get(dup, []):
                extra.append(("merged", cue.text))
                extra_vectors.append(memory.index.vectors(np.asarray([cue.row]))[0])
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
    for src, targets in memory.assoc.links.items():
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
            merged.append(memory.slot_id[dup] or "")
            merged.extend(life.merged_from.get(dup, []))
    alias_rows = []
    for dup, survivor in merges.items():
        dup_id, survivor_id = memory.slot_id[dup], memory.slot_id[survivor]
        if dup_id is not None and survivor_id is not None:
            alias_rows.append((dup_id, survivor_id))
    dropped = sorted(gone)
    doomed_ids = [memory.slot_id[s] or "" for s in doomed]
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
    memory.drop_slots(dropped)
    memory.assoc.links = final
    life.dirty -= changed
    life.next_expiry = float(life.expires_at.min()) if life.expires_at.size else math.inf
    memory.persist_ivf()
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
    memory: Partition,
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
    store = memory.store
    life = memory.life
    with memory.transaction():
        store.delete_memories(dropped, doomed_ids)
        store.merge_ids(alias_rows)
        _write_blocks(memory, blocks)
        _fault("consolidate:in-transaction")
        store.replace_links(LinkRecord(s, d, w) for s, targets in final.items() for d, w in targets.items())
        life.write_rows(store, sorted(changed), memory.slot_id)
        store.set_consolidated_at(now)
        if blocks:
            store.commit_rows(end_row)


def merge_reports(reports: Sequence[ConsolidationReport], now: float) -> ConsolidationReport:
    """One report for a pass over several partitions: counts and times added up."""
    if not reports:
        return ConsolidationReport(
            started_at=datetime.fromtimestamp(now, tz=UTC),
            duration_s=0.0,
            lock_ms=0.0,
            memories_before=0,
            memories_after=0,
            replayed=0,
            expired=0,
            decayed=0,
            evicted=0,
            merged=0,
            links_before=0,
            links_after=0,
            links_pruned=0,
            accesses_flushed=0,
            compacted=False,
            rows_before=0,
            rows_after=0,
            conflicts=0,
        )
    values: dict[str, Any] = {}
    for name in reports[0].__dataclass_fields__:
        items = [getattr(report, name) for report in reports]
        if name == "started_at":
            values[name] = min(items)
        elif name == "lock_ms":
            values[name] = max(items)
        elif name == "compacted":
            values[name] = any(items)
        else:
            values[name] = sum(items)
    return ConsolidationReport(**values)


# ---------------------------------------------------------------------------- other operations
def supersede(memory: Partition, old: str, new: str) -> None:
    """Mark memory ``old`` as superseded by ``new`` (see :meth:`HippoMemory.supersede`)."""
    with memory.lock:
        memory.check_open()
        old_slot, new_slot = memory.slot(old), memory.slot(new)
        if old_slot == new_slot:
            raise InvalidInputError("a memory cannot supersede itself")
        if memory.life.superseded_by[new_slot] == old_slot:
            raise InvalidInputError(f"{old!r} already supersedes {new!r}; supersession cannot be circular")
        life = memory.life
        with memory.transaction():
            life.ensure_row(memory.store, old_slot, memory.slot_id)
            memory.store.set_superseded(old_slot, memory.slot_id[new_slot])
            memory.store.set_policy_counts(life.counts_after({"superseded": 1}))
        life.set_superseded(old_slot, new_slot)
        life.count({"superseded": 1})


def forget_before(memory: Partition, before: float, namespace: tuple[str, ...] | None) -> int:
    """Forget memories from before ``before`` (epoch seconds); see :meth:`HippoMemory.forget_before`."""
    with memory.lock:
        memory.check_open()
        n = len(memory.slot_id)
        matching = memory.matching_namespaces(namespace)
        mask = np.isin(memory.slot_ns[:n], np.asarray(matching, dtype=np.int32))
        memory.life.grow(n)
        when = np.where(np.isnan(memory.slot_time[:n]), memory.life.learned_at[:n], memory.slot_time[:n])
        slots = np.flatnonzero(mask & (when < before))
        return memory.delete([s for s in slots.tolist() if memory.slot_id[s] is not None])
