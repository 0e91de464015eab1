"""Memory ids as one API key sees them: caller-chosen ids live in the key's own id space.

The engine's ids are unique across the whole store. Served as they are, a tenant
choosing ``id="x"`` would be told "already exists" when another tenant holds ``x``,
and so learn of it. The service therefore stores an id chosen through a key bound to
the prefix ``("users", "alice")`` as ``"users.alice.x"`` (labels hold no period, so
the scope is unambiguous) and hands it back as ``"x"``; tenants with different
prefixes can never choose the same stored id. Generated ids (UUIDs) and ids chosen
through a whole-store key are stored as they are.

A key reading an id tries its own scope first, then the id as given; either way the
memory must lie under the key's prefix, else it is absent (404), with the same message
as an id nobody holds. A key with a shorter prefix (``("users",)``) sees the memories
of ``users/alice`` under ids relative to its own scope (``"alice.x"``), which it can pass
back, and a whole-store key sees the stored ids.

The one ambiguity left is deliberate: a whole-store key that chooses the raw id ``x``
inside a tenant's namespace where the tenant also chose ``x`` makes two memories the
tenant sees as ``x``; lookups then find the tenant's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from .._types import Chain, Memory, Namespace, RecallHit, RecallResult

__all__ = ["IdScope"]


class IdScope:
    """The id space of one namespace prefix.

    Args:
        prefix: The key's namespace prefix; ``()`` (the whole store) maps ids to themselves.
    """

    __slots__ = ("scope",)

    def __init__(self, prefix: Namespace) -> None:
        self.scope = "".join(f"{label}." for label in prefix)

    def stored(self, id: str) -> str:
        """The id a caller-chosen ``id`` is stored under."""
        return self.scope + id

    def candidates(self, id: str) -> tuple[str, ...]:
        """Stored ids an ``id`` from this key may name, most specific first."""
        return (self.scope + id, id) if self.scope else (id,)

    def shown(self, id: str) -> str:
        """A stored id as this key sees it."""
        return id[len(self.scope) :] if self.scope and id.startswith(self.scope) else id

    def shown_ids(self, ids: Iterable[str]) -> list[str]:
        return [self.shown(i) for i in ids]

    def memory(self, memory: Memory) -> Memory:
        """``memory`` with its id, ``superseded_by`` and ``merged_from`` as this key sees them."""
        if not self.scope:
            return memory
        return dataclasses.replace(
            memory,
            id=self.shown(memory.id),
            superseded_by=None if memory.superseded_by is None else self.shown(memory.superseded_by),
            merged_from=tuple(self.shown_ids(memory.merged_from)),
        )

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        """An exported JSON record (see :func:`hippo_memory._export.export_records`) as this key sees it."""
        if self.scope:
            record["id"] = self.shown(record["id"])
            if record.get("superseded_by") is not None:
                record["superseded_by"] = self.shown(record["superseded_by"])
            record["merged_from"] = self.shown_ids(record.get("merged_from") or [])
        return record

    def result_hits(self, hits: Iterable[RecallHit]) -> tuple[RecallHit, ...]:
        return tuple(dataclasses.replace(h, memory=self.memory(h.memory)) for h in hits)

    def result(self, result: RecallResult) -> RecallResult:
        if not self.scope:
            return result
        return dataclasses.replace(result, hits=self.result_hits(result.hits))

    def chain(self, chain: Chain) -> Chain:
        if not self.scope:
            return chain
        hops = tuple(dataclasses.replace(h, memory=self.memory(h.memory)) for h in chain.hops)
        return dataclasses.replace(chain, hops=hops)

    def message(self, text: str) -> str:
        """An engine error message with stored ids (quoted, as the engine quotes them) shown as this key sees them."""
        if not self.scope:
            return text
        return text.replace(f"'{self.scope}", "'").replace(f'"{self.scope}', '"')
