"""Write policy: novelty, salience gating, duplicate merging and knowledge updates.

At ``remember`` time every memory gets a *novelty* score, ``1 - max cosine`` between
its text vector and the text vectors of the memories already in its namespace (and
of the earlier items of the same batch), and a *salience* (given by the caller, 0 by
default). ``HippoConfig.write_policy`` then decides:

- ``"store_all"``: store it (the scores are still recorded);
- ``"gate"``: skip a near-duplicate (novelty below ``novelty_threshold``) unless its
  salience reaches ``salience_threshold``, and return the id of the memory it
  duplicates;
- ``"merge_duplicates"``: fold a near-duplicate into the memory it duplicates (its
  wording becomes an extra ``merged`` cue unless it is practically identical, the
  salience is the larger one, the survivor counts as accessed) and return that id.

A skipped or merged duplicate never shortens what it repeats: the memory it folds
into keeps the later of the two expiries (no ``ttl`` = never), so writing a fact
once with a ``ttl`` and again without one keeps it.

The decisions are counted (``stats()["write_policy"]``).

Knowledge updates. A memory supersedes another when the caller says so
(``remember(..., supersedes=id)``, :meth:`HippoMemory.supersede`) or, with
``HippoConfig.detect_supersession``, when :func:`is_update` holds for a sentence of
each (a ``sentence`` cue of a longer text, or a text, explicit or merged cue that is a
single sentence): the two sentences are close (cosine at least ``supersede_similarity``), share a
subject (at least two content words) and carry different values of one type (each
has a number the other lacks, or each has a name the other lacks). The later one
(by ``timestamp``, else by arrival) supersedes the earlier. Superseded memories are
kept for history, excluded from recall unless ``include_superseded=True``, and then
ranked below the current ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from ._cue_blocks import attach_cues
from ._cues import _STOPWORDS, split_sentences
from ._errors import InvalidInputError, MemoryNotFoundError
from ._items import Prepared
from ._storage import LifecycleRecord
from ._types import Cue

if TYPE_CHECKING:
    from ._partition import Partition

__all__ = [
    "WritePlan",
    "check_salience",
    "check_ttl",
    "content_words",
    "is_update",
    "plan_writes",
    "value_tokens",
]

FloatArray = npt.NDArray[np.float32]
Action = Literal["store", "skip", "merge"]

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&\-]*")
_NUMBER = re.compile(r"\d")
_NUMBER_WORDS = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred thousand million billion dozen first second third fourth fifth sixth seventh
    eighth ninth tenth once twice half""".split()
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"(\[\n]\s*)([A-Za-z][A-Za-z0-9'&\-]*)")
_UPDATE_KINDS = frozenset({"text", "sentence", "explicit", "merged"})
_SENTENCE_MAX_CHARS = 400


def _one_sentence(kind: str, text: str) -> bool:
    """Whether a cue is a single sentence the update rule may compare."""
    if kind not in _UPDATE_KINDS or len(text) > _SENTENCE_MAX_CHARS:
        return False
    return kind == "sentence" or len(split_sentences(text)) == 1


_EXACT_MAX = 16_384
"""Namespaces up to this many memories get an exact novelty; larger ones use the index."""


# ---------------------------------------------------------------------------- validation
def check_salience(value: Any, what: str = "salience") -> float | None:
    """Validate a salience: ``None``, a bool (surprise flag: ``True`` is 1.0) or 0..1."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise InvalidInputError(f"{what} must be a number from 0 to 1 (or a bool), not {value!r}")
    return float(value)


def check_ttl(value: Any, what: str = "ttl") -> float | None:
    """Validate a time-to-live in seconds: ``None`` or a positive finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- update heuristic
def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str) -> set[str]:
    """Lower-cased words that are not stopwords, with a plural ``s`` stripped."""
    return {_stem(w) for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 1 and w not in _STOPWORDS} | {
        w for w in _WORD.findall(text) if _NUMBER.search(w)
    }


def value_tokens(text: str) -> tuple[set[str], set[str]]:
    """The values a sentence states: ``(numbers, names)``.

    Numbers are tokens with a digit and number words (``three``, ``fifth``,
    ``twice``); names are capitalised words that do not start a sentence (``Porto``,
    ``Gold``), lower-cased. ``I`` and its contractions are not names.
    """
    starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    numbers: set[str] = set()
    names: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group(0)
        lower = word.lower()
        if _NUMBER.search(word) or lower in _NUMBER_WORDS:
            numbers.add(lower)
        elif word[0].isupper() and match.start() not in starts and not lower.startswith("i'") and lower != "i":
            names.add(_stem(lower))
    return numbers, names


def is_update(old: str, new: str) -> bool:
    """Whether ``new`` restates the subject of ``old`` with a different value.

    The rule, applied to two sentences already known to be close in meaning: they
    share at least two content words (the subject), and either each has a number the
    other lacks (``4 projects`` / ``5th project``) or each has a name the other lacks
    (``Premier Silver`` / ``Premier Gold``, ``lives in Lisbon`` / ``lives in Porto``).
    Values of one type must change on both sides: adding a detail is not an update.

    >>> is_update("Alice lives in Lisbon.", "These days Alice lives in Porto.")
    True
    >>> is_update("Alice lives in Lisbon.", "Alice lives in Lisbon with two cats.")
    False
    """
    shared = content_words(old) & content_words(new)
    if len(shared) < 2:
        return False
    old_numbers, old_names = value_tokens(old)
    new_numbers, new_names = value_tokens(new)
    old_all = {_stem(w.lower()) for w in _WORD.findall(old)}
    new_all = {_stem(w.lower()) for w in _WORD.findall(new)}
    numbers_changed = bool(old_numbers - new_all) and bool(new_numbers - old_all)
    names_changed = bool(old_names - new_all) and bool(new_names - old_all)
    return numbers_changed or names_changed


# ---------------------------------------------------------------------------- the plan
class WritePlan:
    """The policy's decisions for one write batch, applied by ``HippoMemory._write``.

    Built under the engine lock by :func:`plan_writes`; ``keep`` selects the items
    that become new memories, the others are skipped or merged into ``target``.
    """

    def __init__(self, items: Sequence[Prepared]) -> None:
        n = len(items)
        self.items = list(items)
        self.action: list[Action] = ["store"] * n
        self.novelty = np.ones(n, dtype=np.float64)
        self.salience = np.array([item.salience or 0.0 for item in items], dtype=np.float64)
        self.target: list[int | None] = [None] * n
        """For skipped/merged items: an existing slot (>= 0) or ``-1 - i`` for batch item ``i``."""
        self.supersedes: list[tuple[int, int]] = []
        """``(old, new)`` pairs, each a slot (>= 0) or ``-1 - i`` for batch item ``i``."""
        self.text_vectors = np.zeros((n, 0), dtype=np.float32)
        self.first_slot = 0
        self._stored_before: npt.NDArray[np.int64] | None = None
        self.expiry: dict[int, float] = {}
        """``slot -> expires_at`` for memories whose expiry a skipped or merged duplicate extends."""

    @property
    def keep(self) -> npt.NDArray[np.bool_]:
        """Which items are stored as new memories."""
        return np.array([a == "store" for a in self.action], dtype=bool)

    @property
    def dropped(self) -> bool:
        """Whether any item is skipped or merged."""
        return any(a != "store" for a in self.action)

    def filter(
        self, vectors: FloatArray, codes: npt.NDArray[np.int64]
    ) -> tuple[list[Prepared], FloatArray, npt.NDArray[np.int64]]:
        """The stored items with their cue vectors and codes."""
        keep = self.keep
        cue_keep = np.repeat(keep, [len(item.cues) for item in self.items])
        return [i for i, k in zip(self.items, keep, strict=True) if k], vectors[cue_keep], codes[keep]

    def slot_of(self, ref: int) -> int:
        """Resolve a slot or ``-1 - i`` batch reference once the batch has slots."""
        if ref >= 0:
            return ref
        index = -1 - ref
        while self.action[index] != "store":  # a batch item merged into an earlier one
            target = self.target[index]
            assert target is not None
            if target >= 0:
                return target
            index = -1 - target
        if self._stored_before is None:  # actions are final once slots are asked for
            keep = self.keep
            self._stored_before = np.cumsum(keep) - keep
        return self.first_slot + int(self._stored_before[index])

    def ids(self, memory: Partition) -> list[str]:
        """The id each input item ended up under, in input order."""
        out = []
        for i, item in enumerate(self.items):
            if self.action[i] == "store":
                out.append(item.id)
            else:
                slot = self.slot_of(-1 - i)
                out.append(memory.slot_id[slot] or item.id)
        return out

    def counts(self) -> dict[str, int]:
        """Decisions of this batch, for ``stats()``."""
        return {
            "stored": int(sum(a == "store" for a in self.action)),
            "skipped": int(sum(a == "skip" for a in self.action)),
            "merged": int(sum(a == "merge" for a in self.action)),
            "superseded": len(self.supersedes),
        }

    def _extended_expiries(self, memory: Partition, ttl_now: float) -> dict[int, float]:
        """The later expiry each skipped or merged item gives the memory it folds into.

        A duplicate never shortens the life of what it repeats, and one written without
        a ``ttl`` (or with a longer one) must not vanish with the earlier, temporary copy.
        """
        life = memory.life
        own: dict[int, float] = {}
        for i, item in enumerate(self.items):
            if self.action[i] == "store":
                own[self.slot_of(-1 - i)] = math.inf if item.ttl is None else ttl_now + item.ttl
        extended: dict[int, float] = {}
        for i, item in enumerate(self.items):
            if self.action[i] == "store":
                continue
            slot = self.slot_of(-1 - i)
            mine = math.inf if item.ttl is None else ttl_now + item.ttl
            if slot in own:
                current = own[slot]
            else:
                life.grow(slot + 1)
                current = float(life.expires_at[slot])
            current = extended.get(slot, current)
            if mine > current:
                extended[slot] = mine
        return extended

    # -- applying -------------------------------------------------------------------
    def write(self, memory: Partition, first_slot: int, now: float) -> None:
        """Inside the write transaction: lifecycle rows, supersessions, counters."""
        self.first_slot = first_slot
        life = memory.life
        store = memory.store
        rows = []
        half_life = memory.config.half_life_days * 86_400.0
        ttl_now = memory.clock()
        self.expiry = self._extended_expiries(memory, ttl_now)
        for i, item in enumerate(self.items):
            if self.action[i] != "store":
                continue
            salience = float(self.salience[i])
            slot = self.slot_of(-1 - i)
            expires_at = self.expiry.get(slot, math.inf if item.ttl is None else ttl_now + item.ttl)
            expires = None if math.isinf(expires_at) else expires_at
            rows.append(
                LifecycleRecord(
                    slot,
                    salience,
                    float(self.novelty[i]),
                    now,
                    now,
                    half_life * (1.0 + salience),
                    0,
                    None,
                    0,
                    expires,
                    None,
                    "[]",
                )
            )
        store.write_lifecycle(rows)
        for slot, expires_at in self.expiry.items():
            if slot < first_slot:  # a stored memory; the batch's own rows were written above
                record = life.row(slot, memory.slot_id)
                store.write_lifecycle([record._replace(expires_at=None if math.isinf(expires_at) else expires_at)])
        for old_ref, new_ref in self.supersedes:
            old, new = self.slot_of(old_ref), self.slot_of(new_ref)
            new_id = memory.slot_id[new] if new < len(memory.slot_id) else None
            if new_id is None:
                new_id = self.items[-1 - new_ref].id if new_ref < 0 else None
            life.ensure_row(store, old, memory.slot_id)
            store.set_superseded(old, new_id)
        store.set_policy_counts(life.counts_after(self.counts()))

    def install(self, memory: Partition, now: float) -> None:
        """After the commit: mirror the lifecycle in RAM and fold merged duplicates in."""
        life = memory.life
        half_life = memory.config.half_life_days * 86_400.0
        ttl_now = memory.clock()
        for i, item in enumerate(self.items):
            if self.action[i] != "store":
                continue
            salience = float(self.salience[i])
            life.reset(
                self.slot_of(-1 - i),
                learned_at=now,
                stability=half_life * (1.0 + salience),
                salience=salience,
                novelty=float(self.novelty[i]),
                expires_at=math.inf if item.ttl is None else ttl_now + item.ttl,
            )
        if self.expiry:
            life.grow(max(self.expiry) + 1)
            for slot, expires_at in self.expiry.items():
                life.expires_at[slot] = expires_at
            life.next_expiry = float(life.expires_at.min())
        for old_ref, new_ref in self.supersedes:
            life.set_superseded(self.slot_of(old_ref), self.slot_of(new_ref))
        life.count(self.counts())
        for i, item in enumerate(self.items):
            if self.action[i] == "skip":
                life.touch(np.asarray([self.slot_of(-1 - i)]), now, memory.config.stability_growth)
            elif self.action[i] == "merge":
                slot = self.slot_of(-1 - i)
                cues = [Cue(item.text, "merged")]
                attach_cues(
                    memory,
                    slot,
                    cues,
                    self.text_vectors[i : i + 1],
                    salience=float(self.salience[i]),
                    merged_id=None,
                    now=now,
                )


def plan_writes(memory: Partition, items: Sequence[Prepared], vectors: FloatArray) -> WritePlan:
    """Score novelty and decide each item's fate; call under the engine lock.

    Args:
        memory: The engine (read only here).
        items: The validated batch, with cues built.
        vectors: float32 ``(total cues, d)``, the cue vectors of the batch in order.

    Returns:
        The plan; nothing is written yet.
    """
    plan = WritePlan(items)
    counts = [len(item.cues) for item in items]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if items else np.zeros(0, np.int64)
    text_vectors = vectors[starts] if items else np.zeros((0, memory.dim), np.float32)
    plan.text_vectors = text_vectors
    config = memory.config
    policy = config.write_policy
    life = memory.life
    now = memory.clock()
    by_namespace: dict[tuple[str, ...], list[int]] = {}
    for i, item in enumerate(items):
        by_namespace.setdefault(item.namespace, []).append(i)
    for namespace, members in by_namespace.items():
        slots = _namespace_slots(memory, namespace, now)
        stored_best, stored_slot = _nearest(memory, slots, text_vectors[members])
        batch_sims = text_vectors[members] @ text_vectors[members].T
        for position, i in enumerate(members):
            item = items[i]
            best, target = -1.0, None
            if slots.size:
                best, target = float(stored_best[position]), int(stored_slot[position])
            for earlier in range(position):
                if batch_sims[position, earlier] > best and plan.action[members[earlier]] == "store":
                    best, target = float(batch_sims[position, earlier]), -1 - members[earlier]
            plan.novelty[i] = float(min(1.0, max(0.0, 1.0 - best))) if target is not None else 1.0
            duplicate = target is not None and plan.novelty[i] < config.novelty_threshold
            if item.supersedes is not None:
                old = memory.id_slot.get(life.resolve(item.supersedes))
                if old is None:
                    raise MemoryNotFoundError(f"supersedes={item.supersedes!r}: no such memory")
                plan.supersedes.append((old, -1 - i))
                continue  # a correction is always stored
            if not duplicate or policy == "store_all":
                continue
            if policy == "gate" and plan.salience[i] < config.salience_threshold:
                plan.action[i], plan.target[i] = "skip", target
            elif policy == "merge_duplicates":
                plan.action[i], plan.target[i] = "merge", target
    if config.detect_supersession:
        _detect_updates(memory, plan, vectors, starts, now)
    return plan


def _nearest(
    memory: Partition, slots: npt.NDArray[np.int64], queries: FloatArray, chunk: int = 4096
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Best cosine and slot of the nearest stored text vector for each query row.

    Exact (a matrix product per chunk of the namespace) for batches and for
    namespaces up to ``_EXACT_MAX`` memories; a few queries against a larger
    namespace go through the candidate index restricted to the text rows (IVF when
    the index has one), approximate but without scanning the namespace.
    """
    best = np.full(queries.shape[0], -np.inf, dtype=np.float32)
    where = np.full(queries.shape[0], -1, dtype=np.int64)
    text_rows = memory.slot_rows[slots, 0]
    if slots.size > _EXACT_MAX and queries.shape[0] <= 8:
        owner_of = dict(zip(text_rows.tolist(), slots.tolist(), strict=True))
        for i, query in enumerate(queries):
            rows, sims = memory.index.search(query, 1, text_rows)
            if rows.size:
                best[i], where[i] = sims[0], owner_of[int(rows[0])]
        return best, where
    for start in range(0, slots.size, chunk):
        sims = queries @ memory.index.vectors(text_rows[start : start + chunk]).T
        arg = np.argmax(sims, axis=1)
        value = sims[np.arange(queries.shape[0]), arg]
        better = value > best
        best[better] = value[better]
        where[better] = slots[start + arg[better]]
    return best, where


def _namespace_slots(memory: Partition, namespace: tuple[str, ...], now: float) -> npt.NDArray[np.int64]:
    """Live, visible slots of exactly this namespace."""
    ns = memory.ns_index.get(namespace)
    if ns is None:
        return np.zeros(0, dtype=np.int64)
    n = len(memory.slot_id)
    mask = memory.slot_ns[:n] == ns
    hidden = memory.life.hidden(n, now, include_superseded=False)
    if hidden is not None:
        mask &= ~hidden
    return np.flatnonzero(mask).astype(np.int64)


def _detect_updates(
    memory: Partition, plan: WritePlan, vectors: FloatArray, starts: npt.NDArray[np.int64], now: float
) -> None:
    """Find knowledge updates between the stored items and older memories (or each other)."""
    config = memory.config
    items = plan.items
    threshold = config.supersede_similarity
    taken_old: set[int] = {old for old, _ in plan.supersedes if old >= 0}
    stored_items = [i for i in range(len(items)) if plan.action[i] == "store"]
    for namespace in {items[i].namespace for i in stored_items}:
        members = [i for i in stored_items if items[i].namespace == namespace]
        slots = _namespace_slots(memory, namespace, now)
        rows = memory.rows_of(slots) if slots.size else np.zeros(0, dtype=np.int64)
        # the cue sentences of the batch: (item, vector row, text)
        batch = [
            (i, int(starts[i]) + c, cue.text)
            for i in members
            for c, cue in enumerate(items[i].cues)
            if _one_sentence(cue.kind, cue.text)
        ]
        if not batch:
            continue
        batch_vectors = vectors[[b[1] for b in batch]]
        found: dict[int, tuple[float, int]] = {}  # old slot -> (similarity, batch item)
        hits: list[tuple[int, int, float]] = []  # (batch cue, stored row, similarity)
        for start in range(0, rows.size, 8192):  # bounded memory on large namespaces
            chunk = rows[start : start + 8192]
            sims = batch_vectors @ memory.index.vectors(chunk).T
            hit_b, hit_r = np.nonzero(sims >= threshold)
            hits.extend(zip(hit_b.tolist(), chunk[hit_r].tolist(), sims[hit_b, hit_r].tolist(), strict=True))
        info = _cue_info(memory, sorted({row for _, row, _ in hits}))
        for b, row, sim in hits:
            slot, kind, text = info.get(row, (-1, "", ""))
            if slot < 0 or not _one_sentence(kind, text):
                continue
            item = batch[b][0]
            if sim > found.get(slot, (-1.0, 0))[0] and is_update(text, batch[b][2]):
                found[slot] = (sim, item)
        for old_slot, (_, item) in found.items():
            if old_slot in taken_old:
                continue
            taken_old.add(old_slot)
            if _is_newer(memory, items[item].timestamp, now, old_slot):
                plan.supersedes.append((old_slot, -1 - item))
            else:
                plan.supersedes.append((-1 - item, old_slot))
        # updates among the batch itself: the later item supersedes the earlier
        pair_sims = batch_vectors @ batch_vectors.T
        superseded_items: set[int] = {-1 - old for old, _ in plan.supersedes if old < 0}
        for a in range(len(batch)):
            for b in range(a + 1, len(batch)):
                ia, ib = batch[a][0], batch[b][0]
                if ia == ib or pair_sims[a, b] < threshold or ia in superseded_items:
                    continue
                if is_update(batch[a][2], batch[b][2]):
                    older, newer = (ia, ib) if _order(items[ia], items[ib], ia, ib) else (ib, ia)
                    plan.supersedes.append((-1 - older, -1 - newer))
                    superseded_items.add(older)


def _cue_info(memory: Partition, rows: list[int]) -> dict[int, tuple[int, str, str]]:
    return {row: (cue.slot, cue.kind, cue.text) for row, cue in memory.store.cues_by_row(rows).items()}


def _is_newer(memory: Partition, timestamp: float | None, now: float, old_slot: int) -> bool:
    """Whether a new memory (event ``timestamp``) is later than the stored ``old_slot``."""
    old_time = float(memory.slot_time[old_slot])
    if timestamp is not None and not math.isnan(old_time):
        return timestamp >= old_time
    return True  # arrival order: the new memory is the later one


def _order(a: Prepared, b: Prepared, ia: int, ib: int) -> bool:
    """Whether batch item ``a`` is older than ``b`` (timestamps, else batch order)."""
    if a.timestamp is not None and b.timestamp is not None and a.timestamp != b.timestamp:
        return a.timestamp < b.timestamp
    return ia < ib
