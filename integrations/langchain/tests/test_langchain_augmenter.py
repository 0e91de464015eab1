"""ChatModelCueAugmenter: prompting, parsing, fallbacks, use by the engine."""

from __future__ import annotations

from typing import Any

import pytest
from hippo_memory import CueAugmenter, HashingEncoder, HippoMemory
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

from langchain_hippo_memory import ChatModelCueAugmenter, parse_paraphrases


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            '["Who is Biscuit?", "Caroline\'s dog", "the retriever"]',
            ["Who is Biscuit?", "Caroline's dog", "the retriever"],
        ),
        (
            'Sure! Here you go:\n```json\n["a dog called Biscuit", "Caroline\'s pet"]\n```',
            ["a dog called Biscuit", "Caroline's pet"],
        ),
        ('{"paraphrases": ["one", "two"]}', ["one", "two"]),
        (
            "Here are three paraphrases:\n1. First one\n2) Second one\n- Third one",
            ["First one", "Second one", "Third one"],
        ),
        ('"quoted line",\n"another"', ["quoted line", "another"]),
        ('["dup", "DUP", "", 7, "the original"]', ["dup"]),
        ("", []),
    ],
)
def test_parse_paraphrases(reply: str, expected: list[str]) -> None:
    assert parse_paraphrases(reply, n=3, original="The original") == expected


def test_parse_caps_at_n() -> None:
    assert parse_paraphrases('["a", "b", "c", "d"]', n=2) == ["a", "b"]


def test_augment_asks_the_model_once_per_text() -> None:
    llm = FakeListChatModel(responses=['["p1", "p2", "p3", "p4"]', "- q1\n- q2"])
    augmenter = ChatModelCueAugmenter(llm, n=3, max_concurrency=1)
    assert isinstance(augmenter, CueAugmenter)
    assert augmenter.augment(["first text", "second text"]) == [["p1", "p2", "p3"], ["q1", "q2"]]
    assert augmenter.augment([]) == []


class FlakyModel(FakeListChatModel):
    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if "explode" in str(messages[-1].content):
            raise RuntimeError("provider down")
        return super()._generate(messages, *args, **kwargs)


def test_failures_fall_back_to_no_paraphrases_with_a_warning() -> None:
    augmenter = ChatModelCueAugmenter(FlakyModel(responses=['["fine"]']), n=2, max_concurrency=1)
    with pytest.warns(RuntimeWarning, match="provider down"):
        assert augmenter.augment(["explode now", "ok text"]) == [[], ["fine"]]
    unparseable = ChatModelCueAugmenter(FakeListChatModel(responses=["   "]), n=2)
    with pytest.warns(RuntimeWarning, match="no usable paraphrases"):
        assert unparseable.augment(["text"]) == [[]]


def test_engine_stores_paraphrases_as_cues() -> None:
    llm = FakeListChatModel(responses=['["Caroline owns a pet called Biscuit"]'])
    memory = HippoMemory(encoder=HashingEncoder(dim=256), augmenter=ChatModelCueAugmenter(llm, n=1))
    try:
        memory_id = memory.remember("Caroline adopted a golden retriever named Biscuit.")
        cues = memory.get(memory_id).cues
        assert ("Caroline owns a pet called Biscuit", "paraphrase") in [
            (c.text, c.kind) for c in cues
        ]
    finally:
        memory.close()


def test_arguments_are_validated() -> None:
    llm = FakeListChatModel(responses=["x"])
    with pytest.raises(ValueError):
        ChatModelCueAugmenter(llm, n=0)
    with pytest.raises(ValueError):
        ChatModelCueAugmenter(llm, prompt="no placeholder")


def test_prompt_with_a_json_example_and_braces_in_the_text() -> None:
    class RecordingModel(FakeListChatModel):
        prompts: list[str] = Field(default_factory=list)

        def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
            self.prompts.append(str(messages[-1].content))
            return super()._generate(messages, *args, **kwargs)

    llm = RecordingModel(responses=['["a paraphrase"]'])
    prompt = 'Give {n} paraphrases as {"paraphrases": ["..."]}.\nText: {text}'
    augmenter = ChatModelCueAugmenter(llm, n=2, prompt=prompt)
    assert augmenter.augment(["set x = {n} in {text}"]) == [["a paraphrase"]]
    assert llm.prompts == [
        'Give 2 paraphrases as {"paraphrases": ["..."]}.\nText: set x = {n} in {text}'
    ]


def test_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    augmenter = ChatModelCueAugmenter(FlakyModel(responses=['["fine"]']), n=2, max_concurrency=1)
    with caplog.at_level("WARNING", logger="langchain_hippo_memory"), pytest.warns(RuntimeWarning):
        assert augmenter.augment(["explode now"]) == [[]]
    assert any("provider down" in record.getMessage() for record in caplog.records)
