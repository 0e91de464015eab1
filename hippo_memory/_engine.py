"""The partition registry under the facade: opening the store, loading, locking and evicting partitions.

:class:`Engine` owns the storage, the shared settings and the partitions held in
RAM. Partitions load on first use and are evicted least-recently-used once the
loaded ones hold more than ``HippoConfig.partition_budget_mb`` (never the one just
used, never one whose lock is held, never in a store without a directory: an
in-memory store has nowhere to reload from). An evicted partition is reloaded from
the storage on its next use; a caller that raced an eviction simply retries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch

from ._compaction import maybe_reclaim
from ._config import HippoConfig
from ._encoder import Encoder, encode_checked
from ._errors import (
    EncoderMismatchError,
    InvalidConfigError,
    InvalidInputError,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    StoreClosedError,
    StoreError,
)
from ._filters import matches_filter
from ._items import Prepared
from ._partition import Partition, StalePartition
from ._recall import recall_partition
from ._sqlite import open_storage
from ._storage import PartitionStorage, Storage
from ._types import Memory, Namespace, RecallHit, RecallResult
from ._validation import check_string

__all__ = ["Engine"]

_STRUCTURAL = ("code_dim", "code_k", "seed")
_RETRIES = 5
T = TypeVar("T")
# The encoder's fingerprint: its vectors of these texts, projected on 16 fixed random
# directions. Compared with a tolerance of 1% of their scale, so float noise across
# devices passes and other weights (the same name and dimension) do not.
_PROBES = ("The quick brown fox jumps over the lazy dog.", "Alice moved to Lisbon in 2021.", "hippocampus 42")


class Engine:
    """Storage, settings and the loaded partitions of one memory.

    Args:
        path: Store directory or ``None`` for in-memory.
        encoder: The loaded encoder (its ``name`` and ``dim`` are checked against the store).
        config: Settings; structural ones (code size, seed, partition depth) come from the store.
        device: Torch device of the indexes.
    """

    def __init__(
        self, path: Any, *, encoder: Encoder, config: HippoConfig, device: torch.device, read_only: bool = False
    ) -> None:
        self.encoder = encoder
        self.device = device
        self.dim = int(encoder.dim)
        self.clock = time.time
        self._closed = False
        self._registry = threading.RLock()
        self._loaded: OrderedDict[Namespace, Partition] = OrderedDict()
        self._sizes: dict[Namespace, int] = {}  # bytes of each loaded partition at its last use
        self.storage: Storage = open_storage(
            path,
            durable=config.durable,
            read_only=read_only,
            notify=config.change_notifications,
            record_cache_mb=config.record_cache_mb,
        )
        try:
            self._fingerprint_missing = False
            self.config = self._reconcile_config(config)
            self.storage.migrate(self.dim, self.config.partition_depth)
            self.storage.verify(self.dim)
            if self._fingerprint_missing:  # a store written before fingerprints: record this encoder's
                self.storage.write_meta({"encoder_fingerprint": self._fingerprint})
            self._decisions = {"stored": 0, "skipped": 0, "merged": 0, "superseded": 0}
            self._decisions.update(self.storage.policy_counts())
        except BaseException:
            self.storage.close()
            raise

    def _reconcile_config(self, config: HippoConfig) -> HippoConfig:
        """Check the encoder (name, dim, fingerprint) and the structural settings against the store's meta.

        Raises:
            EncoderMismatchError: another encoder name or dimension, or the same name and
                dimension with other weights (the fingerprint differs); nothing is written.
            InvalidConfigError: a structural setting passed explicitly differs from the store's.
        """
        meta = self.storage.read_meta()
        depth = "" if config.partition_depth is None else str(config.partition_depth)
        projection = np.random.default_rng(0).standard_normal((self.dim, 16)).astype(np.float32)
        probes = encode_checked(self.encoder, _PROBES, self.dim).astype(np.float64) @ projection
        self._fingerprint = json.dumps(np.round(probes, 5).tolist())
        if not meta:
            self.storage.initialise(
                {
                    "encoder": self.encoder.name,
                    "encoder_fingerprint": self._fingerprint,
                    "dim": str(self.dim),
                    "code_dim": str(config.code_dim),
                    "code_k": str(config.code_k),
                    "seed": str(config.seed),
                    "partition_depth": depth,
                    "created_at": str(time.time()),
                }
            )
            return config
        self.storage.check_meta(meta)
        if meta.get("encoder") != self.encoder.name or int(meta.get("dim", -1)) != self.dim:
            raise EncoderMismatchError(
                f"store was written with encoder {meta.get('encoder')!r} (dim {meta.get('dim')}); "
                f"opened with {self.encoder.name!r} (dim {self.dim}). Open it with the same encoder."
            )
        stored_print = meta.get("encoder_fingerprint")
        self._fingerprint_missing = stored_print is None
        if stored_print is not None:
            expected = np.asarray(json.loads(stored_print), dtype=np.float64)
            scale = float(np.abs(expected).max()) if expected.size else 0.0
            if expected.shape != probes.shape or float(np.abs(expected - probes).max()) > 0.01 * max(scale, 1e-12):
                raise EncoderMismatchError(
                    f"store was written with encoder {meta.get('encoder')!r} (dim {meta.get('dim')}) and the "
                    f"encoder opening it has that name and dimension but other weights: its vectors of fixed probe "
                    "texts differ from the fingerprint stored with the memories. Open it with the same model."
                )
        stored: dict[str, Any] = {key: int(meta[key]) for key in _STRUCTURAL}
        stored_depth = meta.get("partition_depth", depth if meta.get("format_version") == "1" else "")
        stored["partition_depth"] = int(stored_depth) if stored_depth else None
        for key, value in stored.items():
            if key in config.model_fields_set and getattr(config, key) != value:
                raise InvalidConfigError(f"{key}={getattr(config, key)} differs from the store's {key}={value}")
        return config.model_copy(update=stored)

    # ------------------------------------------------------------------ partitions
    def partition_key(self, namespace: Namespace) -> Namespace:
        """The key of the partition holding ``namespace``."""
        depth = self.config.partition_depth
        return namespace if depth is None else namespace[:depth]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this HippoMemory has been closed")

    def _partition(self, key: Namespace, *, create: bool = False, seq: int | None = None) -> Partition | None:
        """The loaded partition ``key`` (loading it on first use); ``None`` if it does not exist.

        On a shared backend a loaded partition is first checked against its change
        sequence (one small query, unless the caller read it already: ``seq``, see
        :meth:`Storage.partition_seqs`) and caught up when another process committed
        to it (:meth:`Partition.catch_up`), so a memory written by process A is
        recalled by process B on its next call.
        """
        self._check_open()
        with self._registry:
            part = self._loaded.get(key)
            if part is not None:
                if (
                    not self.storage.shared
                    or (part.store.seq() if seq is None else seq) == part.seq
                    or self._catch_up(part)
                ):
                    self._loaded.move_to_end(key)
                    return part
                self._unload(key)
            store = self.storage.partition(key, create=create)
            if store is None:
                return None
            part = self._load(store)
            self._loaded[key] = part
            self._sizes[key] = part.nbytes()
        self._evict()
        return part

    def _catch_up(self, part: Partition) -> bool:
        """Apply other processes' commits to a loaded partition in place; ``False``: drop and load it afresh."""
        with part.lock:
            if part.closed:
                return False
            try:
                part.catch_up()
            except StoreError:
                return False
            self._sizes[part.key] = part.nbytes()
            return True

    def _load(self, store: PartitionStorage) -> Partition:
        """Load a partition; on a shared backend, retry a load that raced another process's commit.

        The load reads the records, links and vectors in several statements: a commit
        landing between them (a compaction renumbering rows, say) can make them disagree
        for this one read, which a second read resolves. A store that stays inconsistent
        is refused as usual.
        """
        for attempt in range(_RETRIES):
            part = Partition(
                store,
                config=self.config,
                dim=self.dim,
                device=self.device,
                clock=lambda: self.clock(),
                decisions=self._decisions,
                transaction=self.storage.transaction,
                shared=self.storage.shared,
            )
            try:
                part.load()
                return part
            except StoreError:
                if not self.storage.shared or attempt == _RETRIES - 1:
                    raise
                store.refresh()
        raise AssertionError("unreachable")  # pragma: no cover

    def _unload(self, key: Namespace) -> None:
        """Drop a loaded partition (its holders reload it through :meth:`_locked`)."""
        with self._registry:
            part = self._loaded.pop(key, None)
            self._sizes.pop(key, None)
            if part is not None:
                with part.lock:
                    with contextlib.suppress(Exception):  # access counts are advisory
                        if not self.storage.read_only:
                            part.flush_access()
                    part.closed = True
            self.storage.forget_partition(key)

    def _retry(self, call: Callable[[], T]) -> T:
        """Run a write, retrying when another process committed to a partition it was about to write.

        The partition is caught up in place first (:meth:`_catch_up`: the other
        processes' changes applied, or a full reload where the change log cannot serve),
        so the retry allocates from a current state. A write that raced a commit thus
        costs a catch-up, not a reload of the whole partition.
        """
        for _ in range(_RETRIES):
            try:
                return call()
            except StalePartition as stale:
                self._refresh(stale.key)
        raise StoreError(f"other processes kept writing the same partition; gave up after {_RETRIES} tries")

    def _refresh(self, key: Namespace) -> None:
        """Bring a loaded partition that raised :class:`StalePartition` up to date; drop it if that fails."""
        with self._registry:
            part = self._loaded.get(key)
            if part is not None and (part.store.seq() == part.seq or self._catch_up(part)):
                return
            self._unload(key)

    @contextlib.contextmanager
    def _locked(self, part: Partition) -> Iterator[Partition]:
        """Hold ``part``'s lock, reloading it if it was evicted before the lock was taken."""
        while True:
            with part.lock:
                if not part.closed:
                    yield part
                    return
            self._check_open()
            fresh = self._partition(part.key)
            if fresh is None:
                raise StoreClosedError(f"partition {part.key!r} no longer exists")
            part = fresh

    @contextlib.contextmanager
    def _locked_all(self, parts: Mapping[Namespace, Partition | None]) -> Iterator[dict[Namespace, Partition]]:
        """Hold the locks of several partitions, taken in key order (so two callers never deadlock)."""
        with contextlib.ExitStack() as stack:
            held = {}
            for key in sorted(parts, key=json.dumps):
                part = parts[key]
                if part is not None:
                    held[key] = stack.enter_context(self._locked(part))
            yield held

    def _evict(self, used: Partition | None = None) -> None:
        """Unload least-recently-used partitions while the loaded ones exceed the budget.

        Args:
            used: The partition just changed or loaded (its size is measured again;
                the others' sizes are remembered from their last use).
        """
        budget = self.config.partition_budget_mb
        if budget is None or not self.storage.persistent:
            return
        limit = budget * 2**20
        with self._registry:
            if used is not None and not used.closed:
                self._sizes[used.key] = used.nbytes()
            total = sum(self._sizes.get(key, 0) for key in self._loaded)
            for key in list(self._loaded)[:-1]:
                if total <= limit:
                    break
                part = self._loaded[key]
                if not part.lock.acquire(blocking=False):
                    continue
                try:
                    if not self.storage.read_only:
                        part.flush_access()
                    part.closed = True
                    total -= self._sizes.pop(key, 0)
                    del self._loaded[key]
                    self.storage.forget_partition(key)
                finally:
                    part.lock.release()

    def _delete(self, groups: Mapping[Namespace, list[int]], ids: list[str] | None = None) -> int:
        """Delete slots of several partitions in one transaction (all or none)."""
        parts = {key: self._partition(key) for key in groups}
        with self._locked_all(parts) as locked:
            if ids is not None:  # re-check under the locks: a racing call may have taken some
                for id_ in ids:
                    locked[self._owner_key(id_, locked)].slot(id_)
            with self.storage.transaction(), contextlib.ExitStack() as writing:
                for key, slots in groups.items():
                    part = locked[key]
                    writing.enter_context(part.writing())  # caught up: what another process forgot is gone
                    if any(s >= len(part.slot_id) or part.slot_id[s] is None for s in slots):
                        raise MemoryNotFoundError("a memory to forget was forgotten meanwhile")
                    with part.transaction():
                        part.store.delete_memories(slots, [part.slot_id[s] or "" for s in slots])
            for key, slots in groups.items():
                locked[key].drop_slots(slots)
        for part in locked.values():
            self._reclaim(part)
        return sum(len(slots) for slots in groups.values())

    def _reclaim(self, part: Partition) -> None:
        """Compact ``part`` after a committed write that left dead rows (:func:`maybe_reclaim`), never failing it.

        The compaction is a transaction of its own: when another process committed to
        the partition since the write, it raises :class:`StalePartition`. The write is
        done, so it is not retried: the compaction is left to a later write or
        consolidation and the partition caught up.
        """
        try:
            maybe_reclaim(part)
        except StalePartition:
            self._refresh(part.key)

    def _owner_key(self, id_: str, locked: Mapping[Namespace, Partition]) -> Namespace:
        for key, part in locked.items():
            if id_ in part.id_slot or part.life.resolve(id_) in part.id_slot:
                return key
        return next(iter(locked))

    def _touch(self, hits: list[tuple[Partition, str]]) -> None:
        """Count recall hits as accesses of their memories (one lifecycle update per partition)."""
        by_part: dict[int, tuple[Partition, list[str]]] = {}
        for part, memory_id in hits:
            by_part.setdefault(id(part), (part, []))[1].append(memory_id)
        for part, ids in by_part.values():
            with self._locked(part) as held:
                slots = [held.id_slot[i] for i in ids if i in held.id_slot]
                held.life.touch(np.asarray(slots, dtype=np.int64), held.clock(), self.config.stability_growth)

    def _iter_memories(
        self, prefix: Namespace | None, filter: Mapping[str, Any] | None, newest_first: bool
    ) -> Iterator[Memory]:
        """Memories under ``prefix`` in insertion order (creation time across partitions)."""
        entries: list[tuple[float, int, int, Partition]] = []
        for number, key in enumerate(self.storage.partition_keys(prefix)):
            part = self._partition(key)
            if part is None:
                continue
            with self._locked(part):
                slots = part.namespace_slots(prefix).tolist()
                part.life.grow(len(part.slot_id))
                entries.extend((float(part.life.learned_at[s]), number, s, part) for s in slots)
        if len({id(entry[3]) for entry in entries}) > 1:
            entries.sort(key=lambda entry: entry[:3])
        if newest_first:
            entries.reverse()
        for start in range(0, len(entries), 256):
            chunk = entries[start : start + 256]
            by_part: dict[int, list[int]] = {}
            for entry in chunk:
                by_part.setdefault(id(entry[3]), []).append(entry[2])
            fetched: dict[tuple[int, int], Memory] = {}
            for entry in chunk:
                part = entry[3]
                if id(part) in by_part:
                    with self._locked(part):
                        wanted = by_part.pop(id(part))
                        if filter is None:  # records and cues in one statement
                            for s, (record, cues) in part.store.memories_with_cues(wanted).items():
                                fetched[(id(part), s)] = part.to_memory(record, cues)
                            continue
                        # A filter reads the cues of the memories it keeps only.
                        records = part.store.memories_by_slot(wanted)
                        selected = [s for s, r in records.items() if matches_filter(json.loads(r.metadata), filter)]
                        cue_rows = part.store.cues_by_slot(selected)
                        for s in selected:
                            fetched[(id(part), s)] = part.to_memory(records[s], cue_rows.get(s, []))
            for entry in chunk:
                memory = fetched.get((id(entry[3]), entry[2]))
                if memory is not None:
                    yield memory

    def _locate_one(self, id: Any) -> tuple[Partition, int]:
        """The loaded partition of a memory id and its slot (the caller holds no lock)."""
        if not isinstance(id, str):
            raise MemoryNotFoundError(f"memory ids are strings, got {id!r}")
        check_string(id, "memory id")
        key = self.storage.locate([id]).get(id)
        if key is None:
            raise MemoryNotFoundError(f"no memory with id {id!r}")
        part = self._partition(key)
        if part is None:
            raise MemoryNotFoundError(f"no memory with id {id!r}")
        return part, part.slot(id)

    def _check_references(self, prepared: list[Prepared]) -> None:
        """Ids must be new; ``supersedes`` must name a memory of the same namespace."""
        taken = self.storage.locate([item.id for item in prepared])
        if taken:
            raise InvalidInputError(f"a memory with id {next(iter(taken))!r} already exists; use update()")
        for item in prepared:
            if item.supersedes is None:
                continue
            part, slot = self._locate_one(item.supersedes)
            if part.namespaces[int(part.slot_ns[slot])] != item.namespace:
                raise InvalidInputError(
                    f"supersedes={item.supersedes!r} names a memory of another namespace; a memory can only "
                    "supersede one of its own namespace"
                )

    def _recall_partitions(
        self,
        q: npt.NDArray[np.float32],
        *,
        query: str,
        prefix: Namespace | None,
        k: int,
        filter: Mapping[str, Any] | None,
        since: float | None,
        until: float | None,
        include_superseded: bool,
        min_similarity: float | None,
        min_score: float | None = None,
        reference: float | None = None,
    ) -> RecallResult:
        """Recall in every partition under ``prefix`` and merge their hits (validated arguments).

        Hits scoring below ``min_score`` are dropped before any counts as an access.
        ``reference``: epoch seconds the query's relative dates count from (``None``: now).
        """
        t0 = time.perf_counter()
        # Over several partitions hits merge by score, ties (each partition's own top ranks)
        # by cosine similarity, the one signal on the same scale everywhere; superseded
        # memories (include_superseded) after current ones, as within a partition.
        found: list[tuple[bool, float, float, int, int, RecallHit, Partition]] = []
        candidates, backend, answered = 0, "exact", False
        timings: dict[str, float] = {}
        # Shared backend: the catalogue and the change sequences of every partition in one query.
        seqs = self.storage.partition_seqs(prefix) if self.storage.shared else None
        keys = list(seqs) if seqs is not None else self.storage.partition_keys(prefix)
        # One partition (the common case): its hits are final, so they count as accesses
        # under the lock the recall holds already instead of a second one.
        touched = len(keys) == 1
        for order_key, key in enumerate(keys):
            part = self._partition(key, seq=None if seqs is None else seqs[key])
            if part is None:
                continue
            with self._locked(part) as part:  # a partition evicted meanwhile comes back reloaded
                try:
                    share = recall_partition(
                        part,
                        q,
                        query=query,
                        namespace=prefix,
                        k=k,
                        filter=filter,
                        since=since,
                        until=until,
                        include_superseded=include_superseded,
                        min_similarity=min_similarity,
                        touch=False,
                        reference=reference,
                    )
                except NamespaceNotFoundError:
                    continue
                if not answered:
                    backend = part.index.active_kind
                answered = True
                if touched:
                    kept = [hit for hit in share.hits if min_score is None or hit.score >= min_score][:k]
                    slots = [part.id_slot[hit.memory.id] for hit in kept]
                    part.life.touch(np.asarray(slots, dtype=np.int64), part.clock(), self.config.stability_growth)
            candidates += share.n_candidates
            for name, ms in share.timings.items():
                timings[name] = timings.get(name, 0.0) + ms
            found.extend(
                (
                    include_superseded and hit.memory.superseded_by is not None,
                    -hit.score,
                    -hit.diagnostics.similarity,
                    order_key,
                    hit.rank,
                    hit,
                    part,
                )
                for hit in share.hits
            )
        if prefix is not None and not answered:
            raise NamespaceNotFoundError(f"no memories under namespace {prefix!r}")
        if min_score is not None:
            found = [entry for entry in found if entry[5].score >= min_score]
        if len({entry[3] for entry in found}) > 1:  # hits of one partition are ranked already
            found.sort(key=lambda entry: entry[:5])
            hits = tuple(dataclasses.replace(entry[5], rank=rank) for rank, entry in enumerate(found[:k]))
        else:
            hits = tuple(entry[5] for entry in found[:k])
        if not touched:
            self._touch([(entry[6], entry[5].memory.id) for entry in found[:k]])
        timings["total"] = (time.perf_counter() - t0) * 1e3
        self._evict()
        return RecallResult(query, prefix, hits, candidates, backend, timings)

    # ------------------------------------------------------------------ lifecycle
    def stats(self) -> dict[str, Any]:
        """Counts and sizes: memories and namespaces of the whole store; vectors, links, bytes of the loaded partitions."""
        self._check_open()
        with self._registry:
            loaded = list(self._loaded.values())
        counts = self.storage.namespace_counts()
        strength: list[float] = []
        now = self.clock()
        for part in loaded:
            slots = np.asarray(list(part.id_slot.values()), dtype=np.int64)
            if slots.size:
                strength.extend(part.life.strength(slots, now).tolist())
        return {
            "memories": sum(counts.values()),
            "cue_vectors": sum(part.index.n_alive for part in loaded),
            "links": sum(sum(len(t) for t in part.assoc.links.values()) for part in loaded),
            "namespaces": len(counts),
            "partitions": len(self.storage.partition_keys()),
            "partitions_loaded": len(loaded),
            "index": loaded[0].index.active_kind if loaded else "exact",
            "encoder": self.encoder.name,
            "dim": self.dim,
            "path": str(self.storage.path) if self.storage.path else None,
            "engine_bytes": sum(part.nbytes() for part in loaded) + self.dim * self.config.code_dim * 4,
            "write_policy": dict(self._decisions),
            "superseded": sum(part.life.n_superseded for part in loaded),
            "aliases": sum(len(part.life.aliases) for part in loaded),
            "mean_strength": round(float(np.mean(strength)), 4) if strength else None,
            "accesses_unflushed": sum(len(part.life.dirty) for part in loaded),
        }

    def close(self) -> None:
        """Flush access counts, close the store and release its lock. Further calls raise ``StoreClosedError``."""
        with self._registry:
            if self._closed:
                return
            for part in self._loaded.values():
                with part.lock:
                    with contextlib.suppress(Exception):  # keep access counts; never fail a close
                        if not self.storage.read_only:
                            part.flush_access()
                    part.closed = True
            self._loaded.clear()
            self._closed = True
            self.storage.close()
