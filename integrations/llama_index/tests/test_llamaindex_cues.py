"""LLMCueAugmenter: paraphrase cues from any LlamaIndex LLM, robust to bad replies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.memory.hippo import LLMCueAugmenter
from llama_index.memory.hippo.cues import parse_paraphrases
from pydantic import ValidationError

from hippo_memory import CueAugmenter, HashingEncoder, HippoMemory


def text_of(prompt: str) -> str:
    return prompt.rsplit("Text: ", 1)[-1]


class CannedLLM(CustomLLM):
    """Answers every completion with ``respond(prompt)``."""

    respond: Callable[[str], str] = Field(description="Reply for a prompt.")

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="canned")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.respond(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        raise NotImplementedError


def failing(prompt: str) -> str:
    raise RuntimeError("provider unavailable")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('["a dog was adopted", "new pet"]', ["a dog was adopted", "new pet"]),
        (
            '```json\n["a dog was adopted", "new pet", "third"]\n```',
            ["a dog was adopted", "new pet"],
        ),
        ('Sure! Here are paraphrases:\n["one", "two"]', ["one", "two"]),
        (
            "Here are 2 paraphrases:\n1. first one\n2) second one\n3. third one",
            ["first one", "second one"],
        ),
        ('- "quoted one"\n* \u2018curly\u2019\n\u2022 bullet', ["quoted one", "curly"]),
        ("same text\nSAME TEXT\nother", ["other"]),
        ("dup\ndup\n\nnext", ["dup", "next"]),
        ("", []),
        ("[]", []),
        ('[1, 2, {"a": 3}]', []),
        ('[1, "only string"]', ["only string"]),
        ("[not json\nline two", ["[not json", "line two"]),
    ],
)
def test_parse_paraphrases(reply: str, expected: list[str]) -> None:
    assert parse_paraphrases(reply, n=2, original="Same text") == expected


def test_parse_paraphrases_cuts_long_lines() -> None:
    assert parse_paraphrases("x" * 500, n=1, max_chars=20) == ["x" * 20]


def test_augmenter_adds_paraphrase_cues_that_recall_finds() -> None:
    replies = {
        "Caroline adopted a puppy named Biscuit.": [
            "Caroline took in a young canine",
            "new family pet",
        ],
        "The bakery opens at seven.": ["opening hours of the pastry shop"],
    }
    llm = CannedLLM(respond=lambda prompt: json.dumps(replies[text_of(prompt)]))
    augmenter = LLMCueAugmenter(llm, n=3)
    assert isinstance(augmenter, CueAugmenter)
    with HippoMemory(encoder=HashingEncoder(), augmenter=augmenter) as engine:
        ids = engine.remember_many(list(replies))
        cues = [c for c in engine.get(ids[0]).cues if c.kind == "paraphrase"]
        assert [c.text for c in cues] == replies["Caroline adopted a puppy named Biscuit."]
        hit = engine.recall("pastry shop opening hours", k=1)[0]
        assert hit.memory.id == ids[1] and hit.diagnostics.best_cue.kind == "paraphrase"


def test_batches_keep_input_order_across_workers() -> None:
    llm = CannedLLM(respond=lambda prompt: json.dumps([f"about {text_of(prompt)}"]))
    texts = [f"text number {i}" for i in range(9)]
    result = LLMCueAugmenter(llm, n=1, max_workers=4).augment(texts)
    assert result == [[f"about {t}"] for t in texts]
    assert LLMCueAugmenter(llm).augment([]) == []


def test_failures_fall_back_to_no_paraphrases_with_a_warning() -> None:
    augmenter = LLMCueAugmenter(CannedLLM(respond=failing), n=2)
    with pytest.warns(RuntimeWarning, match=re.escape("2 of 2 texts got no paraphrases (RuntimeError")):
        assert augmenter.augment(["first", "second"]) == [[], []]
    with HippoMemory(encoder=HashingEncoder(), augmenter=augmenter) as engine:
        with pytest.warns(RuntimeWarning):
            memory_id = engine.remember("Stored even though the LLM is down.")
        assert all(c.kind != "paraphrase" for c in engine.get(memory_id).cues)


def test_unreadable_reply_warns() -> None:
    augmenter = LLMCueAugmenter(CannedLLM(respond=lambda prompt: "  "), n=2)
    with pytest.warns(RuntimeWarning, match="no paraphrase could be read"):
        assert augmenter.augment(["some text"]) == [[]]


def test_bad_configuration() -> None:
    llm = CannedLLM(respond=lambda prompt: "[]")
    with pytest.raises(ValidationError):
        LLMCueAugmenter(llm, n=0)
    with pytest.raises(ValidationError):
        LLMCueAugmenter(llm, prompt="no placeholder")
    with pytest.raises(ValidationError):
        LLMCueAugmenter("not an llm")  # type: ignore[arg-type]
    custom = LLMCueAugmenter(llm=llm, n=2, prompt="Rephrase: {text}")
    assert custom.n == 2 and custom.prompt == "Rephrase: {text}"


def test_prompt_with_a_json_example_and_braces_in_the_text() -> None:
    prompts: list[str] = []

    def respond(prompt: str) -> str:
        prompts.append(prompt)
        return '["a paraphrase"]'

    prompt = 'Give {n} paraphrases as {"paraphrases": ["..."]}.\nText: {text}'
    augmenter = LLMCueAugmenter(CannedLLM(respond=respond), n=2, prompt=prompt)
    assert augmenter.augment(["set x = {n} in {text}"]) == [["a paraphrase"]]
    assert prompts == ['Give 2 paraphrases as {"paraphrases": ["..."]}.\nText: set x = {n} in {text}']


def test_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    augmenter = LLMCueAugmenter(CannedLLM(respond=failing), n=2)
    with caplog.at_level("WARNING", logger="llama_index.memory.hippo"), pytest.warns(RuntimeWarning):
        assert augmenter.augment(["first"]) == [[]]
    assert any("provider unavailable" in record.getMessage() for record in caplog.records)
    unreadable = LLMCueAugmenter(CannedLLM(respond=lambda prompt: "  "), n=2)
    caplog.clear()
    with caplog.at_level("WARNING", logger="llama_index.memory.hippo"), pytest.warns(RuntimeWarning):
        assert unreadable.augment(["some text"]) == [[]]
    assert any("no paraphrase could be read" in record.getMessage() for record in caplog.records)
