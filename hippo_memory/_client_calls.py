"""The requests of :mod:`hippo_memory.client`: each call's method, path and body, and how its JSON answer becomes the engine's types.

Pure functions shared by the sync and the async client, so neither copies the other.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import random
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import numpy as np
import numpy.typing as npt

from . import _errors
from ._config import HippoConfig
from ._grouping import GroupHit
from ._types import (
    Chain,
    ChainHop,
    ConsolidationReport,
    Cue,
    HitDiagnostics,
    Memory,
    Namespace,
    RecallHit,
    RecallResult,
)
from ._validation import TimeLike

__all__ = [
    "_Call",
    "_associate",
    "_associations",
    "_config",
    "_consolidate",
    "_count",
    "_delay",
    "_export",
    "_forget",
    "_forget_before",
    "_forget_namespace",
    "_get",
    "_headers",
    "_list",
    "_namespaces",
    "_recall",
    "_recall_chain",
    "_recall_groups",
    "_recall_vector",
    "_remember",
    "_remember_many",
    "_stats",
    "_supersede",
    "_update",
    "_write_jsonl",
]

T = TypeVar("T")


# ---------------------------------------------------------------------------- requests (shared by both clients)
@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    method: str
    path: str
    body: Any
    parse: Callable[[Any], T]
    idempotent: bool = False


def _time(value: TimeLike | None) -> float | str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _ns(namespace: Sequence[str] | None) -> list[str] | None:
    return None if namespace is None else list(namespace)


def _opt_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _memory(d: Mapping[str, Any]) -> Memory:
    return Memory(
        id=d["id"],
        text=d["text"],
        namespace=tuple(d["namespace"]),
        metadata=d["metadata"],
        timestamp=_opt_time(d["timestamp"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        session=d["session"],
        cues=tuple(Cue(c["text"], c["kind"]) for c in d["cues"]),
        salience=d["salience"],
        novelty=d["novelty"],
        strength=d["strength"],
        access_count=d["access_count"],
        expires_at=_opt_time(d["expires_at"]),
        superseded_by=d["superseded_by"],
        merged_from=tuple(d["merged_from"]),
        time_cues=tuple(d.get("time_cues", ())),
    )


def _hit(h: Mapping[str, Any]) -> RecallHit:
    g = h["diagnostics"]
    diagnostics = HitDiagnostics(
        similarity=g["similarity"],
        candidate_rank=g["candidate_rank"],
        attention=g["attention"],
        cues_matched=g["cues_matched"],
        best_cue=Cue(g["best_cue"]["text"], g["best_cue"]["kind"]),
        lexical_rank=g["lexical_rank"],
        fused=g.get("fused"),
    )
    return RecallHit(_memory(h["memory"]), h["score"], h["rank"], diagnostics)


def _recall_result(d: Mapping[str, Any]) -> RecallResult:
    hits = tuple(_hit(h) for h in d["hits"])
    namespace = None if d["namespace"] is None else tuple(d["namespace"])
    return RecallResult(d["query"], namespace, hits, d["n_candidates"], d["backend"], dict(d["timings_ms"]))


def _chain(d: Mapping[str, Any]) -> Chain:
    hops = tuple(ChainHop(h["hop"], _memory(h["memory"]), h["score"], h["overlap"]) for h in d["hops"])
    return Chain(d["query"], hops, d["stop_reason"])


def _report(d: Mapping[str, Any]) -> ConsolidationReport:
    return ConsolidationReport(**{**d, "started_at": datetime.fromisoformat(d["started_at"])})


def _item(item: Any) -> Any:
    if isinstance(item, str) or not isinstance(item, Mapping):
        return item
    out = dict(item)
    if "timestamp" in out:
        out["timestamp"] = _time(out["timestamp"])
    for key in ("namespace", "cues"):
        if out.get(key) is not None and not isinstance(out[key], str):
            out[key] = list(out[key])
    return out


def _remember(
    text: str,
    namespace: Sequence[str],
    metadata: Mapping[str, Any] | None,
    timestamp: TimeLike | None,
    cues: Sequence[str],
    session: str | None,
    id: str | None,
    salience: float | bool | None,
    ttl: float | None,
    supersedes: str | None,
) -> _Call[str]:
    body = {
        "text": text,
        "namespace": _ns(namespace),
        "metadata": None if metadata is None else dict(metadata),
        "timestamp": _time(timestamp),
        "cues": list(cues),
        "session": session,
        "id": id,
        "salience": salience,
        "ttl": ttl,
        "supersedes": supersedes,
    }
    return _Call("POST", "/v1/memories", body, lambda d: str(d["id"]))


def _remember_many(
    items: Iterable[Any],
    namespace: Sequence[str],
    session: str | None,
    metadata: Mapping[str, Any] | None,
    timestamp: TimeLike | None,
) -> _Call[builtins.list[str]]:
    body = {
        "items": [_item(i) for i in items],
        "namespace": _ns(namespace),
        "session": session,
        "metadata": None if metadata is None else dict(metadata),
        "timestamp": _time(timestamp),
    }
    return _Call("POST", "/v1/memories/batch", body, lambda d: [str(i) for i in d["ids"]])


def _recall(
    query: str,
    namespace: Sequence[str] | None,
    k: int,
    filter: Mapping[str, Any] | None,
    since: TimeLike | None,
    until: TimeLike | None,
    include_superseded: bool,
    min_similarity: float | None,
    min_score: float | None = None,
    reference_time: TimeLike | None = None,
) -> _Call[RecallResult]:
    body = {
        "query": query,
        "namespace": _ns(namespace),
        "k": k,
        "filter": None if filter is None else dict(filter),
        "since": _time(since),
        "until": _time(until),
        "include_superseded": include_superseded,
        "min_similarity": min_similarity,
        "min_score": min_score,
        "reference_time": _time(reference_time),
    }
    return _Call("POST", "/v1/recall", body, _recall_result, idempotent=True)


def _vector(vector: npt.ArrayLike) -> Any:
    """A query vector as JSON: float32 values (exact on the way back to float32)."""
    return np.asarray(vector, dtype=np.float32).tolist()


def _recall_vector(
    vector: npt.ArrayLike,
    query: str,
    namespace: Sequence[str] | None,
    k: int,
    filter: Mapping[str, Any] | None,
    since: TimeLike | None,
    until: TimeLike | None,
    include_superseded: bool,
    min_similarity: float | None,
    min_score: float | None = None,
    reference_time: TimeLike | None = None,
) -> _Call[RecallResult]:
    call = _recall(
        query, namespace, k, filter, since, until, include_superseded, min_similarity, min_score, reference_time
    )
    return _Call("POST", "/v1/recall_vector", {**call.body, "vector": _vector(vector)}, _recall_result, idempotent=True)


def _recall_chain(
    query: str,
    hops: int,
    namespace: Sequence[str] | None,
    min_strength: float | None,
    filter: Mapping[str, Any] | None,
    vector: npt.ArrayLike | None = None,
    reference_time: TimeLike | None = None,
) -> _Call[Chain]:
    body = {
        "query": query,
        "hops": hops,
        "namespace": _ns(namespace),
        "min_strength": min_strength,
        "filter": None if filter is None else dict(filter),
        "vector": None if vector is None else _vector(vector),
        "reference_time": _time(reference_time),
    }
    return _Call("POST", "/v1/recall_chain", body, _chain, idempotent=True)


def _recall_groups(
    query: str,
    group_by: str,
    k: int,
    namespace: Sequence[str] | None,
    filter: Mapping[str, Any] | None,
    since: TimeLike | None,
    until: TimeLike | None,
    depth: int | None,
    method: str,
    vector: npt.ArrayLike | None,
    reference_time: TimeLike | None = None,
) -> _Call[builtins.list[GroupHit]]:
    body = {
        "query": query,
        "group_by": group_by,
        "k": k,
        "namespace": _ns(namespace),
        "filter": None if filter is None else dict(filter),
        "since": _time(since),
        "until": _time(until),
        "depth": depth,
        "method": method,
        "vector": None if vector is None else _vector(vector),
        "reference_time": _time(reference_time),
    }

    def parse(d: Any) -> builtins.list[GroupHit]:
        return [GroupHit(g["key"], g["score"], g["rank"], tuple(_hit(h) for h in g["hits"])) for g in d["groups"]]

    return _Call("POST", "/v1/recall_groups", body, parse, idempotent=True)


def _supersede(old: str, new: str) -> _Call[None]:
    return _Call("POST", "/v1/supersede", {"old": old, "new": new}, lambda d: None)


def _associations(id: str) -> _Call[builtins.list[tuple[str, float]]]:
    def parse(d: Any) -> builtins.list[tuple[str, float]]:
        return [(str(a["id"]), float(a["strength"])) for a in d["associations"]]

    return _Call("POST", "/v1/associations", {"id": id}, parse, idempotent=True)


def _forget_namespace(namespace: Sequence[str]) -> _Call[int]:
    body = {"namespace": namespace if isinstance(namespace, str) else list(namespace)}
    return _Call("POST", "/v1/forget_namespace", body, lambda d: int(d["forgotten"]))


def _forget_before(before: TimeLike, namespace: Sequence[str] | None) -> _Call[int]:
    body = {"before": _time(before), "namespace": _ns(namespace)}
    return _Call("POST", "/v1/forget_before", body, lambda d: int(d["forgotten"]))


def _count(namespace: Sequence[str] | None) -> _Call[int]:
    return _Call("POST", "/v1/count", {"namespace": _ns(namespace)}, lambda d: int(d["count"]), idempotent=True)


def _export(namespace: Sequence[str] | None, include_superseded: bool) -> _Call[builtins.list[dict[str, Any]]]:
    body = {"namespace": _ns(namespace), "include_superseded": include_superseded}
    return _Call("POST", "/v1/export", body, lambda d: [dict(r) for r in d["records"]], idempotent=True)


def _write_jsonl(path: str | os.PathLike[str], records: builtins.list[dict[str, Any]]) -> int:
    """Write ``records`` as JSON lines to a local file, replaced atomically as the engine's export is."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return len(records)


def _associate(source: str, target: str, strength: float, bidirectional: bool) -> _Call[None]:
    body = {"source": source, "target": target, "strength": strength, "bidirectional": bidirectional}
    return _Call("POST", "/v1/associate", body, lambda d: None)


def _path_id(id: str) -> str:
    if not isinstance(id, str) or not id:
        raise _errors.MemoryNotFoundError(f"no memory with id {id!r}")
    return "/v1/memories/" + quote(id, safe="")


def _get(id: str) -> _Call[Memory]:
    return _Call("GET", _path_id(id), None, _memory, idempotent=True)


def _update(
    id: str,
    text: str | None,
    metadata: Mapping[str, Any] | None,
    timestamp: TimeLike | None,
    cues: Sequence[str] | None,
) -> _Call[Memory]:
    body = {
        "text": text,
        "metadata": None if metadata is None else dict(metadata),
        "timestamp": _time(timestamp),
        "cues": None if cues is None else list(cues),
    }
    return _Call("PATCH", _path_id(id), body, _memory)


def _forget(ids: str | Sequence[str]) -> _Call[int]:
    id_list = [ids] if isinstance(ids, str) else list(ids)
    return _Call("POST", "/v1/forget", {"ids": id_list}, lambda d: int(d["forgotten"]))


def _list(
    namespace: Sequence[str] | None,
    filter: Mapping[str, Any] | None,
    limit: int | None,
    offset: int,
    newest_first: bool,
) -> _Call[builtins.list[Memory]]:
    body = {
        "namespace": _ns(namespace),
        "filter": None if filter is None else dict(filter),
        "limit": limit,
        "offset": offset,
        "newest_first": newest_first,
    }
    return _Call("POST", "/v1/list", body, lambda d: [_memory(m) for m in d], idempotent=True)


def _namespaces(prefix: Sequence[str] | None, max_depth: int | None) -> _Call[builtins.list[Namespace]]:
    body = {"prefix": _ns(prefix), "max_depth": max_depth}
    return _Call("POST", "/v1/namespaces", body, lambda d: [tuple(ns) for ns in d["namespaces"]], idempotent=True)


def _stats() -> _Call[dict[str, Any]]:
    return _Call("GET", "/v1/stats", None, lambda d: cast(dict[str, Any], d), idempotent=True)


def _config() -> _Call[HippoConfig]:
    return _Call("GET", "/v1/config", None, HippoConfig.model_validate, idempotent=True)


def _consolidate(
    now: TimeLike | None,
    replay: bool,
    replay_budget: int | None,
    decay: bool,
    merge: bool,
    compact: bool | None,
    full: bool,
) -> _Call[ConsolidationReport]:
    body = {
        "now": _time(now),
        "replay": replay,
        "replay_budget": replay_budget,
        "decay": decay,
        "merge": merge,
        "compact": compact,
        "full": full,
    }
    return _Call("POST", "/v1/consolidate", body, _report)


def _headers(api_key: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    out = {"user-agent": "hippo-memory-client", **(headers or {})}
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


def _delay(attempt: int, backoff: float) -> float:
    return float(min(backoff * (2**attempt), 5.0) * (0.5 + random.random() / 2))
