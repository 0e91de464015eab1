"""Bad input raises a typed error from the HippoMemoryError tree and loses nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hippo_memory import (
    EmptyTextError,
    EncoderError,
    HashingEncoder,
    HippoConfig,
    HippoMemory,
    HippoMemoryError,
    InvalidConfigError,
    InvalidFilterError,
    InvalidInputError,
    InvalidNamespaceError,
    InvalidVectorError,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    TextTooLongError,
)


class _BrokenEncoder:
    """Returns whatever it is told to, to imitate faulty custom encoders."""

    name = "broken"
    dim = 16

    def __init__(self) -> None:
        self.mode = "ok"

    def encode(self, texts: Sequence[str]) -> Any:
        base = HashingEncoder(16).encode(texts)
        if self.mode == "nan":
            base[0, 0] = np.nan
        elif self.mode == "dim":
            return np.ones((len(texts), 8), dtype=np.float32)
        elif self.mode == "rows":
            return base[:-1]
        elif self.mode == "zero":
            return np.zeros_like(base)
        elif self.mode == "strings":
            return [["a"] * 16 for _ in texts]
        return base


@pytest.fixture
def filled(mem: HippoMemory) -> HippoMemory:
    mem.remember_many(["keep me one", "keep me two"], namespace=("n",), session="s")
    return mem


def _unchanged(memory: HippoMemory) -> None:
    assert memory.count() == 2
    assert memory.recall("keep me one", k=1)[0].memory.text == "keep me one"


@pytest.mark.parametrize("text", ["", "   \n\t", None, 42, b"bytes", ["list"]])
def test_empty_or_non_string_text(filled: HippoMemory, text: Any) -> None:
    with pytest.raises(EmptyTextError) as info:
        filled.remember(text, namespace=("n",))
    assert isinstance(info.value, HippoMemoryError) and isinstance(info.value, ValueError)
    _unchanged(filled)


def test_one_bad_item_rejects_the_whole_batch(filled: HippoMemory) -> None:
    with pytest.raises(EmptyTextError):
        filled.remember_many(["fine", "also fine", ""], namespace=("n",))
    _unchanged(filled)


def test_oversize_text(encoder: HashingEncoder) -> None:
    memory = HippoMemory(None, encoder=encoder, config=HippoConfig(max_text_chars=50, code_dim=1024, code_k=16))
    memory.remember("short")
    with pytest.raises(TextTooLongError):
        memory.remember("x" * 51)
    with pytest.raises(TextTooLongError):
        memory.recall("y" * 51)
    assert memory.count() == 1


@pytest.mark.parametrize("namespace", [(), "users", ("a", ""), ("a.b",), (1, 2), [None], None])
def test_invalid_namespace(filled: HippoMemory, namespace: Any) -> None:
    with pytest.raises(InvalidNamespaceError):
        filled.remember("text", namespace=namespace)
    _unchanged(filled)


@pytest.mark.parametrize("mode", ["nan", "dim", "rows", "zero", "strings"])
def test_faulty_encoder_output(mode: str) -> None:
    encoder = _BrokenEncoder()
    memory = HippoMemory(None, encoder=encoder, config=HippoConfig(code_dim=1024, code_k=16))
    memory.remember_many(["keep me one", "keep me two"], namespace=("n",))
    encoder.mode = mode
    with pytest.raises(InvalidVectorError):
        memory.remember("poisoned", namespace=("n",))
    with pytest.raises(InvalidVectorError):
        memory.recall("poisoned query")
    encoder.mode = "ok"
    _unchanged(memory)


def test_wrong_dimension_query_vector(filled: HippoMemory) -> None:
    with pytest.raises(InvalidVectorError):
        filled.recall_vector(np.ones(3, dtype=np.float32))
    with pytest.raises(InvalidVectorError):
        filled.recall_vector(np.full(128, np.inf, dtype=np.float32))


def test_unknown_id(filled: HippoMemory) -> None:
    for call in (
        lambda: filled.get("nope"),
        lambda: filled.update("nope", text="x"),
        lambda: filled.forget("nope"),
        lambda: filled.associate("nope", "nada"),
        lambda: filled.associations("nope"),
    ):
        with pytest.raises(MemoryNotFoundError) as info:
            call()
        assert isinstance(info.value, KeyError)
    existing = filled.list()[0].id
    with pytest.raises(MemoryNotFoundError):
        filled.forget([existing, "nope"])  # all or nothing
    _unchanged(filled)


def test_unknown_namespace(filled: HippoMemory) -> None:
    with pytest.raises(NamespaceNotFoundError):
        filled.recall("keep", namespace=("missing",))
    with pytest.raises(NamespaceNotFoundError):
        filled.recall_chain("keep", namespace=("missing",))


def test_duplicate_ids(filled: HippoMemory) -> None:
    filled.remember("first", id="fixed")
    with pytest.raises(InvalidInputError):
        filled.remember("second", id="fixed")
    with pytest.raises(InvalidInputError):
        filled.remember_many([{"text": "a", "id": "twin"}, {"text": "b", "id": "twin"}])
    assert filled.get("fixed").text == "first"
    assert filled.count() == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": -1},
        {"k": "3"},
        {"k": True},
        {"since": "yesterday"},
        {"until": float("nan")},
    ],
)
def test_bad_recall_arguments(filled: HippoMemory, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        filled.recall("keep", **kwargs)


@pytest.mark.parametrize("bad_filter", [{"a": {"$regex": "x"}}, {"a": {"$in": 3}}, {"": 1}, "a=1", {"a": object()}])
def test_bad_filters(filled: HippoMemory, bad_filter: Any) -> None:
    with pytest.raises(InvalidFilterError):
        filled.recall("keep", filter=bad_filter)


def test_bad_metadata_timestamp_and_items(filled: HippoMemory) -> None:
    with pytest.raises(InvalidInputError):
        filled.remember("x", metadata={"f": object()})
    with pytest.raises(InvalidInputError):
        filled.remember("x", timestamp="not a date")
    with pytest.raises(InvalidInputError):
        filled.remember_many([{"text": "x", "colour": "red"}])
    with pytest.raises(InvalidInputError):
        filled.associate(filled.list()[0].id, filled.list()[0].id)
    with pytest.raises(InvalidInputError):
        filled.associate(filled.list()[0].id, filled.list()[1].id, strength=float("nan"))
    with pytest.raises(InvalidInputError):
        filled.recall_chain("keep", hops=-1)
    _unchanged(filled)


def test_bad_config_values() -> None:
    with pytest.raises(InvalidConfigError):
        HippoConfig.create(beta=-1)
    with pytest.raises(InvalidConfigError):
        HippoConfig.create(code_k=100, code_dim=64)
    with pytest.raises(InvalidConfigError):
        HippoMemory(None, encoder=HashingEncoder(16), device="tpu")


def test_bad_input_on_disk_store_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with HippoMemory(path, encoder=HashingEncoder(32), config=HippoConfig(code_dim=1024, code_k=16)) as memory:
        memory.remember_many(["keep me one", "keep me two"], namespace=("n",))
        with pytest.raises(EmptyTextError):
            memory.remember_many(["ok", ""])
    with HippoMemory(path, encoder=HashingEncoder(32)) as memory:
        _unchanged(memory)


# ------------------------------------------------ "never lose, corrupt or leak": input the store cannot give back
def _nested_metadata(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


_MOON = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))  # year 10000 in UTC


@pytest.mark.parametrize("timestamp", [1e20, -1e13, _MOON, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))])
def test_out_of_range_timestamps_are_rejected_and_reads_keep_working(filled: HippoMemory, timestamp: Any) -> None:
    with pytest.raises(InvalidInputError, match="outside years 1 to 9999"):
        filled.remember("when?", namespace=("n",), timestamp=timestamp)
    existing = filled.list()[0].id
    with pytest.raises(InvalidInputError):
        filled.update(existing, timestamp=timestamp)
    with pytest.raises(InvalidInputError):
        filled.recall("keep", since=timestamp)
    assert filled.get(existing).timestamp is None
    _unchanged(filled)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.remember("\ud800", namespace=("n",)),
        lambda m: m.remember("fine", namespace=("n",), cues=["\udfff"]),
        lambda m: m.recall("query \ud800"),
        lambda m: m.remember("fine", namespace=("n",), metadata={"k": "\ud800"}),
        lambda m: m.remember("fine", namespace=("n",), metadata={"\ud800": 1}),
        lambda m: m.remember("fine", namespace=("n\ud800",)),
        lambda m: m.remember("fine", namespace=("n",), id="\ud800"),
        lambda m: m.update(m.list()[0].id, text="\ud800"),
    ],
    ids=["text", "cue", "query", "metadata-value", "metadata-key", "namespace", "id", "update-text"],
)
def test_lone_surrogates_are_typed_errors(filled: HippoMemory, call: Any) -> None:
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        call(filled)
    _unchanged(filled)


def test_lone_surrogate_session_is_a_typed_error(filled: HippoMemory) -> None:
    with pytest.raises(InvalidInputError):
        filled.remember("fine", namespace=("n",), session="\ud800")
    _unchanged(filled)


def test_lone_surrogate_lookup_id_is_a_typed_error(filled: HippoMemory) -> None:
    for call in (lambda: filled.get("\ud800"), lambda: filled.forget("\ud800"), lambda: filled.update("\ud800")):
        with pytest.raises(HippoMemoryError):
            call()


@pytest.mark.parametrize("text", ["\u200b", "\x00", "\u200d\ufeff \t", "\x00\x01\x1b"])
def test_invisible_only_text_is_empty(filled: HippoMemory, text: str) -> None:
    with pytest.raises(EmptyTextError):
        filled.remember(text, namespace=("n",))
    with pytest.raises(EmptyTextError):
        filled.recall(text)
    _unchanged(filled)


@pytest.mark.parametrize(
    "metadata",
    ["abc", 5, ["k", "v"], _nested_metadata(5_000), {1: "one"}, {"x": {2: "two"}}, {"f": float("nan")}],
    ids=["str", "int", "list", "deep", "int-key", "nested-int-key", "nan"],
)
def test_bad_metadata_is_a_typed_error(filled: HippoMemory, metadata: Any) -> None:
    with pytest.raises(InvalidInputError):
        filled.remember("fine", namespace=("n",), metadata=metadata)
    with pytest.raises(InvalidInputError):
        filled.update(filled.list()[0].id, metadata=metadata)
    _unchanged(filled)


def test_single_string_cues_blank_ids_and_none_ids(filled: HippoMemory) -> None:
    with pytest.raises(InvalidInputError, match="cues"):
        filled.remember("fine", namespace=("n",), cues="abc")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="cues"):
        filled.update(filled.list()[0].id, cues="abc")  # type: ignore[arg-type]
    for bad_id in ("", "   ", "\u200b"):
        with pytest.raises(InvalidInputError, match="id"):
            filled.remember("fine", namespace=("n",), id=bad_id)
    for bad_ids in (None, 5, [None], ["", "x"]):
        with pytest.raises(InvalidInputError):
            filled.forget(bad_ids)  # type: ignore[arg-type]
    _unchanged(filled)


@pytest.mark.parametrize("op", ["$or", "$and"])
def test_top_level_boolean_filters_are_rejected(filled: HippoMemory, op: str) -> None:
    with pytest.raises(InvalidFilterError, match="top-level"):
        filled.recall("keep", filter={op: [{"a": 1}]})
    with pytest.raises(InvalidFilterError, match="top-level"):
        filled.list(filter={op: [{"a": 1}]})


def test_config_construction_raises_invalid_config_error() -> None:
    with pytest.raises(InvalidConfigError) as info:
        HippoConfig(candidates=0)
    assert isinstance(info.value, ValueError)


def test_non_encoder_is_an_invalid_config_error() -> None:
    with pytest.raises(InvalidConfigError):
        HippoMemory(None, encoder=42)  # type: ignore[arg-type]


class _FailingEncoder:
    name = "failing"
    dim = 16

    def __init__(self) -> None:
        self.fail = False

    def encode(self, texts: Sequence[str]) -> Any:
        if self.fail:
            raise ZeroDivisionError("the model fell over")
        return HashingEncoder(16).encode(texts)


def test_failing_encoder_raises_encoder_error() -> None:
    encoder = _FailingEncoder()
    memory = HippoMemory(None, encoder=encoder, config=HippoConfig(code_dim=1024, code_k=16))
    memory.remember_many(["keep me one", "keep me two"], namespace=("n",))
    encoder.fail = True
    with pytest.raises(EncoderError) as info:
        memory.remember("lost?", namespace=("n",))
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    with pytest.raises(EncoderError):
        memory.recall("keep me one")
    encoder.fail = False
    _unchanged(memory)


def test_huge_ttl_keeps_the_store_readable(filled: HippoMemory) -> None:
    with contextlib.suppress(InvalidInputError):  # rejecting it is a fine fix too
        filled.remember("forever", namespace=("n",), ttl=1e300)
    assert len(filled.list()) in (2, 3)


def test_item_with_non_string_keys_is_a_typed_error(filled: HippoMemory) -> None:
    with pytest.raises(InvalidInputError):
        filled.remember_many([{"text": "fine", 0: None, "colour": "red"}])  # type: ignore[list-item]
    _unchanged(filled)


def test_huge_integer_min_strength_is_a_typed_error(filled: HippoMemory) -> None:
    with pytest.raises(InvalidInputError):
        filled.recall_chain("keep", min_strength=10**400)
