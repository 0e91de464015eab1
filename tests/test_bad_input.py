"""Bad input raises a typed error from the HippoMemoryError tree and loses nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hippo_memory import (
    EmptyTextError,
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
