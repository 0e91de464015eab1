"""Request and response bodies of the REST API (pydantic), and the engine records as JSON.

Namespaces are JSON arrays of labels (``["users", "alice"]``), times ISO 8601 strings
or epoch seconds. Responses nest what the engine nests (a hit holds its memory and its
diagnostics), so :mod:`hippo_memory.client` rebuilds the very same dataclasses.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from .._grouping import GroupHit
from .._types import Chain, ConsolidationReport, Memory, RecallHit, RecallResult

__all__ = [
    "MAX_BATCH",
    "MAX_HOPS",
    "MAX_K",
    "MAX_LIST",
    "MAX_VECTOR",
    "AssociateRequest",
    "AssociationOut",
    "AssociationsOut",
    "AssociationsRequest",
    "ChainOut",
    "ConsolidateRequest",
    "CountOut",
    "CountRequest",
    "ErrorOut",
    "ExportOut",
    "ExportRequest",
    "ForgetBeforeRequest",
    "ForgetNamespaceRequest",
    "ForgetOut",
    "ForgetRequest",
    "GroupsOut",
    "IdOut",
    "IdsOut",
    "ListRequest",
    "MemoryItem",
    "MemoryOut",
    "NamespacesOut",
    "NamespacesRequest",
    "OkOut",
    "RecallChainRequest",
    "RecallGroupsRequest",
    "RecallOut",
    "RecallRequest",
    "RecallVectorRequest",
    "RememberManyRequest",
    "RememberRequest",
    "SupersedeRequest",
    "UpdateRequest",
    "chain_out",
    "groups_out",
    "memory_out",
    "recall_out",
    "report_out",
]

MAX_BATCH = 1000
"""Most items one ``remember_many`` request may carry."""
MAX_K = 1000
"""Largest ``k`` of a recall."""
MAX_HOPS = 64
"""Longest chain one request may ask for."""
MAX_LIST = 10_000
"""Most memories one ``list`` request returns; page with ``offset``."""
MAX_VECTOR = 8192
"""Most dimensions of a query vector (the encoder's dimension must match anyway)."""

Number = StrictFloat | StrictInt
"""A JSON number; ``true``/``false`` are refused as the engine refuses bools (lax pydantic would make them 1.0/0.0)."""
TimeIn = Number | str
Label = str
NamespaceIn = list[Label]
VectorIn = list[Number]
_STRICT = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- requests
class RememberRequest(BaseModel):
    model_config = _STRICT

    text: str = Field(description="The content to remember.")
    namespace: NamespaceIn = Field(default=["default"], description='Where to store it, e.g. ["users", "alice"].')
    metadata: dict[str, Any] | None = Field(default=None, description="JSON object, returned unchanged and filterable.")
    timestamp: TimeIn | None = Field(default=None, description="When the event happened: ISO 8601 or epoch seconds.")
    cues: list[str] = Field(default=[], description="Extra cue texts to recall it by.")
    session: str | None = Field(default=None, description="Conversation id; consecutive memories are linked.")
    id: str | None = Field(default=None, description="Your own id (unique across the store).")
    salience: float | bool | None = Field(default=None, description="Importance from 0 to 1.")
    ttl: Number | None = Field(default=None, description="Seconds until the memory expires.")
    supersedes: str | None = Field(default=None, description="Id of a memory of the same namespace this one replaces.")


class MemoryItem(BaseModel):
    """One item of a batch; its keys override the batch defaults."""

    model_config = _STRICT

    text: str
    metadata: dict[str, Any] | None = None
    timestamp: TimeIn | None = None
    cues: list[str] | None = None
    id: str | None = None
    session: str | None = None
    namespace: NamespaceIn | None = None
    salience: float | bool | None = None
    ttl: Number | None = None
    supersedes: str | None = None


class RememberManyRequest(BaseModel):
    model_config = _STRICT

    items: list[str | MemoryItem] = Field(max_length=MAX_BATCH, description="Texts or item objects.")
    namespace: NamespaceIn = Field(default=["default"], description="Default namespace of the items.")
    session: str | None = None
    metadata: dict[str, Any] | None = None
    timestamp: TimeIn | None = None


class RecallRequest(BaseModel):
    model_config = _STRICT

    query: str = Field(description="A question or partial cue.")
    namespace: NamespaceIn | None = Field(default=None, description="Search this namespace and below; null for all.")
    k: int = Field(default=5, ge=1, le=MAX_K, description="Memories wanted.")
    filter: dict[str, Any] | None = Field(default=None, description="Metadata conditions (LangGraph's dialect).")
    since: TimeIn | None = None
    until: TimeIn | None = None
    include_superseded: bool = False
    min_similarity: Number | None = None
    min_score: Number | None = Field(
        default=None, description="Drop hits scoring below this (a calibrated probability of relevance)."
    )
    reference_time: TimeIn | None = Field(
        default=None,
        description="The 'now' that relative dates in the query ('last Saturday') count from: epoch seconds or "
        "ISO 8601 (no offset: UTC); null: the server's clock.",
    )


class RecallChainRequest(BaseModel):
    model_config = _STRICT

    query: str
    hops: int = Field(default=3, ge=0, le=MAX_HOPS, description="Associations to follow after the first memory.")
    namespace: NamespaceIn | None = None
    min_strength: Number | None = None
    filter: dict[str, Any] | None = None
    vector: VectorIn | None = Field(
        default=None,
        max_length=MAX_VECTOR,
        description="The query already encoded (float32 values), else the server encodes `query`.",
    )
    reference_time: TimeIn | None = Field(
        default=None,
        description="The 'now' that relative dates in the query ('last Saturday') count from: epoch seconds or "
        "ISO 8601 (no offset: UTC); null: the server's clock.",
    )


class RecallVectorRequest(BaseModel):
    model_config = _STRICT

    vector: VectorIn = Field(min_length=1, max_length=MAX_VECTOR, description="The query, encoded by the caller.")
    query: str = Field(default="", description="The query text, for the lexical channel and the result.")
    namespace: NamespaceIn | None = None
    k: int = Field(default=5, ge=1, le=MAX_K)
    filter: dict[str, Any] | None = None
    since: TimeIn | None = None
    until: TimeIn | None = None
    include_superseded: bool = False
    min_similarity: Number | None = None
    min_score: Number | None = Field(
        default=None, description="Drop hits scoring below this (a calibrated probability of relevance)."
    )
    reference_time: TimeIn | None = Field(
        default=None,
        description="The 'now' that relative dates in the query ('last Saturday') count from: epoch seconds or "
        "ISO 8601 (no offset: UTC); null: the server's clock.",
    )


class RecallGroupsRequest(BaseModel):
    model_config = _STRICT

    query: str
    group_by: str = Field(description="The metadata key whose value names a memory's group (e.g. a session id).")
    k: int = Field(default=5, ge=1, le=MAX_K, description="Groups wanted.")
    namespace: NamespaceIn | None = None
    filter: dict[str, Any] | None = None
    since: TimeIn | None = None
    until: TimeIn | None = None
    depth: int | None = Field(default=None, ge=1, le=MAX_K, description="Memories recalled to aggregate.")
    method: Literal["max", "top_mean", "soft_or", "rank_sum"] = "max"
    vector: VectorIn | None = Field(default=None, max_length=MAX_VECTOR, description="The query already encoded.")
    reference_time: TimeIn | None = Field(
        default=None,
        description="The 'now' that relative dates in the query ('last Saturday') count from: epoch seconds or "
        "ISO 8601 (no offset: UTC); null: the server's clock.",
    )


class AssociateRequest(BaseModel):
    model_config = _STRICT

    source: str = Field(description="Id of the cueing memory.")
    target: str = Field(description="Id of the memory it should bring to mind (same namespace).")
    strength: Number = 1.0
    bidirectional: bool = False


class UpdateRequest(BaseModel):
    model_config = _STRICT

    text: str | None = None
    metadata: dict[str, Any] | None = None
    timestamp: TimeIn | None = None
    cues: list[str] | None = None


class ForgetRequest(BaseModel):
    model_config = _STRICT

    ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)


class ForgetNamespaceRequest(BaseModel):
    model_config = _STRICT

    namespace: NamespaceIn = Field(description="Forget every memory in this namespace and below it.")


class ForgetBeforeRequest(BaseModel):
    model_config = _STRICT

    before: TimeIn = Field(description="Forget memories dated before this time (their timestamp, else when stored).")
    namespace: NamespaceIn | None = Field(
        default=None, description="Only under this namespace; null: all the key may write."
    )


class SupersedeRequest(BaseModel):
    model_config = _STRICT

    old: str = Field(description="Id of the memory that is replaced (hidden from recall).")
    new: str = Field(description="Id of the memory that replaces it (same namespace).")


class AssociationsRequest(BaseModel):
    model_config = _STRICT

    id: str = Field(description="Id of the memory whose outgoing associations are wanted.")


class CountRequest(BaseModel):
    model_config = _STRICT

    namespace: NamespaceIn | None = None


class ExportRequest(BaseModel):
    model_config = _STRICT

    namespace: NamespaceIn | None = None
    include_superseded: bool = False


class ListRequest(BaseModel):
    model_config = _STRICT

    namespace: NamespaceIn | None = None
    filter: dict[str, Any] | None = None
    limit: int | None = Field(default=None, ge=0, le=MAX_LIST, description=f"At most {MAX_LIST} when omitted.")
    offset: int = Field(default=0, ge=0)
    newest_first: bool = False


class NamespacesRequest(BaseModel):
    model_config = _STRICT

    prefix: NamespaceIn | None = None
    max_depth: int | None = Field(default=None, ge=1, le=1000)


class ConsolidateRequest(BaseModel):
    model_config = _STRICT

    now: TimeIn | None = None
    replay: bool = True
    replay_budget: int | None = Field(default=None, ge=0)
    decay: bool = True
    merge: bool = True
    compact: bool | None = None
    full: bool = False


# ---------------------------------------------------------------------------- responses
class CueOut(BaseModel):
    text: str
    kind: str


class MemoryOut(BaseModel):
    id: str
    text: str
    namespace: list[str]
    metadata: dict[str, Any]
    timestamp: str | None
    created_at: str
    updated_at: str
    session: str | None
    cues: list[CueOut]
    salience: float
    novelty: float | None
    strength: float
    access_count: int
    expires_at: str | None
    superseded_by: str | None
    merged_from: list[str]
    time_cues: list[str] = Field(default_factory=list)


class DiagnosticsOut(BaseModel):
    similarity: float
    candidate_rank: int
    attention: float
    cues_matched: int
    best_cue: CueOut
    lexical_rank: int | None
    fused: float | None = None


class HitOut(BaseModel):
    memory: MemoryOut
    score: float
    rank: int
    diagnostics: DiagnosticsOut


class RecallOut(BaseModel):
    query: str
    namespace: list[str] | None
    hits: list[HitOut]
    n_candidates: int
    backend: str
    timings_ms: dict[str, float]


class GroupOut(BaseModel):
    key: str | int | float | bool
    score: float
    rank: int
    hits: list[HitOut]


class GroupsOut(BaseModel):
    groups: list[GroupOut]


class HopOut(BaseModel):
    hop: int
    memory: MemoryOut
    score: float
    overlap: float


class ChainOut(BaseModel):
    query: str
    hops: list[HopOut]
    stop_reason: Literal["hops", "faded", "no_link", "no_start"]


class IdOut(BaseModel):
    id: str


class IdsOut(BaseModel):
    ids: list[str]


class ForgetOut(BaseModel):
    forgotten: int


class OkOut(BaseModel):
    ok: bool = True


class CountOut(BaseModel):
    count: int


class AssociationOut(BaseModel):
    id: str
    strength: float


class AssociationsOut(BaseModel):
    associations: list[AssociationOut]


class ExportOut(BaseModel):
    """The records ``export_jsonl`` writes, one object per memory."""

    records: list[dict[str, Any]]


class NamespacesOut(BaseModel):
    namespaces: list[list[str]]
    counts: list[int] | None = Field(
        default=None, description="Memories under each namespace (it and below), in the order of `namespaces`."
    )


class ErrorOut(BaseModel):
    """Every error response: the error's class name (a ``HippoMemoryError`` subclass, or
    ``AuthenticationError``, ``PermissionDeniedError``, ``PayloadTooLargeError``,
    ``InternalServerError``) and a message."""

    error: str = Field(description="Class name of the error, e.g. MemoryNotFoundError.")
    message: str
    details: list[Any] | None = None


# ---------------------------------------------------------------------------- engine -> JSON
def memory_out(memory: Memory) -> dict[str, Any]:
    return memory.to_dict()


def _hit_out(hit: RecallHit) -> dict[str, Any]:
    return {
        "memory": hit.memory.to_dict(),
        "score": hit.score,
        "rank": hit.rank,
        "diagnostics": {
            "similarity": hit.diagnostics.similarity,
            "candidate_rank": hit.diagnostics.candidate_rank,
            "attention": hit.diagnostics.attention,
            "cues_matched": hit.diagnostics.cues_matched,
            "best_cue": {"text": hit.diagnostics.best_cue.text, "kind": hit.diagnostics.best_cue.kind},
            "lexical_rank": hit.diagnostics.lexical_rank,
            "fused": hit.diagnostics.fused,
        },
    }


def groups_out(groups: list[GroupHit]) -> dict[str, Any]:
    return {
        "groups": [
            {"key": g.key, "score": g.score, "rank": g.rank, "hits": [_hit_out(h) for h in g.hits]} for g in groups
        ]
    }


def recall_out(result: RecallResult) -> dict[str, Any]:
    return {
        "query": result.query,
        "namespace": None if result.namespace is None else list(result.namespace),
        "hits": [_hit_out(hit) for hit in result.hits],
        "n_candidates": result.n_candidates,
        "backend": result.backend,
        "timings_ms": dict(result.timings_ms),
    }


def chain_out(chain: Chain) -> dict[str, Any]:
    return {
        "query": chain.query,
        "stop_reason": chain.stop_reason,
        "hops": [
            {"hop": hop.hop, "memory": hop.memory.to_dict(), "score": hop.score, "overlap": hop.overlap}
            for hop in chain.hops
        ],
    }


def report_out(report: ConsolidationReport) -> dict[str, Any]:
    data = {key: getattr(report, key) for key in report.__dataclass_fields__}
    data["started_at"] = report.started_at.isoformat()
    return data
