"""Copy a store to another backend (directory <-> ``postgresql://``), through HippoMemory's public API.

:func:`migrate_store` opens the source, refuses a target that holds memories, and
writes every memory into the target in the source's insertion order with
``remember_many``: id, namespace, text, metadata, timestamp, session, salience and the
remaining ttl. Every cue variant other than the text itself is written as an
explicit cue, with automatic variants and automatic session links switched off
for the copy, so the target holds the same cue texts (hence the same vectors and
recall) whatever settings wrote the source. Associations (session links included,
with their current strengths) are copied with ``associate``, supersessions with
``supersede``.

Not copied (the public API cannot set them): ``created_at``/``updated_at`` (the
copy's are the time of the migration), access and replay counts, strength (the
memory lifecycle starts afresh), novelty, the ids merged away by consolidation
(``merged_from`` aliases no longer resolve), the write-policy counters, and the
kinds of automatic cue variants (they become ``explicit``). The vectors are
re-encoded with the source's encoder; a memory already expired is copied with a
ttl of one second, to be removed by the target's next ``consolidate``.

The copy is verified by the memory count of every namespace and by recall: for a
sample of memories, recalling each one's own text in its namespace must return the
same top-k ids in both stores (these recalls count as accesses in both).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import InvalidInputError, StoreError

if TYPE_CHECKING:
    from ._encoder import Encoder
    from ._items import MemoryInput
    from ._memory import HippoMemory
    from ._types import Memory

__all__ = ["NOT_COPIED", "MigrationReport", "copy_memories", "migrate_store", "source_encoder"]

_AUTOMATIC_OFF = {
    "write_policy": "store_all",
    "detect_supersession": False,
    "cue_variants": False,
    "link_consecutive": False,
}
"""The target's settings during the copy: store every item as given, nothing derived."""

NOT_COPIED = (
    "created_at/updated_at (the migration time instead)",
    "access and replay counts, strength",
    "novelty",
    "merged_from aliases (ids merged away by consolidation)",
    "write-policy counters",
    "kinds of automatic cue variants (copied as explicit cues)",
)


@dataclass(frozen=True)
class MigrationReport:
    """What :func:`migrate_store` copied and how it was verified.

    Attributes:
        source: The source store (a URL without its password).
        target: The target store (likewise).
        memories: Memories copied.
        namespaces: Memories per namespace (``"a/b"``) in the target; equal to the source's when ``ok``.
        associations: Associations copied (session links included).
        superseded: Supersessions copied.
        sampled: Memories whose recall was compared.
        mismatches: What differs: a namespace count, or a sampled memory whose top-k ids differ.
        not_copied: What the public API cannot express, in words.
        seconds: Wall time of the copy and its verification.
    """

    source: str
    target: str
    memories: int
    namespaces: dict[str, int]
    associations: int
    superseded: int
    sampled: int
    mismatches: tuple[str, ...] = ()
    not_copied: tuple[str, ...] = NOT_COPIED
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the counts and every sampled recall agree."""
        return not self.mismatches


def _is_url(location: str | os.PathLike[str]) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def _shown(location: str | os.PathLike[str]) -> str:
    if _is_url(location):
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", str(location))
    return os.path.abspath(location)


def source_encoder(location: str | os.PathLike[str], requested: Encoder | str | None = None) -> Encoder:
    """The encoder to read ``location`` with: ``requested``, or the one its meta names.

    Raises:
        StoreError: ``location`` holds no store.
    """
    from ._encoder import DEFAULT_MODEL, HashingEncoder, load_encoder

    if requested is not None:
        return load_encoder(requested)
    _check_source(location)
    from ._sqlite import open_storage

    storage = open_storage(location, durable=False)
    try:
        name = storage.read_meta().get("encoder", "")
    finally:
        storage.close()
    if not name:
        raise StoreError(f"no store at {_shown(location)}: it holds no hippo-memory meta")
    hashing = re.fullmatch(r"hashing-(\d+)-(-?\d+)(-bi)?", name)
    if hashing:
        return HashingEncoder(int(hashing.group(1)), seed=int(hashing.group(2)), bigrams=bool(hashing.group(3)))
    return load_encoder(None if name == f"sentence-transformers/{DEFAULT_MODEL}" else name)


def _check_source(location: str | os.PathLike[str]) -> None:
    if _is_url(location):
        return
    where = os.path.abspath(location)
    if not os.path.isdir(where) or not any(os.scandir(where)):
        raise StoreError(f"no store at {where}: the path does not exist or is empty")


def _item(memory: Memory, now: float) -> MemoryInput:
    item: MemoryInput = {
        "id": memory.id,
        "text": memory.text,
        "namespace": memory.namespace,
        "metadata": dict(memory.metadata),
        "timestamp": memory.timestamp,
        "session": memory.session,
        "cues": [cue.text for cue in memory.cues if cue.kind != "text"],
    }
    if memory.salience:
        item["salience"] = float(memory.salience)
    if memory.expires_at is not None:
        item["ttl"] = max(memory.expires_at.timestamp() - now, 1.0)
    return item


def _batches(memories: list[Memory], size: int) -> Iterator[list[Memory]]:
    for start in range(0, len(memories), size):
        yield memories[start : start + size]


def _counts(memory: HippoMemory) -> dict[str, int]:
    return {"/".join(ns): memory.count(ns) for ns in memory.namespaces()}


def _top_ids(memory: HippoMemory, record: Memory, k: int) -> list[str]:
    hits = memory.recall(record.text, namespace=record.namespace, k=k, include_superseded=True)
    return [hit.memory.id for hit in hits]


def copy_memories(
    source: HippoMemory,
    target: HippoMemory,
    *,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Memory], int, int]:
    """Write every memory of ``source`` into the empty ``target``; returns ``(memories, associations, superseded)``.

    ``target`` must have been opened with automatic cues and links off (see :func:`migrate_store`).
    """
    memories = source.list()
    now = time.time()
    for batch in _batches(memories, batch_size):
        target.remember_many([_item(m, now) for m in batch])
        if progress is not None:
            progress(len(batch))
    links = superseded = 0
    for memory in memories:
        for other, strength in source.associations(memory.id):
            target.associate(memory.id, other, strength=strength)
            links += 1
        if memory.superseded_by is not None:
            target.supersede(memory.id, memory.superseded_by)
            superseded += 1
    return memories, links, superseded


def migrate_store(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    encoder: Encoder | str | None = None,
    sample: int = 200,
    k: int = 5,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    durable: bool = True,
) -> MigrationReport:
    """Copy the store at ``source`` into the new or empty store ``target`` and verify the copy.

    Args:
        source: A store directory or ``postgresql://`` URL; only read (sampled recalls count as accesses).
        target: A directory that does not exist or holds no memories, or a database without memories.
        encoder: The source's encoder (default: the one its meta names); the target gets the same.
        sample: Memories whose top-k recall is compared (all when fewer).
        k: Hits compared per sampled memory.
        batch_size: Memories per ``remember_many`` transaction.
        seed: Seed of the sample.
        progress: Show a tqdm progress bar on stderr.
        durable: Commit the target durably (fsync, ``synchronous_commit``).

    Raises:
        StoreError: ``source`` holds no store, or a backend fails.
        InvalidInputError: ``target`` is ``source`` or already holds memories (nothing is written).
        EncoderMismatchError: ``encoder`` is not the source's.
    """
    from tqdm import tqdm

    from ._memory import HippoMemory

    if _shown(source) == _shown(target):
        raise InvalidInputError(f"the target is the source ({_shown(source)})")
    started = time.perf_counter()
    loaded = source_encoder(source, encoder)
    with HippoMemory(source, encoder=loaded) as src:
        config = src.config.model_copy(update={**_AUTOMATIC_OFF, "durable": durable})
        with HippoMemory(target, encoder=loaded, config=config) as dst:
            if dst.count():
                raise InvalidInputError(
                    f"{_shown(target)} already holds {dst.count()} memories: migrate writes into an empty store only"
                )
            total = src.count()
            with tqdm(total=total, unit="memory", disable=not progress or total == 0) as bar:
                memories, links, superseded = copy_memories(src, dst, batch_size=batch_size, progress=bar.update)
            counts, expected = _counts(dst), _counts(src)
            mismatches = [
                f"namespace {ns}: {expected.get(ns, 0)} in the source, {counts.get(ns, 0)} in the target"
                for ns in sorted(set(counts) | set(expected))
                if counts.get(ns, 0) != expected.get(ns, 0)
            ]
            now = time.time()
            visible = [m for m in memories if m.expires_at is None or m.expires_at.timestamp() > now]
            chosen = random.Random(seed).sample(visible, min(sample, len(visible)))
            for record in chosen:
                want, got = _top_ids(src, record, k), _top_ids(dst, record, k)
                if want != got:
                    mismatches.append(f"memory {record.id}: top-{k} {want} in the source, {got} in the target")
    return MigrationReport(
        source=_shown(source),
        target=_shown(target),
        memories=len(memories),
        namespaces=counts,
        associations=links,
        superseded=superseded,
        sampled=len(chosen),
        mismatches=tuple(mismatches),
        seconds=time.perf_counter() - started,
    )
