"""Rendering recall results for models (text) and for programs (JSON-ready dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hippo_memory import Chain, Memory, RecallHit

__all__ = ["chain_records", "format_chain", "format_hits", "hit_record", "memory_record"]


def _when(memory: Memory) -> datetime:
    return memory.timestamp or memory.created_at


def memory_record(memory: Memory) -> dict[str, Any]:
    """A memory as a JSON-ready dict."""
    return {
        "id": memory.id,
        "text": memory.text,
        "namespace": list(memory.namespace),
        "metadata": dict(memory.metadata),
        "timestamp": memory.timestamp.isoformat() if memory.timestamp else None,
        "created_at": memory.created_at.isoformat(),
        "session": memory.session,
    }


def hit_record(hit: RecallHit) -> dict[str, Any]:
    """A recall hit as a JSON-ready dict: the memory, its score and diagnostics."""
    diag = hit.diagnostics
    return {
        **memory_record(hit.memory),
        "score": hit.score,
        "rank": hit.rank,
        "similarity": diag.similarity,
        "attention": diag.attention,
        "cues_matched": diag.cues_matched,
        "best_cue": diag.best_cue.text,
        "best_cue_kind": diag.best_cue.kind,
    }


def chain_records(chain: Chain) -> list[dict[str, Any]]:
    """The hops of a chain as JSON-ready dicts."""
    return [
        {**memory_record(hop.memory), "hop": hop.hop, "score": hop.score, "overlap": hop.overlap}
        for hop in chain
    ]


def format_hits(query: str, hits: list[RecallHit]) -> str:
    """Hits as a numbered list a model can read, best first."""
    if not hits:
        return f"No memories found for {query!r}."
    lines = [f"Recalled {len(hits)} memories for {query!r}, most relevant first:"]
    for i, hit in enumerate(hits, start=1):
        lines.append(
            f"{i}. [{_when(hit.memory):%Y-%m-%d}, score {hit.score:.2f}] {hit.memory.text}"
        )
    return "\n".join(lines)


_STOPS = {
    "hops": "reached the requested number of hops",
    "faded": "the next association was too weak",
    "no_link": "the last memory has no further association",
    "no_start": "nothing matched the query",
}


def format_chain(chain: Chain) -> str:
    """A chain hop by hop, with why it stopped."""
    if not chain.hops:
        return f"No memories found for {chain.query!r}."
    n = len(chain) - 1
    lines = [f"Association chain for {chain.query!r} ({n} hop{'' if n == 1 else 's'}):"]
    for hop in chain:
        how = "recalled from the query" if hop.hop == 0 else "associated with the previous hop"
        lines.append(
            f"hop {hop.hop} ({how}, score {hop.score:.2f}) "
            f"[{_when(hop.memory):%Y-%m-%d}] {hop.memory.text}"
        )
    lines.append(f"Stopped: {_STOPS.get(chain.stop_reason, chain.stop_reason)}.")
    return "\n".join(lines)
