"""Rewriting a memory's block of cue rows: folding a duplicate's cues into a survivor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._types import Cue

if TYPE_CHECKING:
    from ._partition import Partition

from ._storage import CueRecord

__all__ = ["attach_cues"]

_IDENTICAL = 0.98


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
    memory: Partition, slot: int, extra: Sequence[tuple[str, str]], extra_vectors: npt.NDArray[np.float32]
) -> _CueBlock | None:
    """The memory's cues plus those of ``extra`` that add something; ``None`` if none do."""
    start, count = (int(v) for v in memory.slot_rows[slot])
    rows = np.arange(start, start + count)
    vectors = memory.index.vectors(rows)
    cues = [(cue.kind, cue.text) for cue in memory.store.cues_by_slot([slot]).get(slot, [])]
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


def _write_blocks(memory: Partition, blocks: Sequence[_CueBlock]) -> None:
    for block in blocks:
        memory.store.replace_cues(
            block.slot,
            [CueRecord(block.first_row + i, block.slot, kind, text) for i, (kind, text) in enumerate(block.cues)],
        )


def _install_blocks(memory: Partition, blocks: Sequence[_CueBlock]) -> None:
    """Mirror committed cue blocks in RAM (rows were allocated from ``_index.n_rows``)."""
    for block in blocks:
        old_start, old_count = (int(v) for v in memory.slot_rows[block.slot])
        memory.index.remove(np.arange(old_start, old_start + old_count))
    if blocks:
        memory.index.add(
            np.concatenate([b.vectors for b in blocks]),
            np.concatenate([np.full(len(b.cues), b.slot, dtype=np.int64) for b in blocks]),
        )
    for block in blocks:
        memory.slot_rows[block.slot] = (block.first_row, len(block.cues))


def _allocate(memory: Partition, blocks: Sequence[_CueBlock]) -> int:
    """Give blocks consecutive rows after the committed ones; returns the new row count."""
    row = memory.index.n_rows
    for block in blocks:
        block.first_row = row
        row += len(block.cues)
    return row


def attach_cues(
    memory: Partition,
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
    life = memory.life
    store = memory.store
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
    with memory.transaction():
        _write_blocks(memory, blocks)
        life.write_rows(store, [slot], memory.slot_id)
        if blocks:
            store.commit_rows(end_row)
    life.dirty.discard(slot)
    if blocks:
        store.rows_committed(end_row)
        _install_blocks(memory, blocks)
        memory.persist_ivf()
