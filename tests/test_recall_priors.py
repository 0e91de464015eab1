"""Recall-time mechanisms after fusion: spreading activation, speaker and temporal priors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, InvalidInputError
from hippo_memory import functional as F
from hippo_memory._cues import asks_question
from hippo_memory._temporal import query_time_window

CONVERSATION = [
    "Tim: Congrats on the new team! Which team did you sign with?",
    "John: The Minnesota Wolves! Can't wait to play with them.",
    "Tim: I am reading a fantasy novel at the moment.",
    "John: Nice, I prefer biographies of coaches.",
]
BACKGROUND = [f"John: practice note {i} about drills, stretching and sleep." for i in range(30)]


def _config(**update: object) -> HippoConfig:
    # These tests pin the hand-set priors, which rank under ranker="fusion"; the learned
    # ranker reads the same matches as features (tests/test_ranker.py).
    return HippoConfig(code_dim=2048, code_k=32, durable=False, ranker="fusion").model_copy(update=update)


def _day(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_spread_activation_lifts_targets_but_never_above_their_source() -> None:
    scores = np.array([1.0, 0.2, 0.5, 0.0], dtype=np.float32)
    out = F.spread_activation(
        scores, np.array([0, 2, 0]), np.array([1, 3, 3]), np.array([2.0, 1.0, 0.1], dtype=np.float32), 0.3
    )
    assert out[0] == 1.0 and out[2] == 0.5  # untouched
    assert out[1] == pytest.approx(0.8)  # 0.2 + 0.3 * 2.0 * 1.0
    assert out[3] == pytest.approx(0.3 * (0.5 + 0.1))
    capped = F.spread_activation(np.array([1.0, 0.9], np.float32), np.array([0]), np.array([1]), np.ones(1), 1.0)
    assert 0.9 < capped[1] < capped[0] == 1.0  # lifted to just below the memory that lifted it
    unchanged = F.spread_activation(scores, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 0.3)
    np.testing.assert_array_equal(unchanged, scores)


def test_asks_question_ignores_trailing_attachments() -> None:
    assert asks_question("Which team did you sign with? [image: a jersey]")
    assert asks_question("How was it? Tell me everything.")
    assert not asks_question("I signed with the Wolves.")
    assert not asks_question("Why? " + "Because " * 40)


@pytest.mark.parametrize(
    ("text", "start", "days"),
    [
        ("What did Gina find on 1 February, 2023?", "2023-02-01", 1),
        ("What happened on March 3rd, 2021?", "2021-03-03", 1),
        ("notes from 2023-05-07", "2023-05-07", 1),
        ("the cake she made in May 2022", "2022-05-01", 31),
        ("the charity event in 2024", "2024-01-01", 366),
    ],
)
def test_query_time_window_reads_absolute_dates(text: str, start: str, days: int) -> None:
    window = query_time_window(text)
    assert window is not None
    assert window[0] == _day(start) and (window[1] - window[0]) / 86_400 == days


@pytest.mark.parametrize("text", ["may I ask something", "the 2024 plan", "31 February, 2023", "last week"])
def test_query_time_window_ignores_what_is_not_an_absolute_date(text: str) -> None:
    assert query_time_window(text) is None


def test_a_question_links_harder_to_its_answer() -> None:
    with HippoMemory(None, encoder=HashingEncoder(128), config=_config()) as memory:
        ids = memory.remember_many(CONVERSATION, session="s1")
        strengths = dict(memory.associations(ids[0]))
        assert strengths[ids[1]] == memory.config.answer_strength  # "...sign with?" -> answer
        assert dict(memory.associations(ids[2]))[ids[3]] == memory.config.forward_strength


@pytest.mark.parametrize("spread", [0.0, 0.3])
def test_spreading_brings_the_answer_up_beside_its_question(spread: float) -> None:
    # Neither the lexical window nor the context cue may carry the question's words into the answer.
    config = _config(spread=spread, lexical_window=0, context_cues=False)
    with HippoMemory(None, encoder=HashingEncoder(128), config=config) as memory:
        ids = memory.remember_many([*BACKGROUND, *CONVERSATION], session="s1")
        question, answer = ids[len(BACKGROUND)], ids[len(BACKGROUND) + 1]
        found = [hit.memory.id for hit in memory.recall("Which team did John sign with?", k=3)]
        assert found[0] == question
        if spread:
            assert found[1] == answer  # lifted by its question, still below it
        else:
            assert answer not in found  # shares no word with the query


def test_spreading_stays_inside_the_namespace() -> None:
    with HippoMemory(None, encoder=HashingEncoder(128), config=_config()) as memory:
        first = memory.remember("Which team did you sign with?", namespace=("a",))
        other = memory.remember("The Minnesota Wolves!", namespace=("b",))
        with pytest.raises(InvalidInputError):  # an association never joins two namespaces
            memory.associate(first, other, strength=5.0)
        found = {hit.memory.id for hit in memory.recall("Which team did you sign with?", namespace=("a",), k=5)}
        assert found == {first}


def _speaker_memory(path: Path | None, weight: float) -> HippoMemory:
    memory = HippoMemory(path, encoder=HashingEncoder(128), config=_config(speaker_weight=weight))
    return memory


@pytest.mark.parametrize("weight", [0.0, 0.3])
def test_a_query_naming_a_speaker_lifts_their_memories(weight: float) -> None:
    with _speaker_memory(None, weight) as memory:
        caroline = memory.remember("I love painting sunsets by the lake.", metadata={"speaker": "Caroline"})
        melanie = memory.remember("Painting sunsets by the lake is what I love.", metadata={"speaker": "Melanie"})
        hits = memory.recall("What does Melanie love painting?", k=2)
        assert hits[0].memory.id == (melanie if weight else caroline)
        # A metadata update moves the memory to another speaker at once.
        memory.update(melanie, metadata={"speaker": "Caroline"})
        memory.update(caroline, metadata={"speaker": "Melanie"})
        if weight:
            assert memory.recall("What does Melanie love painting?", k=1)[0].memory.id == caroline


def test_speaker_prior_survives_reopening_and_forgets_deleted_memories(store_path: Path) -> None:
    with _speaker_memory(store_path, 0.3) as memory:
        kept = memory.remember("Painting sunsets by the lake is what I love.", metadata={"speaker": "Mel Jones"})
        memory.remember("I love painting sunsets by the lake.", metadata={"speaker": "Caroline"})
        gone = memory.remember("Sunsets: painting them is my love.", metadata={"speaker": "Mel Jones"})
        memory.forget(gone)
    with _speaker_memory(store_path, 0.3) as memory:
        hits = memory.recall("What does mel  jones love painting?", k=3)
        assert hits[0].memory.id == kept and gone not in {hit.memory.id for hit in hits}


def test_non_string_speakers_are_ignored() -> None:
    with _speaker_memory(None, 0.3) as memory:
        memory.remember("I love painting.", metadata={"speaker": 7})
        memory.remember("I love painting too.", metadata={"speaker": ["Ann"]})
        assert len(memory.recall("Does Ann love painting?", k=2)) == 2


@pytest.mark.parametrize("weight", [0.0, 0.3])
def test_a_query_naming_a_date_lifts_memories_of_that_day(weight: float) -> None:
    config = _config(temporal_weight=weight, speaker_weight=0.0)
    with HippoMemory(None, encoder=HashingEncoder(128), config=config) as memory:
        early = memory.remember("I found a wholesaler for the store.", timestamp="2023-01-10T12:00:00")
        dated = memory.remember("A wholesaler replied yes for my store!", timestamp="2023-02-01T09:30:00")
        top = memory.recall("What did Gina find for her store on 1 February, 2023?", k=1)[0].memory.id
        assert top == (dated if weight else early)


def test_a_superseded_memory_does_not_lift_its_neighbours() -> None:
    ranks = {}
    for spread in (0.0, 0.3):
        with HippoMemory(None, encoder=HashingEncoder(128), config=_config(spread=spread)) as memory:
            memory.remember_many(BACKGROUND)  # no session: no links
            question, answer = memory.remember_many(CONVERSATION[:2], session="s1")
            memory.supersede(question, memory.remember("Update: John now plays for a different club."))
            hits = memory.recall("Which team did John sign with?", k=40, include_superseded=True)
            found = [h.memory.id for h in hits]
            assert question in found
            ranks[spread] = found.index(answer)
    assert ranks[0.3] == ranks[0.0]  # the outdated question passes no activation to its answer


def _lexical_ranking(memory: HippoMemory, query: str) -> list[str]:
    from hippo_memory._recall import _lexical_slots

    part = memory._partition(("default",))
    assert part is not None
    return [part.slot_id[slot] or "" for slot in _lexical_slots(part, query, None)[0].tolist()]


def test_the_lexical_window_finds_an_answer_by_its_question_words() -> None:
    config = _config(spread=0.0, speaker_weight=0.0)
    with HippoMemory(None, encoder=HashingEncoder(128), config=config) as memory:
        ids = memory.remember_many([*BACKGROUND, *CONVERSATION], session="s1")
        question, answer = ids[len(BACKGROUND)], ids[len(BACKGROUND) + 1]
        ranked = _lexical_ranking(memory, "Which team did John sign with?")
        # The question says the words itself (its own text counts twice); the answer and the
        # last background note border it.
        assert ranked[0] == question and set(ranked[1:3]) == {answer, ids[len(BACKGROUND) - 1]}
    with HippoMemory(
        None, encoder=HashingEncoder(128), config=config.model_copy(update={"lexical_window": 0})
    ) as memory:
        ids = memory.remember_many([*BACKGROUND, *CONVERSATION], session="s1")
        assert ids[len(BACKGROUND) + 1] not in _lexical_ranking(memory, "Which team did John sign with?")


def test_the_lexical_window_follows_writes_updates_forgets_and_reopening(store_path: Path) -> None:
    config = _config()
    with HippoMemory(store_path, encoder=HashingEncoder(128), config=config) as memory:
        memory.remember_many(BACKGROUND[:6])  # no session: each memory's own text only
        first, second, third = memory.remember_many(CONVERSATION[:3], session="s1")
        fourth = memory.remember(CONVERSATION[3], session="s1")  # a later write extends its predecessor's window
        other = memory.remember("Unrelated: the Minnesota Wolves sold out.", session="s2")
        assert set(_lexical_ranking(memory, "biographies coaches")) == {third, fourth}
        assert set(_lexical_ranking(memory, "Minnesota Wolves")) == {first, second, third, other}
        memory.update(second, text="John: The Denver Bears!")
        assert set(_lexical_ranking(memory, "Minnesota Wolves")) == {other}
        assert set(_lexical_ranking(memory, "Denver Bears")) == {first, second, third}
        memory.forget(third)  # second and fourth are neighbours now
        assert set(_lexical_ranking(memory, "biographies coaches")) == {fourth, second}
        assert set(_lexical_ranking(memory, "fantasy novel")) == set()
        before = {q: _lexical_ranking(memory, q) for q in ("Denver Bears", "biographies coaches", "sign team")}
    with HippoMemory(store_path, encoder=HashingEncoder(128), config=config) as memory:
        assert {q: _lexical_ranking(memory, q) for q in before} == before


def test_a_long_neighbour_lends_only_its_nearest_part() -> None:
    filler = "a few filler words about nothing much, " * 4
    with HippoMemory(None, encoder=HashingEncoder(128), config=_config(lexical_window_chars=40)) as memory:
        memory.remember_many(BACKGROUND[:6])
        first, second, third = memory.remember_many(
            [f"Sunday recap: {filler}then we planned the Zanzibar trip.", "Sounds fun!", f"Quokka facts: {filler}end."],
            session="s1",
        )
        assert set(_lexical_ranking(memory, "Zanzibar")) == {first, second}  # the end of the earlier one
        assert set(_lexical_ranking(memory, "quokka")) == {second, third}  # the start of the later one
        assert set(_lexical_ranking(memory, "recap")) == {first}
