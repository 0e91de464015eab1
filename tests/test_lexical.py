"""The lexical channel's in-RAM BM25 index."""

from __future__ import annotations

import math
import random
import sqlite3

import numpy as np
import pytest

from hippo_memory import HippoConfig, InvalidConfigError
from hippo_memory._lexical import LexicalIndex, tokenize

WORDS = "river garden violin paint quokka perth trip june market bread coffee tennis yoga novel".split()


def _random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))) for _ in range(n)]


def test_tokenize_drops_stop_words_possessives_and_folds_accents() -> None:
    words, length = tokenize("What is Caroline's plan for the Café? Caroline's PLAN!")
    assert words == ["caroline", "plan", "cafe", "caroline", "plan"]
    assert length == 9  # every word counts towards the length, stop words included
    assert tokenize("a I of") == ([], 3)
    assert tokenize("x-ray 3D_print") == (["x-ray", "3d_print"], 2)


def test_rarest_terms_are_stemmed_distinct_and_ordered_by_document_frequency() -> None:
    index = LexicalIndex()
    index.add(
        [0, 1, 2, 3, 4],
        ["paint the garden", "painting classes in the garden", "violin lessons", "garden party", "jazz night"],
    )
    assert index.document_frequency("paint") == 2  # "painting" stems to "paint"
    assert index.rarest_terms("Violin painting in the garden, painted violin?", 2) == ["violin", "paint"]
    assert index.rarest_terms("unknown words only", 5) == []


def test_rarest_terms_skip_words_held_by_more_than_half_the_memories() -> None:
    """Their IDF is floored to 1e-6: searching them alone would rank by length noise."""
    index = LexicalIndex()
    index.add([0, 1, 2, 3], ["crash test one", "crash test two", "crash test three", "other note"])
    assert index.document_frequency("crash") == 3
    assert index.rarest_terms("crash test", 5) == []
    assert index.rarest_terms("crash test two", 5) == ["two"]


def test_scores_equal_sqlite_fts5_bm25() -> None:
    """Same ranking function as FTS5's bm25(): scores agree to float precision."""
    texts = _random_texts(60, seed=1)
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
    except sqlite3.OperationalError:  # pragma: no cover - SQLite without FTS5
        pytest.skip("this SQLite has no FTS5")
    db.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", list(enumerate(texts)))
    index = LexicalIndex(language=None)
    index.add(list(range(len(texts))), texts)
    for query in (["violin"], ["quokka", "june"], ["river", "bread", "yoga"]):
        expected = dict(db.execute("SELECT rowid, -bm25(t) FROM t WHERE t MATCH ?", (" OR ".join(query),)).fetchall())
        found = index.search(query, 100)
        assert set(found.tolist()) == set(expected)
        ours = _scores(index, query)
        for slot, score in expected.items():
            assert ours[slot] == pytest.approx(score, rel=1e-5)
        ranked = sorted(expected, key=lambda s: (-expected[s], s))
        assert [expected[s] for s in found.tolist()] == pytest.approx([expected[s] for s in ranked], rel=1e-5)


def _scores(index: LexicalIndex, terms: list[str]) -> dict[int, float]:
    """BM25 written out longhand from the index's statistics."""
    n = index.n_documents
    mean = index._total_length / n
    out: dict[int, float] = {}
    for term in terms:
        df = index.document_frequency(term)
        idf = max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)
        slots = np.frombuffer(index._slots[term], dtype=np.int32)
        freqs = np.frombuffer(index._freqs[term], dtype=np.uint16)
        for slot, tf in zip(slots.tolist(), freqs.tolist(), strict=True):
            if not index._alive[slot]:
                continue
            norm = tf + index.k1 * (1 - index.b + index.b * index._length[slot] / mean)
            out[slot] = out.get(slot, 0.0) + idf * tf * (index.k1 + 1) / norm
    return out


@pytest.mark.parametrize("seed", range(5))
def test_removal_readding_and_compaction_match_a_fresh_index(seed: int) -> None:
    rng = random.Random(seed)
    texts = dict(enumerate(_random_texts(400, seed)))
    index = LexicalIndex()
    index.add(list(texts), list(texts.values()))
    for _ in range(6):
        gone = rng.sample(sorted(texts), 40)
        index.remove(gone)
        for slot in gone:
            del texts[slot]
        changed = rng.sample(sorted(texts), 10)  # update in place: same slot, new text
        new_texts = _random_texts(10, rng.randrange(10**6))
        index.add(changed, new_texts)
        texts.update(zip(changed, new_texts, strict=True))
    fresh = LexicalIndex()
    fresh.add(sorted(texts), [texts[s] for s in sorted(texts)])
    assert index.n_documents == fresh.n_documents == len(texts)
    for query in (["violin"], ["quokka", "june", "tennis"], WORDS):
        stems = [t for w in query for t in index.terms(w)[0]]
        assert index.search(stems, 500).tolist() == fresh.search(stems, 500).tolist()
        assert all(index.document_frequency(t) == fresh.document_frequency(t) for t in stems)
    assert index._postings >= index._dead_postings >= 0


def test_search_honours_allowed_slots_limit_and_tie_order() -> None:
    index = LexicalIndex()
    index.add([3, 1, 7, 5], ["violin", "violin", "violin", "garden"])
    assert index.search(["violin"], 10).tolist() == [1, 3, 7]  # equal scores: by slot
    assert index.search(["violin"], 2).tolist() == [1, 3]
    assert index.search(["violin"], 10, np.array([3, 5, 7], dtype=np.int64)).tolist() == [3, 7]
    assert index.search(["violin"], 10, np.zeros(0, dtype=np.int64)).tolist() == []
    assert index.search([], 10).tolist() == []
    many = LexicalIndex()
    slots = list(range(200))
    random.Random(0).shuffle(slots)
    many.add(slots, ["violin garden"] * 200)  # all tied: the cut keeps the lowest slots
    assert many.search(["violin", "garden"], 5).tolist() == [0, 1, 2, 3, 4]
    assert many.search(["violin"], 3).tolist() == [0, 1, 2]
    index.remove([1, 3, 7, 42])  # an unknown slot is ignored
    assert index.search(["violin"], 10).tolist() == []
    assert index.document_frequency("violin") == 0


def test_lexical_language_is_validated() -> None:
    assert HippoConfig(lexical_language="german").lexical_language == "german"
    assert HippoConfig(lexical_language=None).lexical_language is None
    with pytest.raises(InvalidConfigError, match="Snowball"):
        HippoConfig.create(lexical_language="klingon")


def test_cached_term_weights_follow_every_change_of_the_index() -> None:
    """A term's BM25 weights are kept between searches; every add or remove must drop them."""
    texts = _random_texts(300, seed=5)
    index = LexicalIndex()
    index.add(list(range(200)), texts[:200])
    terms = ["river", "violin", "quokka"]

    def fresh(live: dict[int, str]) -> tuple[list[int], list[float]]:
        other = LexicalIndex()
        other.add(list(live), list(live.values()))
        hits, scores = other.search_scored(terms, 30)
        return hits.tolist(), scores.tolist()

    live = dict(enumerate(texts[:200]))
    for step in range(4):
        for _ in range(2):  # the second search reads the cached weights
            hits, scores = index.search_scored(terms, 30)
            assert (hits.tolist(), scores.tolist()) == fresh(live)
        if step == 0:
            index.add(list(range(200, 300)), texts[200:])
            live.update(enumerate(texts[200:], start=200))
        elif step == 1:
            index.remove(range(0, 300, 3))
            live = {s: t for s, t in live.items() if s % 3}
        elif step == 2:
            index.add([1], ["quokka quokka river"])  # re-indexed in place
            live[1] = "quokka quokka river"
