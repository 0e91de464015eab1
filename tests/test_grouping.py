"""Group ranking: aggregating memories' recall scores into sessions (or any metadata key)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, InvalidInputError
from hippo_memory._grouping import GROUP_METHODS, aggregate_groups

# Ranked memories, best first: group 0 has the single best memory, group 1 three good ones.
GROUPS = np.asarray([0, 1, 1, 1, 2], dtype=np.int64)
SCORES = np.asarray([1.0, 0.9, 0.85, 0.8, 0.1], dtype=np.float32)


def test_max_ranks_a_group_by_its_best_memory() -> None:
    out = aggregate_groups(GROUPS, SCORES, 4, method="max")
    assert out.dtype == np.float32 and out.shape == (4,)
    np.testing.assert_allclose(out, [1.0, 0.9, 0.1, 0.0])


@pytest.mark.parametrize("method", ["top_mean", "soft_or", "rank_sum"])
def test_evidence_from_several_memories_outranks_one_best_memory(method: str) -> None:
    out = aggregate_groups(GROUPS, SCORES, 4, method=method)  # type: ignore[arg-type]
    assert out[1] > out[0] > out[2] > out[3] == 0.0


def test_aggregations_by_hand() -> None:
    np.testing.assert_allclose(aggregate_groups(GROUPS, SCORES, 3, method="top_mean", top_m=2), [0.5, 0.875, 0.05])
    soft = aggregate_groups(GROUPS, SCORES, 3, method="soft_or", calibration=0.5)
    p = 0.5 * SCORES.astype(np.float64)
    np.testing.assert_allclose(soft, [p[0], 1 - (1 - p[1]) * (1 - p[2]) * (1 - p[3]), p[4]], rtol=1e-6)
    ranks = aggregate_groups(GROUPS, SCORES, 3, method="rank_sum", rrf_k=0)
    np.testing.assert_allclose(ranks, [1.0, 1 / 2 + 1 / 3 + 1 / 4, 1 / 5], rtol=1e-6)


def test_bad_aggregation_input_is_a_typed_error() -> None:
    with pytest.raises(InvalidInputError):
        aggregate_groups(GROUPS, SCORES, 3, method="median")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        aggregate_groups(GROUPS, SCORES[:2], 3)
    with pytest.raises(InvalidInputError):
        aggregate_groups(GROUPS, SCORES, 2)  # group 2 out of range
    assert aggregate_groups(np.zeros(0, np.int64), np.zeros(0, np.float32), 2).tolist() == [0.0, 0.0]


SESSIONS = {
    "trip": ["We booked the flight to Lisbon.", "The Lisbon hotel is near the river.", "Lisbon trams are fun."],
    "work": ["The quarterly report is due Friday.", "Budget review with finance."],
    "pets": ["My dog loves the park.", "The cat sleeps all day."],
}


def _memory() -> HippoMemory:
    memory = HippoMemory(None, encoder=HashingEncoder(128), config=HippoConfig(code_dim=2048, code_k=32, durable=False))
    for name, turns in SESSIONS.items():
        memory.remember_many(turns, session=name, metadata={"session_id": name})
    memory.remember("An undated note with no session id about Lisbon.")
    return memory


@pytest.mark.parametrize("method", GROUP_METHODS)
def test_recall_groups_ranks_sessions_with_their_supporting_hits(method: str) -> None:
    with _memory() as memory:
        groups = memory.recall_groups("Lisbon trip hotel", group_by="session_id", k=2, method=method)  # type: ignore[arg-type]
        assert [g.rank for g in groups] == [0, 1]
        assert groups[0].key == "trip"
        assert groups[0].score >= groups[1].score
        assert all(hit.memory.metadata["session_id"] == "trip" for hit in groups[0].hits)
        scores = [hit.score for hit in groups[0].hits]
        assert scores == sorted(scores, reverse=True)
        assert len({g.key for g in memory.recall_groups("anything", group_by="session_id", k=10)}) == 3


def test_recall_groups_with_an_unknown_key_is_empty_and_bad_arguments_raise() -> None:
    with _memory() as memory:
        assert memory.recall_groups("Lisbon", group_by="no_such_key") == []
        for bad in ({"group_by": ""}, {"group_by": 3}, {"k": 0}, {"depth": 0}, {"method": "median"}):
            with pytest.raises(InvalidInputError):
                memory.recall_groups("Lisbon", **{"group_by": "session_id", **bad})  # type: ignore[arg-type]


def test_arecall_groups_is_the_same_ranking() -> None:
    with _memory() as memory:
        sync = memory.recall_groups("Lisbon hotel", group_by="session_id", k=3)
        async_ = asyncio.run(memory.arecall_groups("Lisbon hotel", group_by="session_id", k=3))
        assert [g.key for g in async_] == [g.key for g in sync]


@pytest.mark.parametrize("method", ["soft_or", "max"])
def test_the_benchmark_ranks_sessions_through_recall_groups(method: str) -> None:
    from hippo_memory.bench._conv_hippo import HippoSystem
    from hippo_memory.bench._datasets import Haystack, Question, Unit

    parts = [
        Unit(uid=f"{name}#{i}", text=text, session=name, parent=name)
        for name, turns in SESSIONS.items()
        for i, text in enumerate(turns)
    ]
    units = [Unit(uid=name, text="\n".join(turns), session=name) for name, turns in SESSIONS.items()]
    question = Question("q", "Lisbon trip hotel", "x", frozenset({"trip"}))
    encoder = HashingEncoder(128)
    system = HippoSystem(
        encoder,
        HippoConfig(code_dim=2048, code_k=32),
        name="hippo",
        granularity="part",
        group_method=method,  # type: ignore[arg-type]
    )
    try:
        system.ingest(Haystack("h", units, [question], parts))
        ranking = system.rank(question, encoder.encode([question.text])[0], 3)
    finally:
        system.close()
    assert ranking[0] == "trip" and sorted(ranking) == sorted(SESSIONS)
