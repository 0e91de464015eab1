"""Baseline retrievers measured beside hippo: dense cosine, BM25, and their RRF.

Every system follows one small protocol (:class:`RankingSystem`): ``ingest`` a
haystack into a fresh index, then ``rank`` a question's units, best first. A
system stores either the haystack's units (``granularity="unit"``: one vector per
unit, as the baseline definition asks) or, at LongMemEval session level, the
turns of each session (``granularity="part"``), in which case a session ranks
where its best turn ranks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from .._encoder import Encoder
from ._datasets import Haystack, Question, Unit

__all__ = [
    "BM25System",
    "DenseSystem",
    "Granularity",
    "RRFSystem",
    "RankingSystem",
    "bm25_stemmer_name",
    "dedupe_to_parents",
    "rrf_fuse",
]

Granularity = Literal["unit", "part"]
FloatArray = npt.NDArray[np.float32]
RRF_K = 60
"""The constant of reciprocal-rank fusion (Cormack et al., 2009)."""


class RankingSystem(Protocol):
    """What the harness needs from a retriever under test.

    Attributes:
        name: Label used in tables and JSON.
    """

    name: str

    def ingest(self, haystack: Haystack) -> int:
        """Drop any previous state and store this haystack; return items stored."""
        ...

    def rank(self, question: Question, query_vector: FloatArray, depth: int) -> list[str]:
        """Unit ids of the haystack, best first, at least ``depth`` of them when
        the haystack has that many.

        Args:
            question: The question (its text is the query).
            query_vector: The question's encoding, shape ``(dim,)``, precomputed
                so that timing excludes query encoding.
            depth: How many units the metrics look at.
        """
        ...

    def close(self) -> None:
        """Release resources."""
        ...


def stored_items(haystack: Haystack, granularity: Granularity) -> list[Unit]:
    """The items a system stores: the units, or their parts when asked and present."""
    if granularity == "part" and haystack.parts:
        return haystack.parts
    return haystack.units


def dedupe_to_parents(ranked: Sequence[Unit], depth: int | None = None) -> list[str]:
    """Map ranked items to unit ids (a part maps to its parent), first occurrence wins.

    This ranks a session by its best-ranked turn (max aggregation).
    """
    seen: set[str] = set()
    out: list[str] = []
    for item in ranked:
        uid = item.parent if item.parent is not None else item.uid
        if uid not in seen:
            seen.add(uid)
            out.append(uid)
            if depth is not None and len(out) >= depth:
                break
    return out


def rrf_fuse(rankings: Sequence[Sequence[int]], n: int, k: int = RRF_K) -> list[int]:
    """Reciprocal-rank fusion of full rankings of item indices ``0..n-1``.

    Each ranking adds ``1 / (k + rank)`` (rank 1-based) to an item's score; items
    absent from a ranking get nothing from it. Ties keep index order.

    Returns:
        Item indices, best first.
    """
    scores = np.zeros(n, dtype=np.float64)
    for ranking in rankings:
        items = np.asarray(ranking, dtype=np.int64)
        scores[items] += 1.0 / (k + np.arange(1, len(items) + 1, dtype=np.float64))
    fused: list[int] = np.argsort(-scores, kind="stable").tolist()
    return fused


class DenseSystem:
    """Flat cosine search: one vector per stored item, exhaustive dot products.

    Args:
        encoder: Encodes the stored texts (use a cached encoder).
        granularity: Store units, or (session level) their turns.
        name: Label.
    """

    def __init__(self, encoder: Encoder, *, granularity: Granularity = "unit", name: str = "dense") -> None:
        self.name = name
        self.encoder = encoder
        self.granularity: Granularity = granularity
        self._items: list[Unit] = []
        self._matrix: FloatArray = np.zeros((0, 1), dtype=np.float32)

    def ingest(self, haystack: Haystack) -> int:
        self._items = stored_items(haystack, self.granularity)
        self._matrix = self.encoder.encode([item.text for item in self._items])
        return len(self._items)

    def order(self, query_vector: FloatArray) -> list[int]:
        """Indices of the stored items by decreasing cosine similarity."""
        scores = self._matrix @ np.asarray(query_vector, dtype=np.float32)
        order: list[int] = np.argsort(-scores, kind="stable").tolist()
        return order

    def rank(self, question: Question, query_vector: FloatArray, depth: int) -> list[str]:
        return dedupe_to_parents([self._items[i] for i in self.order(query_vector)])

    def close(self) -> None:
        self._items = []


@functools.lru_cache(maxsize=1)
def _word_stemmer() -> tuple[str, Callable[[str], str] | None]:
    """The best available English stemmer: PyStemmer, else NLTK's Porter, else none."""
    try:
        import Stemmer

        snowball = Stemmer.Stemmer("english")
        return "pystemmer-english", snowball.stemWord
    except ImportError:
        pass
    try:
        from nltk.stem.porter import PorterStemmer

        porter = PorterStemmer()
        return "nltk-porter", porter.stem
    except ImportError:
        return "none", None


def bm25_stemmer_name() -> str:
    """Which stemmer BM25 uses on this machine (recorded in the JSON)."""
    return _word_stemmer()[0]


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    stem = _word_stemmer()[1]
    return stem(word) if stem is not None else word


def _stem_words(words: list[str]) -> list[str]:
    return [_stem(word) for word in words]


class BM25System:
    """Okapi BM25 (``bm25s``, Lucene variant, k1=1.5, b=0.75) over the stored texts,
    lower-cased, English stop words removed, stemmed when a stemmer is available.

    Args:
        granularity: Store units, or (session level) their turns.
        name: Label.
    """

    def __init__(self, *, granularity: Granularity = "unit", name: str = "bm25") -> None:
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - a bench extra
            from .._errors import MissingDependencyError

            raise MissingDependencyError("the BM25 baseline needs bm25s: pip install 'hippo-memory[bench]'") from exc
        self._bm25s = bm25s
        self.name = name
        self.granularity: Granularity = granularity
        self._items: list[Unit] = []
        self._retriever: object | None = None
        stemmer = _word_stemmer()[1]
        self._stemmer = _stem_words if stemmer is not None else None

    def ingest(self, haystack: Haystack) -> int:
        self._items = stored_items(haystack, self.granularity)
        tokens = self._bm25s.tokenize(
            [item.text for item in self._items],
            stopwords="en",
            stemmer=self._stemmer,
            show_progress=False,
        )
        retriever = self._bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        self._retriever = retriever
        return len(self._items)

    def order(self, query: str) -> list[int]:
        """Indices of the stored items by decreasing BM25 score (ties: stored order)."""
        tokens = self._bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        if not tokens or self._retriever is None:
            return list(range(len(self._items)))
        scores = self._retriever.get_scores(tokens)  # type: ignore[attr-defined]
        order: list[int] = np.argsort(-np.asarray(scores), kind="stable").tolist()
        return order

    def rank(self, question: Question, query_vector: FloatArray, depth: int) -> list[str]:
        return dedupe_to_parents([self._items[i] for i in self.order(question.text)])

    def close(self) -> None:
        self._items = []
        self._retriever = None


class RRFSystem:
    """Reciprocal-rank fusion (k=60) of the dense and BM25 rankings.

    Args:
        encoder: Encoder of the dense side.
        granularity: Store units, or (session level) their turns; fusion
            happens on stored items, then sessions take their best turn's rank.
        name: Label.
    """

    def __init__(self, encoder: Encoder, *, granularity: Granularity = "unit", name: str = "rrf") -> None:
        self.name = name
        self.dense = DenseSystem(encoder, granularity=granularity)
        self.bm25 = BM25System(granularity=granularity)
        self._items: list[Unit] = []

    def ingest(self, haystack: Haystack) -> int:
        self.dense.ingest(haystack)
        count = self.bm25.ingest(haystack)
        self._items = self.bm25._items
        return count

    def rank(self, question: Question, query_vector: FloatArray, depth: int) -> list[str]:
        fused = rrf_fuse([self.dense.order(query_vector), self.bm25.order(question.text)], len(self._items))
        return dedupe_to_parents([self._items[i] for i in fused])

    def close(self) -> None:
        self.dense.close()
        self.bm25.close()
        self._items = []
