"""``HippoRetriever``: hippo-memory recall as a LlamaIndex retriever."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from hippo_memory import InvalidInputError, RecallHit, validate_filter, validate_namespace
from hippo_memory.integration import MemoryBackend, as_memory_backend, recall_or_empty

__all__ = ["HippoRetriever", "hit_to_node"]

_HIDDEN_FROM_LLM = ["id", "namespace", "session", "diagnostics", "created_at"]
_DIAGNOSTICS = ("similarity", "candidate_rank", "attention", "cues_matched", "best_cue", "best_cue_kind", "rank")


def hit_to_node(hit: RecallHit) -> NodeWithScore:
    """A recall hit as a scored ``TextNode``.

    The node's id is the memory id and its score the engine's ranking score (settle
    attention, 0..1). Metadata: ``id``, ``namespace`` (list of labels), ``session``,
    ``timestamp`` and ``created_at`` (ISO 8601 or ``None``), ``metadata`` (the
    memory's own metadata) and ``diagnostics`` (similarity, candidate_rank,
    attention, cues_matched, best_cue, best_cue_kind, rank): a selection of
    ``RecallHit.to_dict()``. Only ``timestamp`` and ``metadata`` are shown to the LLM.
    """
    record = hit.to_dict()
    metadata: dict[str, Any] = {key: record[key] for key in ("id", "namespace", "session", "timestamp", "created_at")}
    metadata["metadata"] = record["metadata"]
    metadata["diagnostics"] = {key: record[key] for key in _DIAGNOSTICS}
    memory = hit.memory
    node = TextNode(
        id_=memory.id,
        text=memory.text,
        metadata=metadata,
        excluded_llm_metadata_keys=list(_HIDDEN_FROM_LLM),
        excluded_embed_metadata_keys=list(metadata),
    )
    return NodeWithScore(node=node, score=hit.score)


class HippoRetriever(BaseRetriever):
    """Retrieve memories from a hippo-memory engine as ``NodeWithScore``.

    Args:
        memory: The engine to search, or a HippoClient.
        namespace: Search this namespace and those below it; ``None`` for all.
        k: Memories returned per query.
        filter: Metadata conditions (see ``hippo_memory.matches_filter``).
        min_similarity: Leave out memories none of whose cues reaches this cosine
            similarity with the query; the engine applies it before taking the top ``k``.
        callback_manager: LlamaIndex callbacks.
        verbose: Print retrieval details.

    A namespace with nothing stored under it yields ``[]``; an empty query raises
    ``hippo_memory.EmptyTextError``.

    Example:
        >>> from hippo_memory import HashingEncoder, HippoMemory
        >>> engine = HippoMemory(encoder=HashingEncoder())
        >>> _ = engine.remember("Alice moved to Lisbon in 2021", namespace=("alice",))
        >>> retriever = HippoRetriever(engine, namespace=("alice",), k=1)
        >>> retriever.retrieve("Where did Alice move?")[0].node.get_content()
        'Alice moved to Lisbon in 2021'
    """

    def __init__(
        self,
        memory: MemoryBackend,
        *,
        namespace: Sequence[str] | None = None,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        min_similarity: float = 0.0,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        memory = as_memory_backend(memory)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, not {k!r}")
        if (
            isinstance(min_similarity, bool)
            or not isinstance(min_similarity, int | float)
            or not math.isfinite(min_similarity)
        ):
            raise InvalidInputError(f"min_similarity must be a finite number, not {min_similarity!r}")
        self.memory = memory
        validate_filter(filter)
        self.namespace = None if namespace is None else validate_namespace(namespace)
        self.k = k
        self.filter = dict(filter) if filter is not None else None
        self.min_similarity = float(min_similarity)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = recall_or_empty(
            self.memory,
            query_bundle.query_str,
            namespace=self.namespace,
            k=self.k,
            filter=self.filter,
            min_similarity=self.min_similarity,
        )
        return [hit_to_node(hit) for hit in result]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)
