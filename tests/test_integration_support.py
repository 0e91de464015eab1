"""hippo_memory.integration (what the framework adapters share) and the records' to_dict()."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from datetime import datetime

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

import hippo_memory.integration as integration
from hippo_memory import (
    AsyncHippoClient,
    Chain,
    HashingEncoder,
    HippoClient,
    HippoMemory,
    InvalidConfigError,
    InvalidNamespaceError,
    RecallResult,
)
from hippo_memory.integration import (
    NO_MEMORIES,
    STOP_REASONS,
    MemoryBackend,
    MemoryBackendField,
    NotAMemoryBackendError,
    arecall_chain_or_empty,
    arecall_or_empty,
    as_memory_backend,
    fill_prompt,
    format_chain,
    format_hits,
    parse_paraphrases,
    recall_chain_or_empty,
    recall_or_empty,
)

STORY = [
    "Caroline adopted a puppy named Biscuit from the shelter.",
    "Biscuit was diagnosed with a hip problem last spring.",
    "The vet who treats that hip problem is Dr. Okafor in Porto.",
]


@pytest.fixture
def memory() -> Iterator[HippoMemory]:
    with HippoMemory(encoder=HashingEncoder(dim=256, seed=0)) as mem:
        mem.remember_many(
            [{"text": t, "metadata": {"role": "user", "nested": {"a": [1, 2]}}} for t in STORY],
            namespace=("users", "caroline"),
            session="2024-05-02",
            timestamp="2024-05-02",
        )
        yield mem


def test_public_surface_is_pinned() -> None:
    assert integration.__all__ == [
        "ACCEPTED_MEMORIES",
        "NO_MEMORIES",
        "STOP_REASONS",
        "TOOLS",
        "MemoryBackend",
        "MemoryBackendField",
        "NotAMemoryBackendError",
        "StopReason",
        "ToolText",
        "arecall_chain_or_empty",
        "arecall_or_empty",
        "as_memory_backend",
        "fill_prompt",
        "format_chain",
        "format_forgotten",
        "format_hit",
        "format_hits",
        "format_remembered",
        "parse_paraphrases",
        "recall_chain_or_empty",
        "recall_or_empty",
    ]
    for name in integration.__all__:
        assert getattr(integration, name) is not None


def test_to_dict_is_json_ready(memory: HippoMemory) -> None:
    result = memory.recall("puppy Biscuit", namespace=("users", "caroline"), k=2)
    hit = result[0]
    record = hit.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["id"] == hit.memory.id and record["text"] == hit.memory.text
    assert record["namespace"] == ["users", "caroline"]
    assert record["metadata"] == {"role": "user", "nested": {"a": [1, 2]}}
    assert record["timestamp"].startswith("2024-05-02")
    datetime.fromisoformat(record["created_at"])
    assert record["session"] == "2024-05-02"
    assert {"score", "rank", "similarity", "attention", "cues_matched", "best_cue", "best_cue_kind"} <= set(record)
    assert record["best_cue"] == hit.diagnostics.best_cue.text
    assert {"text": hit.memory.text, "kind": "text"} in record["cues"]
    # A copy: changing it leaves the memory alone.
    record["metadata"]["nested"]["a"].append(3)
    assert hit.memory.to_dict()["metadata"] == {"role": "user", "nested": {"a": [1, 2]}}


def test_chain_to_dict(memory: HippoMemory) -> None:
    chain = memory.recall_chain(STORY[0], hops=2, namespace=("users", "caroline"))
    record = chain.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["query"] == STORY[0] and record["stop_reason"] == chain.stop_reason
    assert [h["hop"] for h in record["hops"]] == list(range(len(chain)))
    assert record["hops"][0]["text"] == chain[0].memory.text
    assert {"score", "overlap", "id", "namespace"} <= set(chain[0].to_dict())


def test_missing_namespace_is_empty(memory: HippoMemory) -> None:
    result = recall_or_empty(memory, "puppy", namespace=("users", "nobody"))
    assert isinstance(result, RecallResult) and len(result) == 0
    assert result.namespace == ("users", "nobody") and result.query == "puppy"
    assert len(recall_or_empty(memory, "puppy", namespace=("users", "caroline"), k=1)) == 1
    chain = recall_chain_or_empty(memory, "puppy", namespace=("users", "nobody"))
    assert isinstance(chain, Chain) and len(chain) == 0 and chain.stop_reason == "no_start"
    # A malformed namespace is a bug, not an empty namespace.
    with pytest.raises(InvalidNamespaceError):
        recall_or_empty(memory, "puppy", namespace=("users.nobody",))


async def test_async_twins(memory: HippoMemory) -> None:
    assert len(await arecall_or_empty(memory, "puppy", namespace=("nobody",))) == 0
    hits = await arecall_or_empty(memory, "puppy Biscuit", namespace=("users",), k=2)
    assert [h.memory.id for h in hits] == [
        h.memory.id for h in memory.recall("puppy Biscuit", namespace=("users",), k=2)
    ]
    assert (await arecall_chain_or_empty(memory, "x", namespace=("nobody",))).stop_reason == "no_start"
    chain = await arecall_chain_or_empty(memory, STORY[0], hops=1, namespace=("users",))
    assert len(chain) == 2


def test_format_hits_one_line_per_memory(memory: HippoMemory) -> None:
    result = memory.recall("puppy Biscuit", namespace=("users", "caroline"), k=3)
    text = format_hits(result)
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0] == f"- [2024-05-02, user, score {result[0].score:.2f}] {result[0].memory.text}"
    assert format_hits(result.memories).splitlines()[0] == f"- [2024-05-02, user] {result[0].memory.text}"
    assert format_hits([]) == "" and format_hits([], empty=NO_MEMORIES) == NO_MEMORIES
    memory.remember("line one\nline two", namespace=("x",))
    assert format_hits(memory.recall("line", namespace=("x",))).count("\n") == 0


def test_format_chain_says_why_it_stopped(memory: HippoMemory) -> None:
    chain = memory.recall_chain(STORY[0], hops=2, namespace=("users", "caroline"))
    assert chain.stop_reason == "hops"
    lines = format_chain(chain).splitlines()
    assert lines[0].startswith(f"Association chain for {STORY[0]!r} (3 memories; stopped: hop limit reached)")
    assert lines[1].startswith("hop 0 (recalled from the query, score")
    assert lines[2].startswith("hop 1 (associated with the previous hop, score")
    assert all(line.endswith(fact) for line, fact in zip(lines[1:4], STORY, strict=True))
    assert lines[-1] == f"Stopped: {STOP_REASONS['hops'].explanation}."
    assert format_chain(Chain("q", (), "no_start")) == NO_MEMORIES


def test_every_stop_reason_has_a_text() -> None:
    reasons = typing.get_args(typing.get_type_hints(Chain)["stop_reason"])
    assert set(reasons) == set(STOP_REASONS)


def test_fill_prompt_leaves_other_braces_alone() -> None:
    template = 'Reply as {"paraphrases": ["..."]} with {n} items.\nText: {text}'
    filled = fill_prompt(template, n=3, text="a {n} b {text} c {}")
    assert filled == 'Reply as {"paraphrases": ["..."]} with 3 items.\nText: a {n} b {text} c {}'
    assert fill_prompt("{memories}", memories="- x") == "- x"
    assert fill_prompt("no placeholders {x}") == "no placeholders {x}"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('["one", "two", "three", "four"]', ["one", "two", "three"]),
        ('```json\n["one", "two"]\n```', ["one", "two"]),
        ('Sure:\n["one", "two"]', ["one", "two"]),
        ('{"paraphrases": ["one", "two"]}', ["one", "two"]),
        ("Here are three:\n1. one\n2) two\n(3) three", ["one", "two", "three"]),
        ("a) one\nb. two\n- three", ["one", "two", "three"]),
        ('- "one",\n* \u2018two\u2019\n\u2022 three', ["one", "two", "three"]),
        ("```\none\ntwo\n```", ["one", "two"]),
        ("The original\nONE\none", ["ONE"]),
        ('[1, "one", null]', ["one"]),
        ("[]", []),
        ("[not json\ntwo", ["[not json", "two"]),
        ("", []),
    ],
)
def test_parse_paraphrases(reply: str, expected: list[str]) -> None:
    assert parse_paraphrases(reply, 3, original="the original") == expected


def test_parse_paraphrases_limits() -> None:
    assert parse_paraphrases("x" * 50, 1, max_chars=10) == ["x" * 10]
    with pytest.raises(ValueError):
        parse_paraphrases("[]", 0)


# mypy (run on this file) checks that both satisfy the protocol: the adapters are typed with it.
if typing.TYPE_CHECKING:
    _engine: MemoryBackend = HippoMemory()
    _client: MemoryBackend = HippoClient()


def test_engine_and_client_are_memory_backends(memory: HippoMemory) -> None:
    assert as_memory_backend(memory) is memory
    with HippoClient("http://127.0.0.1:9") as client:  # nothing listens: the check must not send
        assert as_memory_backend(client) is client

    for wrong in (object(), "engine", AsyncHippoClient("http://127.0.0.1:9")):
        with pytest.raises(NotAMemoryBackendError, match="HippoClient") as info:
            as_memory_backend(wrong)
        assert isinstance(info.value, InvalidConfigError) and isinstance(info.value, TypeError)


def test_memory_backend_field_validates(memory: HippoMemory) -> None:
    class Holder(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        memory: MemoryBackendField

    assert Holder(memory=memory).memory is memory
    with pytest.raises(ValidationError, match="HippoClient"):
        Holder(memory="not an engine")
