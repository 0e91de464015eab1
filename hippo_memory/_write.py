"""The write path: validate -> build cue variants -> encode -> code -> one transaction -> RAM.

Validation and cue building run without any lock; encoding happens in the facade
(the encoder is shared by every partition). :func:`write` then takes the partition
lock, re-checks what may have changed meanwhile, lets the write policy decide each
item's fate, appends the vectors, commits one transaction and mirrors it in RAM.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._config import HippoConfig
from ._cues import asks_question, build_cues
from ._errors import EmptyTextError, InvalidInputError, MemoryNotFoundError
from ._items import MemoryInput, Prepared
from ._partition import Partition, StalePartition
from ._policy import check_salience, check_ttl, plan_writes
from ._storage import CueRecord, LinkRecord, MemoryRecord
from ._temporal import TIME_CUES_KEY, format_time_cues, resolve_time_cues
from ._types import Cue, Namespace
from ._validation import (
    TimeLike,
    check_cues,
    check_id,
    check_metadata,
    check_session,
    check_text,
    dumps,
    to_epoch,
    validate_namespace,
)

__all__ = ["attach_time_cues", "build_item_cues", "prepare", "reencode", "write"]

FloatArray = npt.NDArray[np.float32]


def prepare(
    items: Iterable[str | MemoryInput],
    config: HippoConfig,
    namespace: Sequence[str],
    session: str | None,
    metadata: Mapping[str, Any] | None,
    timestamp: TimeLike | None,
) -> list[Prepared]:
    """Validate a batch (nothing is written); ids are checked for uniqueness within it.

    Raises:
        EmptyTextError, TextTooLongError, InvalidNamespaceError, InvalidInputError.
    """
    default_ns = validate_namespace(namespace)
    prepared: list[Prepared] = []
    seen_ids: set[str] = set()
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise InvalidInputError("items must be a list of strings or MemoryInput dicts")
    for position, item in enumerate(items):
        spec: Mapping[str, Any] = {"text": item} if isinstance(item, str) else item
        if not isinstance(spec, Mapping):
            raise EmptyTextError(f"item {position} must be a string or a dict with 'text'")
        unknown = set(spec) - set(MemoryInput.__annotations__)
        if unknown:
            raise InvalidInputError(f"item {position} has unknown keys {sorted(map(repr, unknown))}")
        text = check_text(spec.get("text"), config.max_text_chars, f"item {position} text")
        ns = validate_namespace(spec["namespace"]) if "namespace" in spec else default_ns
        meta = check_metadata(spec.get("metadata", metadata), f"item {position} metadata")
        ts = to_epoch(spec.get("timestamp", timestamp))
        sess = check_session(spec.get("session", session), f"item {position} session")
        explicit = check_cues(spec.get("cues"), config.max_text_chars, f"item {position} cues")
        memory_id = check_id(spec.get("id"), f"item {position} id") or str(uuid.uuid4())
        if memory_id in seen_ids:
            raise InvalidInputError(f"the batch holds id {memory_id!r} twice")
        seen_ids.add(memory_id)
        supersedes = check_id(spec.get("supersedes"), f"item {position} supersedes")
        prepared.append(
            Prepared(
                memory_id,
                text,
                ns,
                meta,
                ts,
                sess,
                [Cue(c, "explicit") for c in explicit],
                salience=check_salience(spec.get("salience"), f"item {position} salience"),
                ttl=check_ttl(spec.get("ttl"), f"item {position} ttl"),
                supersedes=supersedes,
            )
        )
        attach_time_cues(prepared[-1], config, keep_given=TIME_CUES_KEY in meta)
    return prepared


def attach_time_cues(item: Prepared, config: HippoConfig, *, keep_given: bool = False) -> None:
    """Resolve the dates ``item``'s text states and store them in its metadata (``"time_cues"``).

    Relative expressions count from the item's timestamp, or from now when it has
    none. Skipped when the temporal prior is off (``temporal_weight == 0``).

    Args:
        item: A validated item; its metadata gains :data:`~hippo_memory._temporal.TIME_CUES_KEY`
            (or loses a stale one) as its text requires.
        config: The engine settings.
        keep_given: The caller set the key itself: leave it as given.
    """
    item.time_resolved = True
    if keep_given or config.temporal_weight <= 0:
        return
    reference = item.timestamp if item.timestamp is not None else time.time()
    spans = resolve_time_cues(item.text, reference)
    if spans:
        item.metadata = {**item.metadata, TIME_CUES_KEY: format_time_cues(spans)}
    elif TIME_CUES_KEY in item.metadata:
        item.metadata = {k: v for k, v in item.metadata.items() if k != TIME_CUES_KEY}


def build_item_cues(part: Partition, items: list[Prepared], paraphrases: Sequence[Sequence[str]]) -> None:
    """Fill each item's cue variants (its text first), reading session predecessors from ``part``."""
    config = part.config
    previous_text: dict[tuple[Namespace, str], str] = {}
    for item, extra in zip(items, paraphrases, strict=True):
        previous: str | None = None
        if item.session is not None:
            key = (item.namespace, item.session)
            previous = previous_text.get(key)
            tail = part.session_tail(*key) if previous is None else None
            if tail is not None:
                rows = part.store.memories_by_slot([tail])
                previous = rows[tail].text if tail in rows else None
            previous_text[key] = item.text
        item.previous = previous
        if not item.time_resolved:  # an update's new text: its old dates no longer hold
            attach_time_cues(item, config)
        clean_extra = [p for p in extra if isinstance(p, str) and p.strip()][: config.max_cues]
        item.cues = build_cues(
            item.text,
            previous=previous,
            explicit=[c.text for c in item.cues],
            paraphrases=clean_extra,
            sentences=config.cue_variants
            and (config.detect_supersession if config.sentence_cues is None else config.sentence_cues),
            context=config.cue_variants and config.context_cues,
            keyphrases=config.cue_variants and config.keyphrase_cues,
            max_cues=config.max_cues if config.cue_variants else 1,
            context_max_chars=config.context_max_chars,
        )


def write(
    part: Partition, items: list[Prepared], vectors: FloatArray, codes: npt.NDArray[np.int64]
) -> Callable[[], list[str]]:
    """Stage a validated, encoded batch of one partition; call under ``part.lock`` inside a transaction.

    The records are written into the open transaction; the returned function mirrors
    them in RAM and must be called once that transaction has committed (a batch over
    several partitions commits as one).

    Args:
        part: The partition every item belongs to.
        items: The batch, cues built.
        vectors: float32 ``(total cues, d)``, the batch's cue vectors in order.
        codes: int64 ``(len(items), k)``, the codes of the items' texts.

    Returns:
        A function returning the id each item ended up under (a duplicate may fold into
        an existing memory) after mirroring the batch in RAM.
    """
    config = part.config
    for item in items:  # re-check under the lock: ids may have been taken meanwhile
        if item.id in part.id_slot:
            raise InvalidInputError(f"a memory with id {item.id!r} already exists; use update()")
        if item.supersedes is not None:
            part.slot(item.supersedes)
    plan = plan_writes(part, items, vectors)  # novelty, salience gate, supersession
    if plan.dropped:
        items, vectors, codes = plan.filter(vectors, codes)
    learned = part.clock()
    store = part.store
    first_row = part.index.n_rows
    first_slot = len(part.slot_id)
    stamp = part.clock()
    memory_rows: list[MemoryRecord] = []
    cue_rows: list[CueRecord] = []
    links: list[LinkRecord] = []
    batch_last: dict[tuple[Namespace, str], int] = {}  # sessions written by this batch
    row = first_row
    for offset, item in enumerate(items):
        slot = first_slot + offset
        memory_rows.append(
            MemoryRecord(
                slot,
                item.id,
                dumps(list(item.namespace)),
                item.text,
                dumps(item.metadata),
                item.timestamp,
                stamp,
                stamp,
                item.session,
                codes[offset].astype(np.uint16).tobytes(),
                row,
                len(item.cues),
            )
        )
        for cue in item.cues:
            cue_rows.append(CueRecord(row, slot, cue.kind, cue.text))
            row += 1
        if item.session is not None and config.link_consecutive:
            key = (item.namespace, item.session)
            previous_slot = batch_last.get(key)
            if previous_slot is None:
                previous_slot = part.session_tail(*key)
            if previous_slot is not None:
                # A turn that asks a question is answered by the next one: link them harder.
                forward = (
                    config.answer_strength
                    if item.previous is not None and asks_question(item.previous)
                    else config.forward_strength
                )
                if forward > 0:
                    links.append(LinkRecord(previous_slot, slot, forward))
                if config.backward_strength > 0:
                    links.append(LinkRecord(slot, previous_slot, config.backward_strength))
            batch_last[key] = slot
    store.append_vectors(vectors)
    with part.transaction():
        store.insert_memories(memory_rows)
        store.insert_cues(cue_rows)
        store.add_links(links)
        plan.write(part, first_slot, learned)
        store.commit_rows(row)
    return lambda: _install(part, plan, memory_rows, links, vectors, first_slot, learned, row)


def _install(
    part: Partition,
    plan: Any,
    memory_rows: list[MemoryRecord],
    links: list[LinkRecord],
    vectors: FloatArray,
    first_slot: int,
    learned: float,
    end_row: int,
) -> list[str]:
    """Mirror a committed batch in RAM (cannot fail on valid data)."""
    part.store.rows_committed(end_row)
    owners = np.repeat(
        np.arange(first_slot, first_slot + len(memory_rows), dtype=np.int64), [r.row_count for r in memory_rows]
    )
    part.index.add(vectors, owners)
    for memory_row in memory_rows:
        part.install(memory_row)
    part.index_lexical({r.slot: r.text for r in memory_rows})
    for link in links:
        part.assoc.associate(link.src, link.dst, link.strength)
    plan.install(part, learned)
    # Another process may have committed since this batch did: the batch stands (run again, it
    # would find its own ids taken); the centroids stay in RAM and the next write persists them.
    with contextlib.suppress(StalePartition):
        part.persist_ivf()
    ids: list[str] = plan.ids(part)
    return ids


def reencode(
    part: Partition,
    slot: int,
    id: str,
    item: Prepared,
    vectors: FloatArray,
    code: npt.NDArray[np.int64],
    stamp: float,
) -> None:
    """Replace a memory's text, cues and code in place; call under ``part.lock``.

    Raises:
        MemoryNotFoundError: the memory was forgotten or merged since ``slot`` was resolved.
    """
    if slot >= len(part.slot_id) or part.slot_id[slot] != id:
        raise MemoryNotFoundError(f"memory {id!r} was forgotten or merged while it was being updated")
    store = part.store
    first_row = part.index.n_rows
    end_row = first_row + len(item.cues)
    store.append_vectors(vectors)
    with part.transaction():
        store.replace_cues(slot, [CueRecord(first_row + i, slot, c.kind, c.text) for i, c in enumerate(item.cues)])
        store.update_memory(
            slot,
            metadata=dumps(item.metadata),
            timestamp=item.timestamp,
            updated_at=stamp,
            text=item.text,
            code=code.astype(np.uint16).tobytes(),
        )
        store.commit_rows(end_row)
    store.rows_committed(end_row)
    old_start, old_count = part.slot_rows[slot]
    part.index.remove(np.arange(old_start, old_start + old_count))
    part.index.add(vectors, np.full(len(item.cues), slot, dtype=np.int64))
    part.slot_rows[slot] = (first_row, len(item.cues))
    part.slot_time[slot] = np.nan if item.timestamp is None else item.timestamp
    part.set_speaker(slot, dumps(item.metadata))
    part.set_time_cues(slot, dumps(item.metadata))
    part.assoc.set_code(slot, code)
    part.index_lexical({slot: item.text})
    part.persist_ivf()
