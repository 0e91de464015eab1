"""The recall path's shortcuts give exactly what the general computations they replace give.

Each shortcut (numpy top-k, the BM25 accumulator, one-row norms, the date pre-check,
batched lifecycle fields) is compared bit for bit with the straightforward
computation on random inputs, ties and edge cases included.
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
from hippo_memory._encoder import validate_vectors
from hippo_memory._index import _top, _top_torch
from hippo_memory._lexical import LexicalIndex
from hippo_memory._lifecycle import memory_strength
from hippo_memory._partition import Partition
from hippo_memory._temporal import query_time_window


@pytest.mark.parametrize("kind", ["distinct", "few_values", "dead_rows", "ties_at_cut"])
def test_numpy_top_k_picks_the_rows_torch_topk_picks(kind: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        n = int(rng.integers(1, 200))
        if kind == "distinct":
            sims = rng.standard_normal(n).astype(np.float32)
        elif kind == "few_values":
            sims = rng.integers(0, 4, n).astype(np.float32)
        elif kind == "dead_rows":
            sims = rng.standard_normal(n).astype(np.float32)
            sims[rng.random(n) < 0.3] = -np.inf
        else:
            sims = rng.standard_normal(n).astype(np.float32)
            sims[::2] = sims[0]
        k = min(int(rng.integers(0, n + 2)), int(np.isfinite(sims).sum()))
        positions, values = _top(sims, k)
        expected_positions, expected_values = _top_torch(torch.from_numpy(sims.copy()), k)
        assert positions.dtype == np.int64 and values.dtype == np.float32
        assert positions.tobytes() == expected_positions.tobytes()
        assert values.tobytes() == expected_values.tobytes()


def _bincount_scores(index: LexicalIndex, terms: list[str]) -> dict[int, np.float32]:
    """BM25 per live slot as np.bincount sums the terms' weights (the reference)."""
    n = index.n_documents
    mean_length = max(index._total_length / n, 1e-9)
    found, weights = [], []
    for term in dict.fromkeys(terms):
        df = index.document_frequency(term)
        if df:
            slots, weight = index._term_weights(term, df, n, mean_length)
            found.append(slots)
            weights.append(weight)
    dense = np.bincount(np.concatenate(found), weights=np.concatenate(weights))
    hits = np.flatnonzero(dense)
    return {int(s): v for s, v in zip(hits, dense[hits].astype(np.float32), strict=True) if index._alive[s]}


def test_bm25_accumulator_sums_as_bincount_does() -> None:
    rng = np.random.default_rng(3)
    vocabulary = [f"word{i}" for i in range(12)]
    index = LexicalIndex(None)
    texts = [" ".join(rng.choice(vocabulary, size=int(rng.integers(1, 20)))) for _ in range(2_000)]
    index.add(list(range(len(texts))), texts)
    index.remove(range(0, 2_000, 7))
    index.add(list(range(1, 2_000, 11)), ["word1 word2 " + texts[s] for s in range(1, 2_000, 11)])
    for _ in range(50):
        terms = list(rng.choice(vocabulary, size=int(rng.integers(2, 6))))
        hits, scores = index.search_scored(terms, 10_000)
        assert not index._accumulator.any()  # left zeroed for the next search
        expected = _bincount_scores(index, terms)
        assert sorted(hits.tolist()) == sorted(expected)
        assert all(score == expected[slot] for slot, score in zip(hits.tolist(), scores, strict=True))


def test_one_row_validation_equals_the_general_norms() -> None:
    rng = np.random.default_rng(5)
    for scale in (1.0, 1.0001, 3.0, 1e-3):
        for _ in range(200):
            row = (rng.standard_normal((1, 64)) * scale).astype(np.float32)
            norms = np.linalg.norm(row, axis=1, keepdims=True)
            assert validate_vectors(row, 1, 64).tobytes() == np.ascontiguousarray(row / norms).tobytes()
    unit = HashingEncoder(64).encode(["a unit row already"])
    assert validate_vectors(unit, 1, 64).tobytes() == (unit / np.linalg.norm(unit, axis=1, keepdims=True)).tobytes()


def test_hashing_encoder_rows_are_token_sums_normalised() -> None:
    encoder = HashingEncoder(32)
    text = "the cat sat on the mat"
    words = text.split()
    expected = np.zeros(32, dtype=np.float32)
    for token in words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]:
        expected += encoder._direction(token)
    expected /= float(np.linalg.norm(expected))
    assert encoder.encode([text])[0].tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    "query, named",
    [
        ("What did Gina find?", False),
        ("room 101 and 12 cats", False),
        ("What happened on 1 February, 2023?", True),
        ("in May 2022", True),
        ("on 2023-05-07", True),
        ("back in 1999", True),
    ],
)
def test_a_query_without_a_four_digit_year_names_no_date(query: str, named: bool) -> None:
    assert (query_time_window(query) is not None) is named


def test_batched_lifecycle_fields_equal_one_by_one() -> None:
    with HippoMemory(None, encoder=HashingEncoder(32), config=HippoConfig(cue_variants=False)) as memory:
        ids = memory.remember_many([f"note {i} about topic {i % 3}" for i in range(12)], namespace=("n",))
        memory.recall("note about topic 1", namespace=("n",), k=4)
        part = memory._partition(("n",))
        assert part is not None
        slots = [part.slot(i) for i in ids]
        now = part.clock()
        batched = part.life.fields_of(slots, part.slot_id, now)
        for slot, fields in zip(slots, batched, strict=True):
            life = part.life
            single = float(memory_strength(now, life.reinforced_at[slot], life.stability[slot]))
            assert fields["strength"] == single
            assert fields["access_count"] == int(life.access[slot])
            assert fields["novelty"] is None or not math.isnan(fields["novelty"])
        found = part.store.memories_with_cues(slots)
        together = part.to_memories([found[s] for s in slots])
        assert [m.id for m in together] == ids
        assert [m.access_count for m in together] == [part.to_memory(*found[s]).access_count for s in slots]


def test_rows_of_single_row_memories_equals_the_general_formula() -> None:
    with HippoMemory(None, encoder=HashingEncoder(32), config=HippoConfig(cue_variants=False)) as memory:
        memory.remember_many([f"fact number {i}" for i in range(20)], namespace=("r",))
        part = memory._partition(("r",))
        assert part is not None
        slots = np.asarray([3, 0, 7, 19], dtype=np.int64)
        starts, counts = part.slot_rows[slots, 0], part.slot_rows[slots, 1]
        general = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        assert part.rows_of(slots).tolist() == general.tolist()


@pytest.mark.parametrize("counts", [[3, 3, 3, 3], [1, 1, 1, 1], [2, 0, 3, 1], [0, 0, 0, 0], [1, 2, 1, 1]])
def test_rows_of_shortcuts_equal_the_ragged_offsets(counts: list[int]) -> None:
    starts = np.cumsum([0, *counts[:-1]]) + 5
    state = SimpleNamespace(slot_rows=np.stack([starts, counts], axis=1).astype(np.int64))
    slots = np.asarray([2, 0, 3, 1], dtype=np.int64)
    rows = Partition.rows_of(state, slots)  # type: ignore[arg-type]
    first, count = state.slot_rows[slots, 0], state.slot_rows[slots, 1]
    general = np.repeat(first - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
    assert rows.dtype == np.int64 and rows.tolist() == general.tolist()


def test_bm25_top_hits_skipping_a_common_term_equal_the_full_ranking() -> None:
    rng = np.random.default_rng(9)
    vocabulary = ["common"] + [f"rare{i}" for i in range(300)]
    index = LexicalIndex(None)
    texts = [
        "common " * int(rng.integers(1, 3)) + " ".join(rng.choice(vocabulary[1:], size=int(rng.integers(1, 6))))
        for _ in range(3_000)
    ]
    index.add(list(range(len(texts))), texts)
    index.remove(range(0, 3_000, 13))
    skipped = 0
    original = index._rare_first

    def counting(*args: object) -> object:
        nonlocal skipped
        answer = original(*args)  # type: ignore[arg-type]
        skipped += answer is not None
        return answer

    index._rare_first = counting  # type: ignore[method-assign]
    for _ in range(100):
        terms = [*rng.choice(vocabulary[1:], size=int(rng.integers(1, 4))), "common"]
        limit = int(rng.choice([1, 5, 20]))
        hits, scores = index.search_scored(terms, limit)
        expected = _bincount_scores(index, terms)
        best = sorted(expected, key=lambda slot: (-expected[slot], slot))[:limit]
        assert hits.tolist() == best
        assert scores.tolist() == [expected[slot] for slot in best]
        assert not index._accumulator.any()
    assert skipped > 50  # the shortcut answered most of them
