"""Pure helpers of :class:`~langchain_hippo_memory.HippoStore`: ids, values, filters, checks.

Nothing here touches the engine's state: the store calls these to validate an
operation before it runs anything, to map an item to its memory id, and to rewrite
LangGraph filters and namespace conditions.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypedDict, TypeVar

from hippo_memory import HippoMemory, InvalidInputError, Memory
from hippo_memory.integration import MemoryBackend
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchOp,
    get_text_at_path,
    tokenize_path,
)
from langgraph.store.base.embed import AEmbeddingsFunc, EmbeddingsFunc

from ._errors import InvalidValueError

__all__ = [
    "AUTO_TEXT_FIELDS",
    "ID_PREFIX",
    "POLICY_PROBLEM",
    "HippoIndexConfig",
    "StoreOpener",
    "alive",
    "as_json",
    "engine_filter",
    "engine_problem",
    "epoch",
    "explicit_cues",
    "is_item",
    "item_id",
    "item_texts",
    "matcher",
    "tokenized",
    "validate_op",
]

ID_PREFIX = "langgraph-store:"
_ID_NAMESPACE = uuid.UUID("0f6f0a3e-7c55-5d2c-9a53-1b1b6c1d3e21")
AUTO_TEXT_FIELDS = ("text", "content", "memory")


class HippoIndexConfig(TypedDict, total=False):
    """What an item is searched by; the same keys as LangGraph's ``IndexConfig``.

    Every item is always searchable: the engine encodes each memory with its own
    encoder. This configuration only chooses the text.

    Attributes:
        fields: JSON paths whose text is embedded, e.g. ``["text"]``,
            ``["messages[*].content"]`` or ``["$"]`` (the whole value as JSON). Several
            texts become one memory whose cue variants are the individual texts, so a
            query matching any of them finds the item. When omitted, the first of
            ``"text"``, ``"content"``, ``"memory"`` holding a non-empty string is used,
            else the whole value as JSON.
        embed: LangChain embeddings (an ``Embeddings``, a function, or a provider string
            such as ``"openai:text-embedding-3-small"``) to use as the engine's encoder
            instead of the default model. Only when the store opens its own memory.
        dims: Dimension of ``embed``'s vectors (probed when omitted); checked against
            the encoder otherwise.
    """

    fields: list[str] | None
    embed: Embeddings | EmbeddingsFunc | AEmbeddingsFunc | str
    dims: int


class _Closable(Protocol):
    def close(self) -> None: ...


_Store = TypeVar("_Store", bound=_Closable)


class StoreOpener(Generic[_Store]):
    """What ``HippoStore.from_conn_string`` returns: opens the store on entry.

    Usable as ``with`` (opens in the calling thread) and as ``async with`` (opens
    and closes in a worker thread, so an event loop never waits on the disk or the
    database); the store is closed on exit either way.
    """

    def __init__(self, open_store: Callable[[], _Store]) -> None:
        self._open = open_store
        self._store: _Store | None = None

    def __enter__(self) -> _Store:
        self._store = self._open()
        return self._store

    def __exit__(self, *exc: object) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()

    async def __aenter__(self) -> _Store:
        self._store = await asyncio.to_thread(self._open)
        return self._store

    async def __aexit__(self, *exc: object) -> None:
        store, self._store = self._store, None
        if store is not None:
            await asyncio.to_thread(store.close)


def item_id(namespace: Sequence[str], key: str) -> str:
    """The engine memory id of the store item ``(namespace, key)``."""
    name = json.dumps([list(namespace), key], ensure_ascii=False)
    return f"{ID_PREFIX}{uuid.uuid5(_ID_NAMESPACE, name)}"


def is_item(memory: Memory) -> bool:
    meta = memory.metadata
    return (
        memory.id.startswith(ID_PREFIX)
        and isinstance(meta.get("key"), str)
        and isinstance(meta.get("value"), dict)
    )


def alive(memory: Memory, now: float) -> bool:
    expires = memory.metadata.get("expires_at")
    return expires is None or float(expires) > now


def _json_object(value: Any) -> dict[str, Any]:
    """Validate a store value and return a deep copy that JSON round-trips exactly."""
    if not isinstance(value, Mapping):
        raise InvalidValueError(
            f"store values must be dicts (JSON objects), not {type(value).__name__}"
        )
    try:
        copy = json.loads(json.dumps(dict(value), ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"store value is not JSON-serialisable: {exc}") from exc
    if copy != dict(value) or not _same_types(copy, value):
        raise InvalidValueError(
            "store value does not survive JSON unchanged (non-string keys, tuples or "
            "other non-JSON types); use dicts with string keys, lists, str, int, "
            "finite float, bool and None"
        )
    return dict(copy)


def _same_types(plain: Any, original: Any) -> bool:
    if isinstance(original, Mapping):
        return isinstance(plain, dict) and all(
            isinstance(k, str) and _same_types(plain[k], v) for k, v in original.items()
        )
    if isinstance(original, list):
        return isinstance(plain, list) and all(
            _same_types(p, o) for p, o in zip(plain, original, strict=True)
        )
    return original is None or isinstance(original, str | int | float | bool)


def engine_filter(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Rewrite a LangGraph filter on value fields into an engine metadata filter."""
    if not filter:
        return None
    if not isinstance(filter, Mapping):
        raise InvalidInputError(f"filter must be a dict, not {type(filter).__name__}")
    out: dict[str, Any] = {}

    def walk(prefix: str, condition: Mapping[str, Any]) -> None:
        for key, wanted in condition.items():
            path = f"{prefix}.{key}"
            is_nested = isinstance(wanted, Mapping) and wanted
            if is_nested and not any(str(op).startswith("$") for op in wanted):
                walk(path, wanted)  # {"a": {"b": 1}} matches a.b == 1 (partial match)
            else:
                out[path] = wanted

    walk("value", filter)
    return out


def matcher(condition: MatchCondition) -> Callable[[tuple[str, ...]], bool]:
    """A test of namespaces against one prefix or suffix condition (``"*"``: any label)."""
    n = len(condition.path)
    offset = 0 if condition.match_type == "prefix" else -n
    fixed = [(i + offset, label) for i, label in enumerate(condition.path) if label != "*"]

    def test(namespace: tuple[str, ...]) -> bool:
        return len(namespace) >= n and all(namespace[i] == label for i, label in fixed)

    return test


def epoch(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    return fallback


def validate_op(op: Op) -> dict[str, Any] | None:
    """Check one operation before anything runs; a put's value as a JSON-safe copy.

    Raises:
        InvalidNamespaceError: an invalid namespace.
        InvalidValueError: a put value that is not a JSON object.
        InvalidInputError: another malformed operation.
    """
    if not isinstance(op, GetOp | SearchOp | ListNamespacesOp | PutOp):
        raise InvalidInputError(f"unknown store operation {type(op).__name__}")
    if isinstance(op, GetOp | PutOp):
        _check_labels(op.namespace)
    elif isinstance(op, SearchOp):
        _check_labels(op.namespace_prefix)
    else:
        for condition in op.match_conditions or ():
            _check_labels(condition.path)
    if isinstance(op, GetOp | PutOp) and not isinstance(op.key, str):
        raise InvalidInputError(f"store keys must be strings, not {type(op.key).__name__}")
    if isinstance(op, SearchOp):
        _check_count("limit", op.limit)
        _check_count("offset", op.offset)
        if op.query is not None and not isinstance(op.query, str):
            raise InvalidInputError("query must be a string")
        engine_filter(op.filter)
    elif isinstance(op, ListNamespacesOp):
        _check_count("limit", op.limit)
        _check_count("offset", op.offset)
        if op.max_depth is not None:
            _check_count("max_depth", op.max_depth, minimum=1)
        for condition in op.match_conditions or ():
            if condition.match_type not in ("prefix", "suffix"):
                raise InvalidInputError(f"unknown match type {condition.match_type!r}")
    elif isinstance(op, PutOp):
        # The reserved root "langgraph" is refused by ``put`` only (as in LangGraph):
        # LangGraph itself writes there through ``batch``. The engine has no empty
        # namespace, so an empty one is refused here too.
        if not op.namespace:
            raise InvalidNamespaceError("Namespace cannot be empty.")
        if (
            op.index is not None
            and op.index is not False
            and (
                isinstance(op.index, str)
                or not isinstance(op.index, list | tuple)
                or not all(isinstance(p, str) for p in op.index)
            )
        ):
            raise InvalidInputError(f"index must be False, None or a list of paths: {op.index!r}")
        if op.ttl is not None and (
            isinstance(op.ttl, bool)
            or not isinstance(op.ttl, int | float)
            or not math.isfinite(op.ttl)
            or op.ttl <= 0
        ):
            raise InvalidInputError(f"ttl must be a positive number of minutes, not {op.ttl!r}")
        return None if op.value is None else _json_object(op.value)
    return None


POLICY_PROBLEM = (
    "HippoStore needs every put stored as its own memory: open the memory with "
    "HippoConfig(write_policy='store_all', detect_supersession=False)"
)


def engine_problem(memory: MemoryBackend, dims: int | None) -> str | None:
    """Why this memory (an engine or a client) cannot back a store, or ``None``."""
    if dims is not None:
        if not isinstance(memory, HippoMemory):
            return (
                "index['dims'] cannot be checked against a server's encoder: leave it out "
                "with a HippoClient (the server encodes)"
            )
        if dims != memory.encoder.dim:
            return (
                f"index['dims']={dims} but the encoder {memory.encoder.name!r} "
                f"produces {memory.encoder.dim} dimensions"
            )
    config = memory.config
    # Write policies that skip, merge or hide near-duplicates would lose items.
    if getattr(config, "write_policy", "store_all") != "store_all" or getattr(
        config, "detect_supersession", False
    ):
        return POLICY_PROBLEM
    return None


def tokenized(paths: Iterable[str]) -> list[tuple[str, Any]]:
    return [(p, p if p == "$" else tokenize_path(p)) for p in paths]


def _check_labels(namespace: Any) -> None:
    """LangGraph's label rules: strings, non-empty, no periods, no NUL bytes."""
    for label in namespace:
        if not isinstance(label, str) or not label or "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace!r}: labels must be "
                "non-empty strings without periods or NUL bytes."
            )


def as_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def explicit_cues(memory: Memory) -> list[str]:
    return [cue.text for cue in memory.cues if cue.kind == "explicit"]


def _check_count(name: str, value: Any, *, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, not {value!r}")


def item_texts(
    value: dict[str, Any],
    index: Literal[False] | Sequence[str] | None,
    fields: list[tuple[str, Any]],
    limit: int,
) -> tuple[str, list[str], bool]:
    """The memory text of an item, its extra cues and whether search ranks it.

    Args:
        value: The item's value.
        index: The put's ``index`` (``False``: not searched; ``None``: the store's).
        fields: The store's tokenized ``index["fields"]`` (empty: automatic text).
        limit: Longest text the engine takes.
    """
    texts: list[str] = []
    if index is not False and (index is not None or fields):
        paths = fields if index is None else tokenized(index)
        for _, tokens in paths:  # an empty list indexes nothing
            texts.extend(get_text_at_path(value, tokens))
    elif index is None:
        auto = next(
            (
                value[f]
                for f in AUTO_TEXT_FIELDS
                if isinstance(value.get(f), str) and value[f].strip()
            ),
            None,
        )
        texts = [auto] if auto is not None else [as_json(value)]
    clean: list[str] = []
    seen: set[str] = set()
    for text in texts:
        text = text.strip()[:limit]
        if text and text.lower() not in seen:
            seen.add(text.lower())
            clean.append(text)
    indexed = bool(clean)
    if not clean:
        clean = [as_json(value)[:limit]]
    text = "\n".join(clean)[:limit].strip() if len(clean) > 1 else clean[0]
    cues = clean if len(clean) > 1 else []
    return text, cues, indexed
