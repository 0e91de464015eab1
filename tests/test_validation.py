"""The validation layer alone: each rejection a regression test of a bug the store once let through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from hippo_memory import (
    EmptyTextError,
    EncoderError,
    HashingEncoder,
    HippoConfig,
    HippoMemoryError,
    InvalidConfigError,
    InvalidFilterError,
    InvalidInputError,
    InvalidNamespaceError,
    InvalidVectorError,
    validate_filter,
)
from hippo_memory._encoder import encode_checked, load_encoder
from hippo_memory._validation import (
    MAX_EPOCH,
    MIN_EPOCH,
    check_cues,
    check_id,
    check_ids,
    check_metadata,
    check_session,
    check_text,
    from_epoch,
    to_epoch,
    validate_namespace,
)

_EAST = timezone(timedelta(hours=5))
_WEST = timezone(timedelta(hours=-5))


# ---------------------------------------------------------------------------- times
@pytest.mark.parametrize(
    "value",
    [
        1e20,
        -1e13,
        10**400,  # no float holds it
        -(10**400),
        MAX_EPOCH + 1,
        MIN_EPOCH - 1,
        datetime(9999, 12, 31, 23, 0, tzinfo=_WEST),  # year 10000 in UTC
        datetime(1, 1, 1, 1, 0, tzinfo=_EAST),  # year 0 in UTC
        "9999-12-31T23:00:00-05:00",
    ],
    ids=lambda value: str(value)[:32],
)
def test_times_from_epoch_cannot_convert_back_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="outside years 1 to 9999"):
        to_epoch(value)


@pytest.mark.parametrize(
    "value", [0, 1.5, MIN_EPOCH, MAX_EPOCH, datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59), "2024-02-29T12:00:00Z"]
)
def test_every_accepted_time_converts_back(value: Any) -> None:
    seconds = to_epoch(value)
    assert seconds is not None
    back = from_epoch(seconds)
    assert back is not None and back.tzinfo is not None


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), "yesterday", object(), b"2024", "2024\ud800"])
def test_non_times_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidInputError):
        to_epoch(value)


def test_from_epoch_clamps_values_an_older_version_stored() -> None:
    assert from_epoch(1e20) == datetime.max.replace(tzinfo=UTC)
    assert from_epoch(-1e13) == datetime.min.replace(tzinfo=UTC)
    assert from_epoch(None) is None
    assert from_epoch(float("nan")) is None


# ---------------------------------------------------------------------------- texts
@pytest.mark.parametrize("text", ["\u200b", "\x00", " \u200d\ufeff\t\x07", "\u2060\u200c"])
def test_invisible_only_text_is_blank(text: str) -> None:
    with pytest.raises(EmptyTextError):
        check_text(text, 100)


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff", "\udc80abc"])
def test_lone_surrogates_are_rejected_with_their_position(text: str) -> None:
    with pytest.raises(EmptyTextError, match="lone surrogate"):
        check_text(text, 100)
    with pytest.raises(EmptyTextError, match="lone surrogate"):
        check_cues(["fine", text], 100)
    with pytest.raises(InvalidNamespaceError, match="lone surrogate"):
        validate_namespace(("users", text))
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        check_id(text)
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        check_ids(["a", text])
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        check_metadata({"k": text})
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        check_metadata({text: 1})
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        check_session(text)


@pytest.mark.parametrize("text", ["a\x00b", "emoji 🧠", "zero\u200bwidth inside", "a"])
def test_text_with_visible_characters_is_kept(text: str) -> None:
    assert check_text(text, 100) == text


# ---------------------------------------------------------------------------- metadata
@pytest.mark.parametrize("metadata", ["abc", 5, ["a", 1], ("k", "v"), b"x"])
def test_metadata_must_be_a_mapping(metadata: Any) -> None:
    with pytest.raises(InvalidInputError, match="must be a dict"):
        check_metadata(metadata)


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def test_metadata_depth_is_capped_without_recursion_error() -> None:
    assert check_metadata(_nested(60)) == _nested(60)
    for depth in (65, 5_000):
        with pytest.raises(InvalidInputError, match="nested more than 64"):
            check_metadata(_nested(depth))
    deep_list: list[Any] = []
    for _ in range(5_000):
        deep_list = [deep_list]
    with pytest.raises(InvalidInputError, match="nested"):
        check_metadata({"x": deep_list})


@pytest.mark.parametrize("key", [1, 1.5, None, True, ("a",)])
def test_metadata_keys_must_be_strings(key: Any) -> None:
    with pytest.raises(InvalidInputError, match="keys must be strings"):
        check_metadata({key: "v"})
    with pytest.raises(InvalidInputError, match="keys must be strings"):
        check_metadata({"outer": {key: "v"}})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, object(), b"bytes", datetime(2024, 1, 1)])
def test_metadata_values_must_be_json(value: Any) -> None:
    with pytest.raises(InvalidInputError):
        check_metadata({"k": value})


def test_metadata_is_copied_as_json() -> None:
    original = {"a": [1, 2.5, None, True, "s"], "b": {"c": ("x", "y")}}
    copy = check_metadata(original)
    assert copy == {"a": [1, 2.5, None, True, "s"], "b": {"c": ["x", "y"]}}
    copy["a"].append(3)
    assert original["a"] == [1, 2.5, None, True, "s"]


# ---------------------------------------------------------------------------- ids and cues
@pytest.mark.parametrize("value", ["abc", b"abc", 5, {"a": 1}])
def test_cues_must_be_a_list_of_strings(value: Any) -> None:
    with pytest.raises(InvalidInputError):
        check_cues(value, 100)


def test_single_string_cue_hint() -> None:
    with pytest.raises(InvalidInputError, match=r"cues=\[") as info:
        check_cues("abc", 100)
    assert not isinstance(info.value, EmptyTextError)
    assert check_cues(["abc"], 100) == ["abc"]


@pytest.mark.parametrize("value", ["", "   ", "\u200b", 5, b"x", ["a"]])
def test_bad_ids(value: Any) -> None:
    with pytest.raises(InvalidInputError):
        check_id(value)


@pytest.mark.parametrize("value", [None, 5, b"ab", ["a", None], ["a", ""], ["a", 3], {"a"}])
def test_bad_id_lists(value: Any) -> None:
    with pytest.raises(InvalidInputError):
        check_ids(value)


def test_good_ids() -> None:
    assert check_id(None) is None
    assert check_id("x-1") == "x-1"
    assert check_ids("x") == ["x"]
    assert check_ids(("x", "y")) == ["x", "y"]
    assert check_ids([]) == []


@pytest.mark.parametrize("value", [5, b"s", ["s"]])
def test_bad_sessions(value: Any) -> None:
    with pytest.raises(InvalidInputError):
        check_session(value)


# ---------------------------------------------------------------------------- filters
@pytest.mark.parametrize("op", ["$or", "$and", "$not", "$nor"])
def test_top_level_dollar_operators_are_rejected(op: str) -> None:
    with pytest.raises(InvalidFilterError, match="no top-level"):
        validate_filter({op: [{"a": 1}, {"b": 2}]})


def test_deep_filter_is_rejected_without_recursion_error() -> None:
    deep: Any = 1
    for _ in range(5_000):
        deep = [deep]
    with pytest.raises(InvalidFilterError):
        validate_filter({"a": {"$eq": deep}})


# ---------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "values",
    [
        {"candidates": 0},
        {"beta": -1},
        {"code_k": 3000, "code_dim": 2048},
        {"no_such_field": 1},
        {"lexical_language": "klingon"},
        {"write_policy": "sometimes"},
    ],
)
def test_bad_config_raises_invalid_config_error(values: dict[str, Any]) -> None:
    for build in (lambda: HippoConfig(**values), lambda: HippoConfig.model_validate(values)):
        with pytest.raises(InvalidConfigError) as info:
            build()
        assert isinstance(info.value, ValueError)
        assert "invalid HippoConfig" in str(info.value)


def test_model_copy_validates_updates() -> None:
    config = HippoConfig(code_dim=2048, code_k=32, durable=False)
    with pytest.raises(InvalidConfigError, match="candidates"):
        config.model_copy(update={"candidates": 0})
    copy = config.model_copy(update={"candidates": 7})
    assert copy.candidates == 7 and copy.code_dim == 2048
    assert copy.model_fields_set == {"code_dim", "code_k", "durable", "candidates"}
    assert config.model_copy() == config


# ---------------------------------------------------------------------------- encoders
class _Raising:
    name = "raising"
    dim = 16

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def encode(self, texts: Sequence[str]) -> Any:
        raise self.exc


@pytest.mark.parametrize("exc", [ZeroDivisionError("boom"), RuntimeError("cuda"), KeyError("tok"), OSError("io")])
def test_encode_checked_wraps_foreign_errors(exc: Exception) -> None:
    with pytest.raises(EncoderError, match="raising") as info:
        encode_checked(_Raising(exc), ["a"], 16)
    assert info.value.__cause__ is exc


def test_encode_checked_keeps_own_errors_and_validates() -> None:
    with pytest.raises(InvalidVectorError):
        encode_checked(_Raising(InvalidVectorError("own")), ["a"], 16)
    with pytest.raises(InvalidVectorError):
        encode_checked(HashingEncoder(16), ["a"], 32)
    out = encode_checked(HashingEncoder(16), ["a b", "c"], 16)
    assert out.shape == (2, 16) and out.dtype == np.float32
    assert encode_checked(_Raising(RuntimeError()), [], 16).shape == (0, 16)


class _NamelessEncoder:
    name = ""
    dim = 16

    def encode(self, texts: Sequence[str]) -> Any:
        return HashingEncoder(16).encode(texts)


class _BadDimEncoder(_NamelessEncoder):
    name = "bad-dim"
    dim = 0


class _ExplodingDim(_NamelessEncoder):
    name = "exploding"

    @property
    def dim(self) -> int:  # type: ignore[override]
        raise RuntimeError("model download failed")


@pytest.mark.parametrize("encoder", [42, object(), "hashing:abc", "hashing:4", _NamelessEncoder(), _BadDimEncoder()])
def test_load_encoder_rejects_bad_encoders(encoder: Any) -> None:
    with pytest.raises(InvalidConfigError):
        load_encoder(encoder)


def test_load_encoder_wraps_failing_attributes() -> None:
    with pytest.raises(EncoderError, match="model download failed"):
        load_encoder(_ExplodingDim())
    assert isinstance(load_encoder("hashing:16"), HashingEncoder)


def test_all_rejections_are_hippo_memory_errors() -> None:
    for call in (lambda: to_epoch(1e20), lambda: check_metadata("abc"), lambda: check_ids(None)):
        with pytest.raises(HippoMemoryError):
            call()
