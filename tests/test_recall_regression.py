"""Recall's rankings and scores, pinned against the engine before its recall path was made faster.

``recall_regression.json`` holds what the engine at commit ``3b63f02`` returned for
:func:`observe` over :func:`build` (a fixed store: sessions, speakers, dates, links,
a superseded and a forgotten memory; both rankers; the feature matrix of training).
Speed-ups of the recall path must leave them unchanged: rankings exactly (up to
ties), scores and features to 1e-6. Regenerate only for an intended change of
results, with the engine that makes it::

    PYTHONPATH=<checkout of that engine> python tests/test_recall_regression.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, MemoryInput

GOLDEN = Path(__file__).with_name("recall_regression.json")
TOLERANCE = 1e-6
BASE = 1_680_000_000.0  # 2023-03-28

PEOPLE = ("Alice", "Bob", "Carol", "Dan")
TOPICS = (
    "adopted a grey cat named Miso from the shelter",
    "plays the cello in a string quartet on Sundays",
    "moved to Lisbon and works at a bakery",
    "hikes the river trail every weekend",
    "is learning Portuguese with an app",
    "painted the kitchen a pale green",
    "ran the city half marathon in two hours",
    "bought a second-hand bicycle for commuting",
)
QUERIES = (
    "Which cat did Bob adopt from the shelter?",
    "Who plays the cello?",
    "What did Carol do on 3 March 2023?",
    "When did Alice run the half marathon?",
    "Tell me about Lisbon and the bakery",
    "bicycle commuting",
    "quantum chromodynamics lattice gauge",
    "What happened in May 2023?",
)


def build(ranker: str) -> HippoMemory:
    """A fixed store of 40 memories in two namespaces (ids are the memories' own names)."""
    config = HippoConfig(code_dim=2048, code_k=32, durable=False, ranker=ranker)
    memory = HippoMemory(None, encoder=HashingEncoder(128), config=config)
    items: list[MemoryInput] = []
    for i in range(32):
        person, topic = PEOPLE[i % 4], TOPICS[(i * 3) % len(TOPICS)]
        text = f"{person} {topic}."
        if i % 5 == 0:
            text += f" That was on {1 + i % 27} March 2023."
        if i % 7 == 3:
            text = f"When did {person} start? {text}"
        items.append(
            {
                "text": text,
                "id": f"m{i:02d}",
                "session": f"s{i // 6}",
                "metadata": {"speaker": person, "n": i},
                "timestamp": BASE + 3600.0 * i * 7,
            }
        )
    memory.remember_many(items[:24], namespace=("team", "a"))
    memory.remember_many(items[24:], namespace=("team", "b"))
    memory.remember_many(
        [
            {"text": "Erin keeps the office wifi password on the fridge.", "id": "e0"},
            {"text": "Erin's bakery in Lisbon opens at seven.", "id": "e1"},
        ],
        namespace=("other",),
    )
    memory.remember(
        "Bob adopted a black cat named Miso, not a grey one.",
        id="fix",
        namespace=("team", "a"),
        supersedes="m00",
        metadata={"speaker": "Bob"},
    )
    memory.remember("A memory about to be forgotten: cello lessons.", id="gone", namespace=("team", "a"))
    memory.forget("gone")
    memory.associate("m01", "m09", strength=1.5)
    memory.associate("m04", "m17")
    return memory


def _hit(hit: Any) -> list[Any]:
    d = hit.diagnostics
    return [
        hit.memory.id,
        hit.rank,
        hit.score,
        d.fused,
        d.similarity,
        d.attention,
        d.cues_matched,
        d.candidate_rank,
        d.lexical_rank,
        d.best_cue.text,
        d.best_cue.kind,
        hit.memory.access_count,
    ]


def observe(ranker: str) -> dict[str, Any]:
    """Every recall of the fixture, and the training feature matrices, as JSON-ready lists."""
    from hippo_memory._recall import candidate_table

    memory = build(ranker)
    out: dict[str, Any] = {"recalls": [], "tables": []}
    encoder = HashingEncoder(128)
    with memory:
        calls: list[tuple[str, dict[str, Any]]] = []
        for query in QUERIES:
            calls.append((query, {"k": 5}))
        calls += [
            (QUERIES[0], {"k": 10, "namespace": ("team", "a")}),
            (QUERIES[0], {"k": 10, "include_superseded": True}),
            (QUERIES[1], {"k": 3, "min_similarity": 0.2}),
            (QUERIES[2], {"k": 4, "filter": {"speaker": "Carol"}}),
            (QUERIES[4], {"k": 40}),
            (QUERIES[3], {"k": 6, "since": BASE + 86_400.0, "until": BASE + 86_400.0 * 8}),
        ]
        for query, options in calls:
            result = memory.recall(query, **options)
            out["recalls"].append(
                {"query": query, "options": repr(sorted(options.items())), "hits": [_hit(h) for h in result]}
            )
        vector_only = memory.recall_vector(encoder.encode([QUERIES[5]])[0], k=5)
        out["recalls"].append({"query": "", "options": "vector only", "hits": [_hit(h) for h in vector_only]})
        part = memory._partition(("team", "a"))
        assert part is not None
        for query in QUERIES[:4]:
            with memory._locked(part):
                table = candidate_table(
                    part,
                    encoder.encode([query])[0],
                    query=query,
                    k=5,
                    slots=None,
                    include_superseded=False,
                    min_similarity=None,
                    want_features=True,
                )
            assert table.features is not None
            out["tables"].append(
                {
                    "query": query,
                    "ids": [part.slot_id[int(s)] for s in table.uniq],
                    "ranked": table.ranked.tolist(),
                    "scores": table.scores.tolist(),
                    "fused": table.fused.tolist(),
                    "features": table.features.tolist(),
                }
            )
    return out


def _groups(hits: list[list[Any]]) -> list[tuple[float, set[str]]]:
    """Hits as runs of equal score (within the tolerance): ``(score, ids)`` best first."""
    groups: list[tuple[float, set[str]]] = []
    for hit in hits:
        if groups and abs(groups[-1][0] - hit[2]) <= TOLERANCE:
            groups[-1][1].add(hit[0])
        else:
            groups.append((hit[2], {hit[0]}))
    return groups


def _same_hits(got: list[list[Any]], want: list[list[Any]]) -> None:
    assert len(got) == len(want)
    got_groups, want_groups = _groups(got), _groups(want)
    assert len(got_groups) == len(want_groups)
    for i, ((g_score, g_ids), (w_score, w_ids)) in enumerate(zip(got_groups, want_groups, strict=True)):
        assert g_score == pytest.approx(w_score, abs=TOLERANCE)
        if i < len(want_groups) - 1:  # the last run may be cut at k among tied memories
            assert g_ids == w_ids
    by_id = {hit[0]: hit for hit in want}
    for hit in got:
        if hit[0] not in by_id:
            continue
        expected = by_id[hit[0]]
        assert hit[2:6] == pytest.approx(expected[2:6], abs=TOLERANCE)
        assert hit[6:] == expected[6:]


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("ranker", ["learned", "fusion"])
def test_recall_matches_the_recorded_engine(ranker: str, golden: dict[str, Any]) -> None:
    got, want = observe(ranker), golden[ranker]
    assert len(got["recalls"]) == len(want["recalls"])
    assert sum(len(r["hits"]) for r in want["recalls"]) > 50  # the fixture is not trivially empty
    for g, w in zip(got["recalls"], want["recalls"], strict=True):
        assert (g["query"], g["options"]) == (w["query"], w["options"])
        _same_hits(g["hits"], w["hits"])


@pytest.mark.parametrize("ranker", ["learned", "fusion"])
def test_candidate_tables_match_the_recorded_engine(ranker: str, golden: dict[str, Any]) -> None:
    got, want = observe(ranker), golden[ranker]
    for g, w in zip(got["tables"], want["tables"], strict=True):
        assert g["ids"] == w["ids"]
        assert g["ranked"] == w["ranked"]
        np.testing.assert_allclose(g["scores"], w["scores"], atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(g["fused"], w["fused"], atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(np.asarray(g["features"]), np.asarray(w["features"]), atol=TOLERANCE, rtol=0)
        assert np.asarray(w["features"]).any(axis=0).sum() >= 10  # most columns are exercised


def test_inner_products_equal_a_float64_product() -> None:
    from hippo_memory._index import inner_products

    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 300):
        vectors = rng.standard_normal((n, 48)).astype(np.float32)
        query = rng.standard_normal(48).astype(np.float32)
        got = inner_products(vectors, query)
        assert got.dtype == np.float32 and got.shape == (n,)
        np.testing.assert_allclose(got, vectors.astype(np.float64) @ query.astype(np.float64), atol=1e-5)
    strided = rng.standard_normal((10, 96)).astype(np.float32)[:, ::2]  # not contiguous
    q = rng.standard_normal(48).astype(np.float32)
    np.testing.assert_allclose(inner_products(strided, q), strided.astype(np.float64) @ q, atol=1e-5)
    with pytest.raises(ValueError):
        inner_products(strided, rng.standard_normal(47).astype(np.float32))


def test_the_two_ranking_fusion_equals_the_general_one_bit_for_bit() -> None:
    from hippo_memory._ranker import fuse_settle_lexical
    from hippo_memory.functional import reciprocal_rank_fusion

    rng = np.random.default_rng(2)
    for u in (0, 1, 5, 80):
        settle_rank = rng.permutation(u).astype(np.int64)
        lexical_rank = np.full(u, -1, dtype=np.int64)
        ranked = rng.random(u) < 0.4
        lexical_rank[ranked] = rng.permutation(int(ranked.sum()))
        for weight, k in ((2.0, 60.0), (0.5, 1.0), (0.0, 10.0), (3.7, 0.0)):
            got = fuse_settle_lexical(settle_rank, lexical_rank, weight, k)
            want = reciprocal_rank_fusion(np.stack([settle_rank, lexical_rank]), np.asarray([1.0, weight]), k)
            assert got.dtype == np.float32 and got.tobytes() == want.tobytes()


def test_the_rows_of_the_hits_are_the_same_by_scan_or_by_sort() -> None:
    from hippo_memory._recall import _rows_of_memories

    rng = np.random.default_rng(3)
    for rows in (1, 7, 300, 3000):
        inverse = rng.integers(0, max(rows // 3, 1), rows).astype(np.int64)
        for k in (1, 2, 4, 5, 10, 60):
            memories = rng.choice(max(rows // 3, 1), min(k, max(rows // 3, 1)), replace=False).astype(np.int64)
            order = np.argsort(inverse, kind="stable")  # the sort, by hand
            expected = [order[inverse[order] == m] for m in memories.tolist()]
            found = _rows_of_memories(inverse, memories)
            assert len(found) == len(expected)
            assert all(a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in zip(found, expected, strict=True))


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.write_text(json.dumps({r: observe(r) for r in ("learned", "fusion")}, indent=None) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
