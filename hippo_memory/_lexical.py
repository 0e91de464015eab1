"""The lexical channel: an in-RAM BM25 inverted index over memory text.

Recall fuses the settle ranking of the cue vectors with a BM25 ranking of memory
text (see ``HippoConfig.lexical_weight``). The index lives in RAM beside the cue
vectors and is rebuilt from the stored texts when a memory is opened, so it never
needs persisting and can never disagree with the committed records.

It replaced SQLite FTS5: one FTS5 query cost about 2.5 ms at 20K memories on the
2-core reference machine (most of a recall), this index about 0.1 ms for the same
ranking.

Scoring is Okapi BM25 exactly as FTS5's ``bm25()`` computes it (``k1 = 1.2``,
``b = 0.75``, ``idf = log((N - df + 0.5) / (df + 0.5))`` floored at ``1e-6``). Terms
are the text's words, lower-cased, accents removed, Snowball-stemmed (PyStemmer),
without stop words; a memory's length counts all its words.

Postings are append-only arrays per term. Forgetting a memory only marks it dead;
dead postings are dropped in bulk once they are a quarter of all postings. A memory
whose text changes in place has its old postings removed at once.
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ._cues import _STOPWORDS

__all__ = ["LexicalIndex", "head", "tail", "tokenize", "window_document"]

IntArray = npt.NDArray[np.int64]

_TOKEN = re.compile(r"[^\W_](?:[\w'\-]*\w)?")
_WEIGHT_CACHE_POSTINGS = 1 << 20
"""Most postings whose BM25 weights a :class:`LexicalIndex` keeps (about 12 MB)."""


@lru_cache(maxsize=64)
def _stemmer(language: str | None) -> Any:
    if language is None:
        return None
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer(language)


def _fold(text: str) -> str:
    """Lower-case and strip accents (``"Café"`` -> ``"cafe"``)."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> tuple[list[str], int]:
    """Split text into index words.

    Args:
        text: Any text.

    Returns:
        ``(words, length)``: the content words in order (lower-cased, accents
        removed, possessive ``'s`` dropped, stop words and one-letter words left
        out; not yet stemmed) and the count of all words, stop words included (the
        document length BM25 normalises by).
    """
    words: list[str] = []
    length = 0
    for token in _TOKEN.findall(_fold(text)):
        length += 1
        word = token.strip("'-")
        if word.endswith("'s"):
            word = word[:-2]
        if len(word) < 2 or word in _STOPWORDS:
            continue
        words.append(word)
    return words, length


def head(text: str, chars: int) -> str:
    """At most the first ``chars`` characters of ``text``, not ending inside a word."""
    if len(text) <= chars:
        return text
    cut = text[: chars + 1]
    return cut[: cut.rfind(" ")] if " " in cut else cut[:chars]


def tail(text: str, chars: int) -> str:
    """At most the last ``chars`` characters of ``text``, not starting inside a word."""
    if len(text) <= chars:
        return text
    cut = text[-chars - 1 :]
    return cut[cut.find(" ") + 1 :] if " " in cut else cut[1:]


def window_document(slot: int, window: Sequence[tuple[int, str]], chars: int) -> str:
    """The lexical document of memory ``slot`` from its session window ``[(slot, text), ...]`` in order.

    The memory's own text counts twice (BM25F with field weights 2:1), so a memory
    that says the query's words itself outranks the neighbours that only border
    it; a neighbour adds only the part nearest the memory (``chars`` characters).
    """
    own = next(text for s, text in window if s == slot)
    parts = [own]
    for s, text in window:
        if s < slot:
            parts.append(tail(text, chars))
        elif s > slot:
            parts.append(head(text, chars))
        else:
            parts.append(text)
    return "\n".join(parts)


def _group_sum(
    every: npt.NDArray[np.int32], weight: npt.NDArray[np.float32]
) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """The distinct slots of ``every``, ascending, and the float64 sum of their ``weight`` in order of appearance.

    ``np.unique(every, return_inverse=True)`` and ``np.bincount`` without the former's
    per-call overhead; the weights are summed in the same order, so the sums are the same.
    """
    order = np.argsort(every)
    grouped = every[order]
    first = np.empty(grouped.size, dtype=bool)
    first[:1] = True
    np.not_equal(grouped[1:], grouped[:-1], out=first[1:])
    hits = grouped[first].astype(np.int64)
    inverse = np.empty(grouped.size, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    sums = np.bincount(inverse, weights=weight, minlength=hits.size).astype(np.float64, copy=False)
    return hits, sums


class LexicalIndex:
    """BM25 over memory texts, keyed by memory slot.

    Args:
        language: Snowball stemmer language (``"english"``, ``"german"``, ...; see
            ``Stemmer.algorithms()``), or ``None`` to index words unstemmed.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
    """

    def __init__(self, language: str | None = "english", *, k1: float = 1.2, b: float = 0.75) -> None:
        self._stem = _stemmer(language)
        self.k1 = k1
        self.b = b
        self._slots: dict[str, array[int]] = {}
        self._freqs: dict[str, array[int]] = {}
        self._df: dict[str, int] = {}
        self._terms: dict[int, tuple[str, ...]] = {}
        self._stale: dict[int, tuple[str, ...]] = {}
        self._length = np.zeros(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._total_length = 0.0
        self._postings = 0
        self._dead_postings = 0
        # Each searched term's postings and BM25 weights, valid until the next add or
        # remove (they depend on N, df and the mean length): a warm partition serving
        # reads scores a repeated word without recomputing its postings' weights.
        self._weights: dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]] = {}
        self._weights_size = 0
        self._accumulator = np.zeros(0, dtype=np.float64)  # per-slot sums of a search, zero between searches

    # ------------------------------------------------------------------ terms
    def terms(self, text: str) -> tuple[list[str], int]:
        """The stemmed index terms of ``text`` in order, and its length in words."""
        words, length = tokenize(text)
        if self._stem is not None and words:
            words = self._stem.stemWords(words)
        return words, length

    def document_frequency(self, term: str) -> int:
        """Live memories containing ``term`` (an already stemmed term)."""
        return self._df.get(term, 0)

    def rarest_terms(self, query: str, n: int) -> list[str]:
        """The ``n`` terms of ``query`` held by the fewest memories (by at least one, by at most half).

        BM25 ranks mostly by rare words; a common word's long posting list costs time
        and changes the ranking little. A word held by more than half the memories has
        a negative IDF, which BM25 floors at ``1e-6``: it carries no evidence, and a
        ranking made of such words alone would order memories by length noise.
        """
        return self.rarest(self.terms(query)[0], n)

    def rarest(self, words: Sequence[str], n: int) -> list[str]:
        """:meth:`rarest_terms` of a query's stemmed ``words`` (from :meth:`terms`)."""
        half = len(self._terms) / 2.0
        seen: dict[str, int] = {}
        for position, word in enumerate(words):
            if word not in seen and 0 < self._df.get(word, 0) <= half:
                seen[word] = position
        ranked = sorted(seen, key=lambda w: (self._df[w], seen[w]))
        return ranked[:n]

    # ------------------------------------------------------------------ writing
    def add(self, slots: Sequence[int], texts: Sequence[str]) -> None:
        """Index memory ``texts`` under ``slots`` (a slot already indexed is re-indexed)."""
        self._forget_weights()
        for slot, text in zip(slots, texts, strict=True):
            if slot in self._terms:
                self._purge(slot, self._terms.pop(slot), alive=True)
            elif slot in self._stale:
                self._purge(slot, self._stale.pop(slot), alive=False)
            words, length = self.terms(text)
            if slot >= self._length.shape[0]:
                capacity = max(slot + 1, int(self._length.shape[0] * 1.5) + 64)
                self._length = np.concatenate([self._length, np.zeros(capacity - self._length.shape[0], np.float32)])
                self._alive = np.concatenate([self._alive, np.zeros(capacity - self._alive.shape[0], bool)])
            counts = Counter(words)
            for term, count in counts.items():
                postings = self._slots.get(term)
                if postings is None:
                    postings = self._slots[term] = array("i")
                    self._freqs[term] = array("H")
                postings.append(slot)
                self._freqs[term].append(min(count, 65_535))
                self._df[term] = self._df.get(term, 0) + 1
            self._terms[slot] = tuple(counts)
            self._postings += len(counts)
            self._length[slot] = length
            self._alive[slot] = True
            self._total_length += length

    def remove(self, slots: Iterable[int]) -> None:
        """Forget memories ``slots`` (unknown slots are ignored)."""
        self._forget_weights()
        for slot in slots:
            terms = self._terms.pop(slot, None)
            if terms is None:
                continue
            for term in terms:
                self._decrement_df(term)
            self._alive[slot] = False
            self._total_length -= float(self._length[slot])
            self._stale[slot] = terms
            self._dead_postings += len(terms)
        if self._dead_postings > max(1024, self._postings // 4):
            self._compact()

    def _forget_weights(self) -> None:
        self._weights.clear()
        self._weights_size = 0

    def _term_weights(
        self, term: str, df: int, n: int, mean_length: float
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """``term``'s posting slots and their BM25 weights, read-only (cached until the index changes)."""
        cached = self._weights.get(term)
        if cached is not None:
            return cached
        k1, b = self.k1, self.b
        slots = np.frombuffer(self._slots[term], dtype=np.int32).copy()
        tf = np.frombuffer(self._freqs[term], dtype=np.uint16).astype(np.float32)
        idf = max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)
        norm = k1 * ((1.0 - b) + (b / mean_length) * self._length[slots])
        weights: npt.NDArray[np.float32] = ((idf * (k1 + 1.0)) * tf / (tf + norm)).astype(np.float32, copy=False)
        slots.flags.writeable = weights.flags.writeable = False
        if self._weights_size + slots.size > _WEIGHT_CACHE_POSTINGS:
            self._forget_weights()
        self._weights[term] = (slots, weights)
        self._weights_size += int(slots.size)
        return slots, weights

    def _purge(self, slot: int, terms: tuple[str, ...], *, alive: bool) -> None:
        """Drop ``slot``'s postings from ``terms`` now (its text is about to change)."""
        for term in terms:
            self._filter_postings(term, np.frombuffer(self._slots[term], dtype=np.int32) != slot)
            if alive:
                self._decrement_df(term)
        self._postings -= len(terms)
        if alive:
            self._total_length -= float(self._length[slot])
        else:
            self._dead_postings -= len(terms)

    def _compact(self) -> None:
        """Drop every dead posting."""
        for term in list(self._slots):
            keep = self._alive[np.frombuffer(self._slots[term], dtype=np.int32)]
            if not keep.all():
                self._filter_postings(term, keep)
        self._postings -= self._dead_postings
        self._dead_postings = 0
        self._stale.clear()

    def _filter_postings(self, term: str, keep: npt.NDArray[np.bool_]) -> None:
        """Keep only the postings of ``term`` where ``keep`` is true (the term goes when none are left)."""
        slots = np.frombuffer(self._slots[term], dtype=np.int32)[keep]
        if not slots.size:
            del self._slots[term], self._freqs[term]
            return
        freqs = np.frombuffer(self._freqs[term], dtype=np.uint16)[keep]
        self._slots[term] = array("i", slots.tobytes())
        self._freqs[term] = array("H", freqs.tobytes())

    def _decrement_df(self, term: str) -> None:
        left = self._df[term] - 1
        if left:
            self._df[term] = left
        else:
            del self._df[term]

    # ------------------------------------------------------------------ reading
    @property
    def n_documents(self) -> int:
        """Live memories indexed."""
        return len(self._terms)

    def search(self, terms: Sequence[str], limit: int, allowed: IntArray | None = None) -> IntArray:
        """Rank memories by BM25 over ``terms``.

        Args:
            terms: Stemmed terms (see :meth:`rarest_terms`); each counted once.
            limit: Most slots returned.
            allowed: int64 ``(m,)`` ascending slots a hit must be among; ``None``
                for all.

        Returns:
            int64 ``(<= limit,)``: slots matching some term, best BM25 first (ties by
            slot).
        """
        return self.search_scored(terms, limit, allowed)[0]

    def max_score(self, terms: Sequence[str]) -> float:
        """The BM25 score a document would reach matching every term of ``terms`` infinitely often.

        A term no memory holds counts at the highest IDF, as if one memory held it: a
        query mostly about words absent from memory cannot score high on the rest.
        Dividing by it puts a memory's score on a per-query absolute scale in ``[0, 1)``.
        """
        n = len(self._terms)
        total = 0.0
        for term in dict.fromkeys(terms):
            df = max(self._df.get(term, 0), 1)
            total += max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6) * (self.k1 + 1.0)
        return total

    def lengths(self, slots: IntArray) -> npt.NDArray[np.float32]:
        """Words of the lexical documents of ``slots`` (int64 ``(m,)``): float32 ``(m,)``, 0 for unknown slots."""
        inside = slots < self._length.shape[0]
        out = np.zeros(slots.shape[0], dtype=np.float32)
        out[inside] = self._length[slots[inside]]
        return out

    def search_scored(
        self, terms: Sequence[str], limit: int, allowed: IntArray | None = None
    ) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """:meth:`search`, with the BM25 scores: int64 ``(h,)`` slots and float32 ``(h,)`` scores, best first."""
        n = len(self._terms)
        if not n or limit < 1:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        mean_length = max(self._total_length / n, 1e-9)
        found: list[npt.NDArray[np.int32]] = []
        weights: list[npt.NDArray[Any]] = []
        for term in dict.fromkeys(terms):
            df = self._df.get(term, 0)
            if not df:
                continue
            slots, weight = self._term_weights(term, df, n, mean_length)
            weights.append(weight)
            found.append(slots)
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        pruned = self._rare_first(found, weights, limit, allowed) if len(found) > 1 else None
        if pruned is not None:
            hits, scores = pruned
        else:
            if len(found) == 1:
                hits, scores = found[0].astype(np.int64), weights[0]
            elif sum(int(slots.size) for slots in found) * 4 > self._length.shape[0]:
                # Long postings: summing into one dense accumulator beats sorting them.
                hits, scores = self._accumulate(found, weights)
            else:
                hits, sums = _group_sum(np.concatenate(found), np.concatenate(weights))
                scores = sums.astype(np.float32)
            hits, scores = self._visible(hits, scores, allowed)
        if hits.size > limit:
            # The best ``limit``; among memories tied at the cut, the lowest slots (as FTS5 does).
            cut = scores[np.argpartition(-scores, limit - 1)[limit - 1]]
            above = np.flatnonzero(scores > cut)
            tied = np.flatnonzero(scores == cut)
            tied = tied[np.argsort(hits[tied], kind="stable")][: limit - above.size]
            top = np.concatenate([above, tied])
            hits, scores = hits[top], scores[top]
        order = np.lexsort((hits, -scores))
        return hits[order], scores[order].astype(np.float32)

    def _visible(
        self, hits: IntArray, scores: npt.NDArray[np.float32], allowed: IntArray | None
    ) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """The hits of live memories among ``allowed`` (``None``: all), in the same order."""
        keep = self._alive[hits]
        if allowed is not None:
            if allowed.size:
                at = np.minimum(np.searchsorted(allowed, hits), allowed.size - 1)
                keep &= allowed[at] == hits
            else:
                keep[:] = False
        return hits[keep], scores[keep]

    def _rare_first(
        self,
        found: Sequence[npt.NDArray[np.int32]],
        weights: Sequence[npt.NDArray[np.float32]],
        limit: int,
        allowed: IntArray | None,
    ) -> tuple[IntArray, npt.NDArray[np.float32]] | None:
        """The visible hits that can rank in the best ``limit`` when the last term is common, else ``None``.

        A memory holding none of the rarer terms scores at most the common term's
        highest weight. When ``limit`` memories holding a rarer term score above that,
        no other memory reaches the best ``limit`` (nor ties at their cut), so only the
        rarer terms' postings are grouped; the common term's weight is then added to
        each, last, as summing the postings in term order adds it. ``None`` when the
        last term is not common or too few memories clear the bound.
        """
        common, rare = found[-1], found[:-1]
        n_rare = sum(int(slots.size) for slots in rare)
        if common.size < 4 * n_rare:
            return None
        hits, sums = _group_sum(np.concatenate(rare), np.concatenate(weights[:-1]))
        capacity = self._length.shape[0]
        if self._accumulator.shape[0] != capacity:
            self._accumulator = np.zeros(capacity, dtype=np.float64)
        total = self._accumulator
        index = common.astype(np.intp)
        try:
            total[index] = weights[-1]
            sums = sums + total[hits]  # + 0.0 where the common term is absent: unchanged
        finally:
            total[index] = 0.0
        hits, scores = self._visible(hits, sums.astype(np.float32), allowed)
        if np.count_nonzero(scores > weights[-1].max()) < limit:
            return None
        return hits, scores

    def _accumulate(
        self, found: Sequence[npt.NDArray[np.int32]], weights: Sequence[npt.NDArray[np.float32]]
    ) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """``np.bincount`` of the terms' postings weighted: slots ascending, float32 scores.

        Each slot's weights are added in float64 in term order, as ``np.bincount`` over
        the concatenated postings adds them, but into an accumulator kept zeroed between
        searches: a fresh one as long as the slots costs its page faults every search
        (0.2 ms at 25K slots). A term lists a slot at most once, so one fancy-indexed
        add per term sums exactly what ``bincount`` sums.
        """
        capacity = self._length.shape[0]
        if self._accumulator.shape[0] != capacity:
            self._accumulator = np.zeros(capacity, dtype=np.float64)
        total = self._accumulator
        index = [slots.astype(np.intp) for slots in found]
        try:
            for slots, weight in zip(index, weights, strict=True):
                total[slots] += weight
            hits = np.flatnonzero(total != 0).astype(np.int64, copy=False)
            scores = total[hits].astype(np.float32)
        finally:
            for slots in index:
                total[slots] = 0.0
        return hits, scores

    def nbytes(self) -> int:
        """Approximate RAM held: posting arrays, per-memory term tuples, dict entries."""
        postings = sum(a.itemsize * len(a) + 64 for a in self._slots.values())
        postings += sum(a.itemsize * len(a) + 64 for a in self._freqs.values())
        per_memory = sum(56 + 8 * len(t) for t in self._terms.values()) + 100 * len(self._terms)
        vocabulary = 3 * 100 * len(self._slots)  # three dict entries and the term string
        cache = 8 * self._weights_size  # cached slots and weights of searched terms
        arrays = self._length.nbytes + self._alive.nbytes + self._accumulator.nbytes
        return postings + per_memory + vocabulary + cache + arrays
