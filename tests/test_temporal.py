"""Temporal cues: dates a memory states, resolved at write time; dates and *when* in queries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import _postgres_server
import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
from hippo_memory._temporal import (
    TIME_CUES_KEY,
    QueryTime,
    TimeSpan,
    candidate_spans,
    format_time_cues,
    query_time,
    resolve_time_cues,
    temporal_match,
    time_cues_from_json,
)

REFERENCE = datetime(2023, 5, 8, 13, 56, tzinfo=UTC).timestamp()  # a Monday
postgres_server = _postgres_server.postgres_server  # the session's server
postgres_url = _postgres_server.postgres_url  # a fresh database per test


def _iso(spans: list[TimeSpan]) -> list[str]:
    return format_time_cues(spans)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I went to a support group yesterday and it was powerful.", ["2023-05-07/2023-05-08"]),
        ("Last Saturday I painted a sunrise.", ["2023-05-06/2023-05-07"]),
        ("We moved here two weeks ago!", ["2023-04-24/2023-05-01"]),  # the week (Monday on)
        ("I'm going camping next month with the kids.", ["2023-06-01/2023-07-01"]),
        ("I graduated in 2022.", ["2022-01-01/2023-01-01"]),
        ("We met on 3 March 2021, then again yesterday.", ["2021-03-03/2021-03-04", "2023-05-07/2023-05-08"]),
    ],
)
def test_relative_and_absolute_dates_resolve_against_the_reference(text: str, expected: list[str]) -> None:
    assert _iso(resolve_time_cues(text, REFERENCE)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "That sounds great, may I ask what you used?",  # "may" is a verb here
        "Thanks! I have been doing it for 4 years now.",  # a duration, not a date
        "See you in a second, we were late.",  # "we" is not Wednesday
        "",
        "\x00\x01 ### ???",
        "12345 67 8",
    ],
)
def test_no_date_and_garbage_give_no_cue(text: str) -> None:
    assert resolve_time_cues(text, REFERENCE) == []


def test_a_non_finite_reference_gives_no_cue() -> None:
    assert resolve_time_cues("yesterday", float("nan")) == []


def test_time_cues_round_trip_through_metadata_json() -> None:
    spans = resolve_time_cues("yesterday and next month", REFERENCE)
    meta = f'{{"{TIME_CUES_KEY}": {format_time_cues(spans)!r}}}'.replace("'", '"')
    np.testing.assert_array_equal(time_cues_from_json(meta), np.asarray(spans))
    assert time_cues_from_json('{"speaker": "Ann"}').shape == (0, 2)
    assert time_cues_from_json(f'{{"{TIME_CUES_KEY}": ["soon", "2023-05-02/2023-05-01", 3]}}').shape == (0, 2)


def test_query_time_reads_windows_and_when_questions() -> None:
    saturday = query_time("What did I buy last Saturday?", REFERENCE)
    assert _iso([TimeSpan(*w) for w in saturday.windows]) == ["2023-05-06/2023-05-07"]
    assert not saturday.asks_when
    assert query_time("When did Caroline go to the support group?").asks_when
    assert query_time("What year did she move?").asks_when
    assert not query_time("What did Caroline paint?").asks_when
    absolute = query_time("What happened on 1 February, 2023?", REFERENCE)
    assert _iso([TimeSpan(*absolute.windows[0])]) == ["2023-02-01/2023-02-02"]


def test_temporal_match_scores_windows_then_dated_memories_for_when() -> None:
    day = resolve_time_cues("yesterday", REFERENCE)[0]
    times = np.asarray([REFERENCE, day.start + 3600, np.nan, np.nan])
    slot_spans = {30: np.asarray([day]), 40: np.asarray([[0.0, 86_400.0]])}
    uniq = np.asarray([10, 20, 30, 40], dtype=np.int64)
    spans, owners = candidate_spans(slot_spans, uniq)
    assert owners.tolist() == [2, 3]
    window = QueryTime(np.asarray([day], dtype=np.float64), asks_when=False)
    # timestamp inside (1), cue overlapping (2); neither (0, 3)
    assert temporal_match(window, times, spans, owners).tolist() == [0.0, 1.0, 1.0, 0.0]
    when = QueryTime(np.zeros((0, 2)), asks_when=True)
    assert temporal_match(when, times, spans, owners, when_score=0.5).tolist() == [0.0, 0.0, 0.5, 0.5]
    neither = QueryTime(np.zeros((0, 2)), asks_when=False)
    out = temporal_match(neither, times, spans, owners)
    assert out.dtype == np.float32 and not out.any()


def _config() -> HippoConfig:
    return HippoConfig(code_dim=2048, code_k=32)


def test_remember_stores_time_cues_that_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with HippoMemory(path, encoder=HashingEncoder(128), config=_config()) as memory:
        dated = memory.remember("Caroline: I went to a support group yesterday.", timestamp=REFERENCE)
        plain = memory.remember("Caroline: I love painting sunsets.", timestamp=REFERENCE)
        given = memory.remember("Back yesterday.", metadata={TIME_CUES_KEY: ["2020-01-01/2020-01-02"]})
        assert memory.get(dated).time_cues == ("2023-05-07/2023-05-08",)
        assert memory.get(plain).time_cues == ()
        assert memory.get(given).time_cues == ("2020-01-01/2020-01-02",)  # the caller's wins
        assert memory.get(dated).metadata == {} and memory.get(given).metadata == {}  # only what the caller gave
        # new metadata keeps the dates the text states; a new timestamp moves them
        memory.update(dated, metadata={"topic": "support"})
        assert memory.get(dated).metadata == {"topic": "support"}
        assert memory.get(dated).time_cues == ("2023-05-07/2023-05-08",)
    with HippoMemory(path, encoder=HashingEncoder(128), config=_config()) as memory:
        assert memory.get(dated).time_cues == ("2023-05-07/2023-05-08",)
        hits = memory.recall("When did Caroline go to the support group?", k=2)
        assert hits[0].memory.id == dated
        # a new text drops dates it no longer states
        memory.update(dated, text="Caroline: I went to a support group.")
        assert memory.get(dated).time_cues == ()


def test_a_when_question_lifts_the_memory_that_states_a_date() -> None:
    turns = ["Ann: I ran the charity race for the shelter, what a race.", "Ann: I ran a charity race last Saturday."]
    scores = {}
    for weight in (0.0, 0.3):
        # The hand-set prior's arithmetic shows under ranker="fusion" (the learned ranker reads it as a feature).
        config = _config().model_copy(update={"temporal_weight": weight, "durable": False, "ranker": "fusion"})
        with HippoMemory(None, encoder=HashingEncoder(128), config=config) as memory:
            ids = memory.remember_many([{"id": f"t{i}", "text": t} for i, t in enumerate(turns)], timestamp=REFERENCE)
            assert bool(memory.get(ids[1]).time_cues) is (weight > 0)
            hits = memory.recall("When did Ann run the charity race for the shelter?", k=2)
            scores[weight] = {hit.memory.id: hit.score for hit in hits}
    assert scores[0.3][ids[0]] == pytest.approx(scores[0.0][ids[0]])  # states no date: unchanged
    assert scores[0.3][ids[1]] == pytest.approx(scores[0.0][ids[1]] + 0.5 * 0.3)  # half the weight


def test_time_cues_survive_reopening_on_postgres(postgres_url: str) -> None:
    with HippoMemory(postgres_url, encoder=HashingEncoder(64), config=_config()) as memory:
        dated = memory.remember("Caroline: we moved here two weeks ago.", timestamp=REFERENCE)
    with HippoMemory(postgres_url, encoder=HashingEncoder(64), config=_config()) as memory:
        assert memory.get(dated).time_cues == ("2023-04-24/2023-05-01",)
        window = memory.recall("What happened in the week of 2023-04-26?", k=1)
        assert window[0].memory.id == dated
