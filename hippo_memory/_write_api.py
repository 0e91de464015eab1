"""The facade's write operations over partitions: batches across partitions, updates in place."""

from __future__ import annotations

import contextlib
import json
import operator
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._codes import CodeMaker
from ._cues import CueAugmenter
from ._encoder import encode_checked
from ._engine import Engine
from ._errors import InvalidInputError, MemoryNotFoundError
from ._items import Prepared
from ._partition import Partition, StalePartition
from ._storage import LinkRecord, MemoryRecord
from ._temporal import TIME_CUES_KEY
from ._types import Cue, Memory, Namespace
from ._validation import TimeLike, check_cues, check_metadata, check_text, dumps, to_epoch
from ._write import attach_time_cues, build_item_cues, reencode, write

__all__ = ["Writer"]

# What an update keeps from the stored memory (any change to it also moves updated_at).
_KEPT = operator.attrgetter("text", "metadata", "timestamp", "updated_at")


class Writer(Engine):
    """Writes that span partitions or re-encode (a base of :class:`~hippo_memory.HippoMemory`)."""

    augmenter: CueAugmenter | None
    codes: CodeMaker

    def _encode(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return encode_checked(self.encoder, list(texts), self.dim)

    def _write_batch(self, prepared: list[Prepared]) -> list[str]:
        """Encode and store a validated batch: one transaction over every partition it touches."""
        self._check_references(prepared)
        paraphrases: Sequence[Sequence[str]] = [()] * len(prepared)
        if self.augmenter is not None and self.config.cue_variants:
            paraphrases = self.augmenter.augment([p.text for p in prepared])
            if len(paraphrases) != len(prepared):
                raise InvalidInputError("the cue augmenter returned a list of the wrong length")
        groups: dict[Namespace, list[int]] = {}
        for i, item in enumerate(prepared):
            groups.setdefault(self.partition_key(item.namespace), []).append(i)
        parts = {key: self._partition(key, create=True) for key in groups}
        for key, members in groups.items():
            part = parts[key]
            assert part is not None
            with part.lock:
                build_item_cues(part, [prepared[i] for i in members], [paraphrases[i] for i in members])
        vectors = self._encode([cue.text for item in prepared for cue in item.cues])
        starts = np.cumsum([0] + [len(item.cues) for item in prepared]).astype(np.int64)
        codes = self.codes.encode(vectors[starts[:-1]])
        ids: list[str] = [""] * len(prepared)
        with self._locked_all(parts) as locked:
            installs = []
            with self.storage.transaction(), contextlib.ExitStack() as writing:
                for key in groups:  # locks first, then catch up: slots are allocated from this state
                    writing.enter_context(locked[key].writing())
                for key, members in groups.items():
                    rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in members])
                    batch = [prepared[i] for i in members]
                    installs.append((members, write(locked[key], batch, vectors[rows], codes[members])))
            for members, install in installs:
                for i, memory_id in zip(members, install(), strict=True):
                    ids[i] = memory_id
        for part in parts.values():
            self._evict(part)
        return ids

    def _update(
        self,
        id: str,
        *,
        text: str | None,
        metadata: Mapping[str, Any] | None,
        timestamp: TimeLike | None,
        cues: Sequence[str] | None,
    ) -> Memory:
        """See :meth:`HippoMemory.update`."""
        new_text = None if text is None else check_text(text, self.config.max_text_chars)
        new_meta = None if metadata is None else check_metadata(metadata)
        new_cues = None if cues is None else check_cues(cues, self.config.max_text_chars)
        new_time = to_epoch(timestamp)
        part, _ = self._locate_one(id)
        with self._locked(part):
            slot = part.slot(id)  # under the lock: a racing forget raises MemoryNotFoundError here
            row, old_cues = part.store.memories_with_cues([slot])[slot]
            seen = part.seq
        explicit = new_cues if new_cues is not None else [c.text for c in old_cues if c.kind == "explicit"]
        item = Prepared(
            row.id,
            new_text or row.text,
            tuple(json.loads(row.namespace)),
            json.loads(row.metadata) if new_meta is None else new_meta,
            row.timestamp if timestamp is None else new_time,
            None,
            [Cue(c, "explicit") for c in explicit],
        )
        if new_text is None and new_cues is None:
            # the text stands, but a new timestamp moves what "yesterday" meant, and new
            # metadata from the caller does not carry the stored time cues (Memory.time_cues)
            attach_time_cues(item, self.config, keep_given=new_meta is not None and TIME_CUES_KEY in new_meta)
            with self._locked(part):
                with self.storage.transaction(), part.writing():  # caught up: a racing commit is applied
                    if slot >= len(part.slot_id) or part.slot_id[slot] != row.id:
                        raise MemoryNotFoundError(f"memory {id!r} was forgotten or merged while it was being updated")
                    _check_unchanged(part, row, seen)
                    with part.transaction():
                        part.store.update_memory(
                            slot, metadata=dumps(item.metadata), timestamp=item.timestamp, updated_at=time.time()
                        )
                part.slot_time[slot] = np.nan if item.timestamp is None else item.timestamp
                part.set_speaker(slot, dumps(item.metadata))
                part.set_time_cues(slot, dumps(item.metadata))
                return part.memories([slot])[slot]
        with self._locked(part):
            build_item_cues(part, [item], [()])
        vectors = self._encode([c.text for c in item.cues])
        code = self.codes.encode(vectors[:1])[0]
        with self._locked(part):
            with self.storage.transaction(), part.writing():
                current = part.slot(id)
                _check_unchanged(part, row, seen)
                reencode(part, current, row.id, item, vectors, code, time.time())
            updated = part.memories([slot])[slot]  # after the commit: a failed read cannot roll it back
        self._reclaim(part)  # the old cue rows are dead now
        return updated

    def _associate(self, source: str, target: str, strength: float, bidirectional: bool) -> None:
        """See :meth:`HippoMemory.associate` (arguments validated)."""
        part, _ = self._locate_one(source)
        other, _ = self._locate_one(target)
        with self._locked(part):
            # The new strengths add to the current ones: read them caught up, under the write lock.
            with self.storage.transaction(), part.writing():
                a, b = part.slot(source), part.slot(target) if other is part else -1
                if b < 0 or part.slot_ns[a] != part.slot_ns[b]:
                    raise InvalidInputError("associations join memories of one namespace only")
                if a == b:
                    raise InvalidInputError("a memory cannot be associated with itself")
                pairs = [(a, b), (b, a)] if bidirectional else [(a, b)]
                links = part.assoc.links
                updates = [LinkRecord(s, d, links.get(s, {}).get(d, 0.0) + float(strength)) for s, d in pairs]
                with part.transaction():
                    part.store.set_links(updates)
            for link in updates:
                if link.strength > 0:
                    part.assoc.set_link(link.src, link.dst, link.strength)
                else:
                    part.assoc.links.get(link.src, {}).pop(link.dst, None)


def _check_unchanged(part: Partition, row: MemoryRecord, seen: int) -> None:
    """Under :meth:`Partition.writing`: start an update again if its memory changed since ``row`` was read.

    An update builds the new record from ``row`` (the text, metadata or timestamp it
    keeps, the dates its text states). When the partition moved on since (``seen``:
    its change sequence then), another commit may have changed them: raise
    :class:`StalePartition` so the update reads them again (the partition is current
    by now, so the retry costs one read, not a catch-up).
    """
    if part.seq == seen:
        return
    now = part.store.memories_by_slot([row.slot]).get(row.slot)
    if now is None or _KEPT(now) != _KEPT(row):
        raise StalePartition(part.key)
