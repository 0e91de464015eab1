"""``HippoStore``: a LangGraph :class:`~langgraph.store.base.BaseStore` over hippo-memory.

Mapping onto the engine: the item ``(namespace, key)`` is the memory with id
``"langgraph-store:" + uuid5(namespace, key)`` in the same namespace. The memory's
text is what the item is searched by (see :class:`HippoIndexConfig`); its metadata
holds the item::

    {"key": str, "value": {...}, "indexed": bool, "updated_at": epoch seconds,
     "ttl": minutes | None, "expires_at": epoch seconds | None}

so ``filter`` conditions on value fields become engine filters on ``value.<field>``.
Memories written to the same ``HippoMemory`` by other means (the retriever's
corpus, the agent middleware) are not items and are invisible to the store.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import time
from collections.abc import Iterable
from typing import Any, cast

from hippo_memory import CueAugmenter as _CueAugmenter
from hippo_memory import (
    Encoder,
    HippoConfig,
    HippoMemory,
    InvalidConfigError,
    Memory,
    MemoryInput,
    MemoryNotFoundError,
)
from hippo_memory.integration import MemoryBackend, as_memory_backend, recall_or_empty
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
)

from ._encoder import EmbeddingsEncoder
from ._store_ops import (
    AUTO_TEXT_FIELDS,
    POLICY_PROBLEM,
    HippoIndexConfig,
    StoreOpener,
    alive,
    engine_filter,
    engine_problem,
    epoch,
    explicit_cues,
    is_item,
    item_id,
    item_texts,
    matcher,
    tokenized,
    validate_op,
)

__all__ = ["AUTO_TEXT_FIELDS", "HippoIndexConfig", "HippoStore", "StoreOpener", "item_id"]

"""Fields searched by default, in this order: the first that holds a non-empty string."""


def _now() -> float:
    """Wall-clock epoch seconds (a seam for tests of TTL)."""
    return time.time()


class HippoStore(BaseStore):
    """A LangGraph store whose semantic search is hippo-memory's Hopfield recall.

    Items are JSON objects addressed by ``(namespace, key)``; they persist when the
    memory has a path, and every item can be found by ``search(query=...)``.
    Results are ranked by the engine (Hopfield settle fused with BM25). What
    ``SearchItem.score`` holds depends on who embeds, higher always meaning better:

    * with LangChain embeddings (``index={"embed": ..., "dims": ...}``, or a shared
      memory whose encoder is an ``EmbeddingsEncoder``: ``store.embeddings`` is set),
      the cosine similarity between the query and the item's best-matching text
      (6 decimals), as in LangGraph's own stores, so their thresholds keep meaning;
    * otherwise the engine's ranking score (``RecallHit.score``).

    Since the rank is the engine's, a later item may have a higher cosine than an
    earlier one.

    Semantics that a reader might otherwise have to guess:

    * Within one ``batch``, reads (get, search, list) see the state before the
      batch's writes; writes to the same key keep the last one (as ``InMemoryStore``).
    * ``filter`` supports ``$eq $ne $gt $gte $lt $lte`` (and the engine's ``$in``,
      ``$nin``); a nested dict matches a subset of a nested value; dotted keys descend
      into nested values.
    * ``search`` without ``query`` lists items newest first (an update keeps the
      item's place).
    * ``search`` with a query ranks indexed items; items stored with ``index=False``
      (or whose index fields are missing) follow without a score.
    * TTL (minutes) is supported: ``put(..., ttl=...)``; reads refresh it unless
      ``refresh_ttl=False``; expired items are never returned and are deleted by
      :meth:`sweep_ttl` or the background sweeper (:meth:`start_ttl_sweeper`).

    Args:
        memory: An open :class:`~hippo_memory.HippoMemory` or a
            :class:`~hippo_memory.HippoClient` to share (the server then encodes and
            its settings are checked as an engine's). When omitted the
            store opens its own at ``path`` (in memory when ``path`` is ``None``) and
            closes it in :meth:`close`.
        path: Store directory for a memory opened by the store.
        encoder: Encoder for a memory opened by the store (default model when omitted).
        config: Engine settings for a memory opened by the store.
        augmenter: Cue augmenter for a memory opened by the store.
        index: Which fields are searched; see :class:`HippoIndexConfig`.
        ttl: LangGraph TTL settings: ``default_ttl`` (minutes), ``refresh_on_read``,
            ``sweep_interval_minutes`` (used by :meth:`start_ttl_sweeper`).

    Raises:
        InvalidConfigError: conflicting arguments or ``index["dims"]`` not matching
            the encoder.

    Example:
        >>> from hippo_memory import HashingEncoder
        >>> store = HippoStore(encoder=HashingEncoder())
        >>> store.put(("users", "alice"), "pet", {"text": "Alice has a dog named Biscuit"})
        >>> store.search(("users",), query="What is Alice's dog called?")[0].key
        'pet'
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: MemoryBackend | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        encoder: Encoder | str | os.PathLike[str] | None = None,
        config: HippoConfig | None = None,
        augmenter: _CueAugmenter | None = None,
        index: HippoIndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        settings: dict[str, Any] = dict(index or {})
        unknown = set(settings) - {"fields", "embed", "dims"}
        if unknown:
            raise InvalidConfigError(f"unknown index settings {sorted(unknown)}")
        embed = settings.get("embed")
        if memory is not None:
            given = [
                n
                for n, v in (
                    ("path", path),
                    ("encoder", encoder),
                    ("config", config),
                    ("augmenter", augmenter),
                    ("index['embed']", embed),
                )
                if v is not None
            ]
            if given:
                raise InvalidConfigError(
                    f"pass either an open memory or {', '.join(given)} to open one, not both"
                )
            self.memory: MemoryBackend = as_memory_backend(memory)
            self._owned: HippoMemory | None = None
        else:
            if embed is not None:
                if encoder is not None:
                    raise InvalidConfigError("pass either encoder= or index['embed'], not both")
                embeddings = ensure_embeddings(embed)
                # An ``async def`` embed function has no sync twin: the engine's
                # (synchronous, worker-thread) encoder calls run it on their own loop.
                use_async = inspect.iscoroutinefunction(embed)
                encoder = EmbeddingsEncoder(
                    embeddings, dims=settings.get("dims"), use_async=use_async
                )
            self._owned = HippoMemory(path, encoder=encoder, config=config, augmenter=augmenter)
            self.memory = self._owned
        problem = engine_problem(self.memory, settings.get("dims"))
        if problem is not None:
            if self._owned is not None:
                self._owned.close()
            raise InvalidConfigError(problem)
        fields = settings.get("fields")
        # As LangGraph's stores: the configuration passed (a copy), ``None`` when none
        # was, and the LangChain embeddings in use, ``None`` when the engine encodes.
        self.index_config: HippoIndexConfig | None = (
            cast(HippoIndexConfig, settings) if index is not None else None
        )
        self.embeddings: Embeddings | None = (
            self.memory.encoder.embeddings
            if isinstance(self.memory, HippoMemory)
            and isinstance(self.memory.encoder, EmbeddingsEncoder)
            else None
        )
        self._fields = tokenized(fields or ())
        self.ttl_config = cast(TTLConfig, dict(ttl)) if ttl else None
        self._lock = threading.RLock()
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str], *, encoder: Encoder | str | None = None, **kwargs: Any
    ) -> HippoStore:
        """Open (or create) a persistent store in a directory.

        Args:
            path: Store directory.
            encoder: Encoder; must be the one the directory was written with.
            **kwargs: Other :class:`HippoStore` keyword arguments.
        """
        return cls(path=path, encoder=encoder, **kwargs)

    @classmethod
    def from_conn_string(
        cls,
        conn_string: str | os.PathLike[str],
        /,
        *,
        encoder: Encoder | str | os.PathLike[str] | None = None,
        config: HippoConfig | None = None,
        augmenter: _CueAugmenter | None = None,
        index: HippoIndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> StoreOpener[HippoStore]:
        """Open a store as LangGraph's database stores are opened, closing it on exit.

        ``with HippoStore.from_conn_string(url) as store:`` and
        ``async with HippoStore.from_conn_string(url) as store:`` both work (the async
        form opens and closes the memory in a worker thread), as with LangGraph's
        ``PostgresStore`` and ``AsyncPostgresStore``.

        Args:
            conn_string: A store directory, a ``postgresql://`` URL (the
                ``hippo-memory[postgres]`` extra), or ``":memory:"`` for a store that
                lives in RAM only.
            encoder: Encoder; must be the one the store was written with.
            config: Engine settings.
            augmenter: Cue augmenter.
            index: Which fields are searched and, optionally, LangChain embeddings;
                see :class:`HippoIndexConfig`.
            ttl: LangGraph TTL settings.

        Returns:
            A context manager (sync and async) yielding the open store.
        """
        path = None if os.fspath(conn_string) == ":memory:" else conn_string
        return StoreOpener(
            lambda: cls(
                path=path,
                encoder=encoder,
                config=config,
                augmenter=augmenter,
                index=index,
                ttl=ttl,
            )
        )

    def setup(self) -> None:
        """Nothing to do: opening a store already creates or migrates it.

        Present so that code written for LangGraph's database stores
        (``store.setup()`` after ``from_conn_string``) runs unchanged.
        """

    async def asetup(self) -> None:
        """Async twin of :meth:`setup` (nothing to do)."""

    # ------------------------------------------------------------------ batch
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run operations; reads see the state before this batch's writes.

        Raises:
            InvalidNamespaceError: an invalid namespace (nothing is executed).
            InvalidValueError: a put value is not a JSON object (nothing is executed).
            InvalidInputError: another malformed operation (nothing is executed).
        """
        ops = list(ops)
        puts: dict[tuple[tuple[str, ...], str], tuple[PutOp, dict[str, Any] | None]] = {}
        for op in ops:
            value = validate_op(op)
            if isinstance(op, PutOp):
                puts[(tuple(op.namespace), op.key)] = (op, value)
        results: list[Result] = []
        with self._lock:
            now = _now()
            refresh: dict[str, Memory] = {}
            for op in ops:
                if isinstance(op, GetOp):
                    results.append(self._get(op, now, refresh))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op, now, refresh))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op))
                else:
                    results.append(None)
            if refresh:
                self._refresh(refresh.values(), now)
            if puts:
                self._apply_puts(list(puts.values()), _now())
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of :meth:`batch` (runs in a worker thread)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # ------------------------------------------------------------------ validation

    # ------------------------------------------------------------------ reads
    def _item(self, memory: Memory, score: float | None = None, *, search: bool = False) -> Item:
        meta = memory.metadata
        updated = max(epoch(meta.get("updated_at"), memory.updated_at), memory.created_at)
        common: dict[str, Any] = {
            "namespace": memory.namespace,
            "key": meta["key"],
            "value": dict(meta["value"]),
            "created_at": memory.created_at,
            "updated_at": updated,
        }
        return SearchItem(**common, score=score) if search else Item(**common)

    def _get(self, op: GetOp, now: float, refresh: dict[str, Memory]) -> Item | None:
        if not op.namespace:
            return None
        try:
            memory = self.memory.get(item_id(op.namespace, op.key))
        except MemoryNotFoundError:
            return None
        if not is_item(memory) or not alive(memory, now):
            return None
        if op.refresh_ttl and memory.metadata.get("ttl"):
            refresh[memory.id] = memory
        return self._item(memory)

    def _search(self, op: SearchOp, now: float, refresh: dict[str, Memory]) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix) or None
        if op.limit == 0 or self.memory.count(prefix) == 0:
            return []
        where = engine_filter(op.filter)
        want = op.offset + op.limit
        found: list[tuple[Memory, float | None]] = []
        query = op.query if op.query and op.query.strip() else None
        if query is not None:
            found = [(m, s) for m, s in self._ranked(query, prefix, where, want, now)]
            if len(found) < want:  # ranking exhausted: unindexed items follow, unscored
                unindexed = {**(where or {}), "indexed": False}
                rest = self._listed(prefix, unindexed, now, want - len(found))
                found += [(m, None) for m in rest]
        else:
            found = [(m, None) for m in self._listed(prefix, where, now, want)]
        page = found[op.offset : want]
        for memory, _ in page:
            if op.refresh_ttl and memory.metadata.get("ttl"):
                refresh[memory.id] = memory
        return [self._item(m, s, search=True) for m, s in page]  # type: ignore[misc]

    def _ranked(
        self,
        query: str,
        prefix: tuple[str, ...] | None,
        filter: dict[str, Any] | None,
        want: int,
        now: float,
    ) -> list[tuple[Memory, float]]:
        total = self.memory.count(prefix)
        k = max(1, min(want, total))
        while True:
            result = recall_or_empty(self.memory, query, namespace=prefix, k=k, filter=filter)
            cosine = self.embeddings is not None
            hits = [
                # float32 vectors: digits past the 6th are noise (1.0 vs 0.99999994)
                (hit.memory, round(hit.diagnostics.similarity, 6) if cosine else hit.score)
                for hit in result
                if is_item(hit.memory)
                and hit.memory.metadata.get("indexed")
                and alive(hit.memory, now)
            ]
            if len(hits) >= want or len(result) < k or k >= total:
                return hits
            k = min(total, k * 2)

    def _listed(
        self,
        prefix: tuple[str, ...] | None,
        filter: dict[str, Any] | None,
        now: float,
        stop: int | None = None,
    ) -> list[Memory]:
        """Live items, newest first; at least ``stop`` of them when that many exist."""
        # Only store items carry "indexed"; requiring it keeps the engine's paging exact.
        conditions = {"indexed": {"$in": [True, False]}, **(filter or {})}
        limit = stop
        while True:
            batch = self.memory.list(prefix, filter=conditions, limit=limit, newest_first=True)
            items = [m for m in batch if is_item(m) and alive(m, now)]
            if limit is None or len(batch) < limit or len(items) >= limit:
                return items
            limit = None  # expired items took places on the page: list them all

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        """Namespaces from the engine's catalogue: no partition is loaded."""
        conditions = list(op.match_conditions or ())
        scope: tuple[str, ...] = ()
        first = next((c for c in conditions if c.match_type == "prefix"), None)
        if first is not None:
            labels = tuple(first.path)
            scope = labels[: labels.index("*")] if "*" in labels else labels
            if scope == labels:  # the engine's prefix is the whole condition
                conditions.remove(first)
        if not conditions:  # the engine answers alone, truncated and sorted
            found = self.memory.namespaces(scope or None, max_depth=op.max_depth)
            return found[op.offset : op.offset + op.limit]
        tests = [matcher(c) for c in conditions]
        namespaces = self.memory.namespaces(scope or None)
        matching = [ns for ns in namespaces if all(test(ns) for test in tests)]
        if op.max_depth is not None:
            matching = sorted({ns[: op.max_depth] for ns in matching})
        return matching[op.offset : op.offset + op.limit]

    # ------------------------------------------------------------------ writes
    def _refresh(self, memories: Iterable[Memory], now: float) -> None:
        for memory in memories:
            meta = dict(memory.metadata)
            meta["expires_at"] = now + float(meta["ttl"]) * 60.0
            try:
                self.memory.update(memory.id, metadata=meta)
            except MemoryNotFoundError:
                continue

    def _apply_puts(self, puts: list[tuple[PutOp, dict[str, Any] | None]], now: float) -> None:
        stale: list[str] = []
        deletes: list[str] = []
        new: list[MemoryInput] = []
        updates: list[tuple[str, dict[str, Any], str | None, list[str] | None]] = []
        for op, value in puts:
            memory_id = item_id(op.namespace, op.key)
            try:
                existing: Memory | None = self.memory.get(memory_id)
            except MemoryNotFoundError:
                existing = None
            if existing is not None and not alive(existing, now):
                stale.append(memory_id)  # an expired item is gone: a put starts afresh
                existing = None
            if value is None:
                if existing is not None:
                    deletes.append(memory_id)
                continue
            text, cues, indexed = item_texts(
                value, op.index, self._fields, self.memory.config.max_text_chars
            )
            ttl = float(op.ttl) if op.ttl is not None else None
            meta = {
                "key": op.key,
                "value": value,
                "indexed": indexed,
                "updated_at": now,
                "ttl": ttl,
                "expires_at": None if ttl is None else now + ttl * 60.0,
            }
            if existing is None:
                new.append(
                    {
                        "text": text,
                        "cues": cues,
                        "id": memory_id,
                        "metadata": meta,
                        "namespace": tuple(op.namespace),
                    }
                )
            elif existing.text == text and explicit_cues(existing) == cues:
                updates.append((memory_id, meta, None, None))
            else:
                updates.append((memory_id, meta, text, cues))
        if stale:
            self.memory.forget(stale)
        if deletes:
            self.memory.forget(deletes)
        for memory_id, meta, new_text, new_cues in updates:
            self.memory.update(memory_id, metadata=meta, text=new_text, cues=new_cues)
        if new:
            stored = self.memory.remember_many(new)
            if stored != [item["id"] for item in new]:  # the engine folded a put into another
                raise InvalidConfigError(POLICY_PROBLEM)

    # ------------------------------------------------------------------ TTL
    def sweep_ttl(self) -> int:
        """Delete expired items now.

        Returns:
            How many items were deleted.
        """
        with self._lock:
            now = _now()
            expired = [
                m.id
                for m in self.memory.list(None, filter={"expires_at": {"$lte": now}})
                if is_item(m)
            ]
            if expired:
                self.memory.forget(expired)
            return len(expired)

    async def asweep_ttl(self) -> int:
        """Async twin of :meth:`sweep_ttl`."""
        return await asyncio.to_thread(self.sweep_ttl)

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> None:
        """Sweep expired items periodically in a daemon thread until :meth:`close`.

        Args:
            sweep_interval_minutes: Period; defaults to ``ttl["sweep_interval_minutes"]``,
                else 5 minutes.
        """
        interval = sweep_interval_minutes
        if interval is None:
            interval = (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        if not interval or interval <= 0:
            raise InvalidConfigError("sweep_interval_minutes must be positive")
        with self._lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return
            self._sweeper_stop.clear()

            def run() -> None:
                while not self._sweeper_stop.wait(float(interval) * 60.0):
                    try:
                        self.sweep_ttl()
                    except Exception:  # a closed memory ends the sweeper quietly
                        return

            self._sweeper = threading.Thread(target=run, name="hippo-store-ttl", daemon=True)
            self._sweeper.start()

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the background sweeper.

        Returns:
            Whether it has stopped (or was not running).
        """
        self._sweeper_stop.set()
        sweeper = self._sweeper
        if sweeper is None:
            return True
        sweeper.join(timeout)
        stopped = not sweeper.is_alive()
        if stopped:
            self._sweeper = None
        return stopped

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Stop the sweeper and close the memory if the store opened it."""
        self.stop_ttl_sweeper()
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> HippoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HippoStore({self.memory!r})"
