"""``HippoVectorStore``: a LlamaIndex vector store over one namespace of a hippo-memory engine.

Every node is a memory: its id is the node id, its text the node's content (without
metadata) and its metadata what ``node_to_metadata_dict`` makes of the node (the
node's own metadata keys, ``ref_doc_id``, and the serialised node), so the node
comes back whole from a query and the metadata keys are filterable.

The engine encodes texts with its own encoder: node embeddings computed by the index
are not used. Queries therefore go by text (``is_embedding_query = False``, so
``VectorStoreIndex`` retrievers do not embed the query); a ``query_embedding``
given explicitly must be a vector of the engine's encoder.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from hippo_memory import (
    Encoder,
    HippoConfig,
    InvalidFilterError,
    InvalidInputError,
    Memory,
    MemoryInput,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    RecallResult,
    matches_filter,
    validate_namespace,
)
from hippo_memory import HippoMemory as HippoEngine
from hippo_memory.integration import MemoryBackend, MemoryBackendField, as_memory_backend, recall_or_empty

__all__ = ["HippoVectorStore", "to_hippo_filter"]

_OPERATORS: Mapping[FilterOperator, str] = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
}
_MODES = frozenset({VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.HYBRID})


# ---------------------------------------------------------------------- filters (pure)
def _collect(filters: MetadataFilters, into: dict[str, dict[str, Any]]) -> None:
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.OR and len(filters.filters) > 1:
        raise InvalidFilterError(
            "MetadataFilters with condition 'or' and several filters cannot be translated: "
            "the engine's filters are a conjunction (every condition must hold)"
        )
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise InvalidFilterError(f"filter condition {condition.value!r} is not supported; use 'and'")
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            _collect(item, into)
            continue
        op = _OPERATORS.get(item.operator)
        if op is None:
            raise InvalidFilterError(
                f"filter operator {item.operator.value!r} on {item.key!r} is not supported; "
                f"use one of {[o.value for o in _OPERATORS]}"
            )
        ops = into.setdefault(item.key, {})
        if op in ops and ops[op] != item.value:
            raise InvalidFilterError(f"filter sets {op} twice on {item.key!r} ({ops[op]!r} and {item.value!r})")
        ops[op] = item.value


def to_hippo_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """Translate LlamaIndex ``MetadataFilters`` into the engine's filter dialect.

    The engine (``hippo_memory.matches_filter``) takes ``{key: {"$op": operand}}``
    conditions that must all hold. Filters combined with ``and`` (nested ones too)
    are merged into one dict; ``==``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``
    and ``nin`` map to ``$eq`` ... ``$nin``.

    Args:
        filters: LlamaIndex filters, or ``None``.

    Returns:
        The engine filter, ``None`` for no filter.

    Raises:
        InvalidFilterError: ``or`` over several filters, ``not``, an operator the
            engine lacks (``any``, ``all``, ``contains``, ``text_match``,
            ``is_empty``), or one operator set twice on a key with different values.

    Example:
        >>> from llama_index.core.vector_stores.types import MetadataFilter
        >>> to_hippo_filter(MetadataFilters(filters=[MetadataFilter(key="year", value=2020, operator=">=")]))
        {'year': {'$gte': 2020}}
    """
    if filters is None:
        return None
    if not isinstance(filters, MetadataFilters):
        raise InvalidFilterError(f"filters must be MetadataFilters, not {type(filters).__name__}")
    merged: dict[str, dict[str, Any]] = {}
    _collect(filters, merged)
    return dict(merged) or None


def _with_doc_ids(filter: dict[str, Any] | None, doc_ids: Sequence[str] | None) -> dict[str, Any] | None:
    if not doc_ids:
        return filter
    out = dict(filter or {})
    ref = dict(out.get("ref_doc_id", {}))
    if "$in" in ref:
        raise InvalidFilterError("doc_ids and a filter with ref_doc_id 'in' cannot be combined")
    ref["$in"] = list(doc_ids)
    out["ref_doc_id"] = ref
    return out


# ---------------------------------------------------------------------- the store
class HippoVectorStore(BasePydanticVectorStore):
    """Nodes stored as memories of one namespace, queried by hippo-memory recall.

    Adding a node whose id is already stored in the namespace updates that memory in
    place (re-insertion is idempotent); an id held by a memory outside the namespace
    is refused, since memory ids are unique across the engine. The store reads its
    namespace with those below it (as engine recall does) and never reads, deletes
    or clears memories elsewhere.

    **Scores.** ``similarities`` are the engine's scores (``RecallHit.score``):
    under the default learned ranker a calibrated probability in [0, 1] that the
    node is relevant to ``query_str``, comparable across queries; they are not
    cosine similarities. Query modes ``default`` and ``hybrid`` are the same recall, which
    always fuses the two channels.

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> from llama_index.core import MockEmbedding, StorageContext, VectorStoreIndex
        >>> from llama_index.core.schema import TextNode
        >>> store = HippoVectorStore(memory=HippoMemory(encoder=HashingEncoder()))
        >>> index = VectorStoreIndex(
        ...     [TextNode(text="Alice moved to Lisbon")],
        ...     storage_context=StorageContext.from_defaults(vector_store=store),
        ...     embed_model=MockEmbedding(embed_dim=8),
        ... )
        >>> index.as_retriever(similarity_top_k=1).retrieve("Where did Alice move?")[0].text
        'Alice moved to Lisbon'
    """

    stores_text: bool = True
    is_embedding_query: bool = Field(
        default=False,
        description=(
            "Whether retrievers should embed the query with the index's embed model. Leave False "
            "unless that model is the engine's encoder: the engine encodes query_str itself."
        ),
    )
    flat_metadata: bool = Field(default=False, description="Require node metadata to be flat (str, int, float, None).")
    memory: MemoryBackendField = Field(
        description="The hippo-memory engine (or a HippoClient) holding the nodes.", exclude=True
    )
    namespace: tuple[str, ...] = Field(
        default=("llama_index", "vectors"), description="Namespace of the nodes (labels without periods)."
    )

    def __init__(self, **data: Any) -> None:
        # Validated here so that the engine's typed errors reach the caller.
        if "namespace" in data:
            data["namespace"] = validate_namespace(data["namespace"])
        if "memory" in data:
            data["memory"] = as_memory_backend(data["memory"])  # NotAMemoryBackendError is a TypeError
        super().__init__(**data)

    _owns_memory: bool = PrivateAttr(default=False)

    @classmethod
    def class_name(cls) -> str:
        return "HippoVectorStore"

    @classmethod
    def from_params(
        cls,
        uri: str | os.PathLike[str],
        /,
        *,
        namespace: Sequence[str] = ("llama_index", "vectors"),
        encoder: Encoder | str | os.PathLike[str] | None = None,
        config: HippoConfig | None = None,
        **kwargs: Any,
    ) -> HippoVectorStore:
        """Open an engine and a store on it, as other LlamaIndex vector stores' ``from_params``.

        The store owns the engine: :meth:`close` closes it.

        Args:
            uri: A store directory, a ``postgresql://`` URL (``hippo-memory[postgres]``)
                or ``":memory:"`` for an engine that lives in RAM only.
            namespace: Namespace of the nodes.
            encoder: The engine's encoder (the default model when omitted); must be
                the one the store was written with.
            config: Engine settings.
            **kwargs: Other fields (``flat_metadata``, ``is_embedding_query``).
        """
        path = None if os.fspath(uri) == ":memory:" else uri
        memory = HippoEngine(path, encoder=encoder, config=config)
        try:
            store = cls(memory=memory, namespace=namespace, **kwargs)
        except BaseException:
            memory.close()
            raise
        store._owns_memory = True
        return store

    def close(self) -> None:
        """Close the engine if :meth:`from_params` opened it (else the caller closes it)."""
        if self._owns_memory and isinstance(self.memory, HippoEngine):
            self.memory.close()

    @property
    def client(self) -> MemoryBackend:
        """The engine (or the HippoClient)."""
        return self.memory

    # ------------------------------------------------------------------ scope
    def _owns(self, memory: Memory) -> bool:
        return memory.namespace[: len(self.namespace)] == self.namespace

    def _owned(self, node_id: str) -> Memory | None:
        try:
            found = self.memory.get(node_id)
        except MemoryNotFoundError:
            return None
        return found if self._owns(found) else None

    def _select(self, node_ids: Sequence[str] | None, filters: MetadataFilters | None) -> list[Memory]:
        """Memories of the namespace with these ids and matching the filters (none given: none)."""
        engine_filter = to_hippo_filter(filters)
        if node_ids is not None:
            found = (self._owned(node_id) for node_id in dict.fromkeys(node_ids))
            return [m for m in found if m is not None and matches_filter(m.metadata, engine_filter)]
        if engine_filter is None:
            return []
        return self.memory.list(self.namespace, filter=engine_filter)

    # ------------------------------------------------------------------ writing
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store nodes as memories; a node whose id is stored in the namespace is updated.

        New nodes are written in one batch (all or none); each update is its own write.

        Returns:
            The node ids, in input order.

        Raises:
            InvalidInputError: a node id repeats, or belongs to a memory outside the
                namespace; the engine's errors for empty or over-long texts and
                non-JSON metadata.
        """
        ids = [node.node_id for node in nodes]
        if len(ids) != len(set(ids)):
            raise InvalidInputError("node ids must be unique within one add")
        new: list[MemoryInput] = []
        updates: list[tuple[str, str, dict[str, Any]]] = []
        for node in nodes:
            text = node.get_content(metadata_mode=MetadataMode.NONE)
            metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=self.flat_metadata)
            try:
                existing = self.memory.get(node.node_id)
            except MemoryNotFoundError:
                new.append({"id": node.node_id, "text": text, "metadata": metadata})
                continue
            if not self._owns(existing):
                raise InvalidInputError(
                    f"node id {node.node_id!r} belongs to a memory outside namespace {self.namespace!r}; "
                    "memory ids are unique across the engine"
                )
            updates.append((node.node_id, text, metadata))
        if new:
            self.memory.remember_many(new, namespace=self.namespace)
        for node_id, text, metadata in updates:
            self.memory.update(node_id, text=text, metadata=metadata)
        return ids

    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Async twin of :meth:`add` (runs in a worker thread)."""
        return await asyncio.to_thread(self.add, nodes, **add_kwargs)

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Forget every node of the namespace that came from the document ``ref_doc_id``."""
        ids = [m.id for m in self.memory.list(self.namespace, filter={"ref_doc_id": ref_doc_id})]
        if ids:
            self.memory.forget(ids)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async twin of :meth:`delete`."""
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Forget nodes of the namespace by id and/or filter; missing ids are skipped.

        With neither ``node_ids`` nor ``filters``, nothing is forgotten (see :meth:`clear`).
        """
        ids = [m.id for m in self._select(node_ids, filters)]
        if ids:
            self.memory.forget(ids)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Async twin of :meth:`delete_nodes`."""
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    def clear(self) -> None:
        """Forget every node of the namespace (and of the namespaces below it)."""
        self.memory.forget_namespace(self.namespace)

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await asyncio.to_thread(self.clear)

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _node(memory: Memory) -> BaseNode:
        metadata = dict(memory.metadata)
        try:
            return metadata_dict_to_node(metadata, text=memory.text)
        except ValueError:  # a memory not written by a vector store
            return TextNode(id_=memory.id, text=memory.text, metadata=metadata)

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Nodes of the namespace by id (in the order given, missing ones skipped) and/or filter."""
        return [self._node(m) for m in self._select(node_ids, filters)]

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Async twin of :meth:`get_nodes`."""
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    def _recall(self, query: VectorStoreQuery) -> RecallResult:
        if query.mode not in _MODES:
            raise NotImplementedError(
                f"query mode {query.mode.value!r} is not supported; 'default' and 'hybrid' both run "
                "hippo-memory recall, which fuses vector and lexical ranking"
            )
        if query.node_ids:
            raise NotImplementedError("querying within node_ids is not supported; filter by metadata or doc_ids")
        options: dict[str, Any] = {
            "namespace": self.namespace,
            "k": query.similarity_top_k,
            "filter": _with_doc_ids(to_hippo_filter(query.filters), query.doc_ids),
        }
        text = query.query_str or ""
        if query.query_embedding is not None:
            vector = np.asarray(query.query_embedding, dtype=np.float32)
            try:
                return self.memory.recall_vector(vector, query=text, **options)
            except NamespaceNotFoundError:
                return RecallResult(text, self.namespace, (), 0, "none")
        if not text:
            raise InvalidInputError("a query needs query_str or query_embedding")
        return recall_or_empty(self.memory, text, **options)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Recall the ``similarity_top_k`` nodes best matching the query.

        ``query_str`` is recalled (its encoding and its words); a ``query_embedding``,
        when given, replaces the encoding and must come from the engine's encoder.
        ``filters`` and ``doc_ids`` restrict the candidates before the top k is taken.

        Returns:
            Nodes best first, their ids and the engine's ranking scores (empty when
            the namespace holds nothing).

        Raises:
            NotImplementedError: a query mode other than default/hybrid, or ``node_ids``.
            InvalidFilterError: filters the engine cannot express (see :func:`to_hippo_filter`).
        """
        result = self._recall(query)
        return VectorStoreQueryResult(
            nodes=[self._node(hit.memory) for hit in result],
            similarities=[hit.score for hit in result],
            ids=[hit.memory.id for hit in result],
        )

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async twin of :meth:`query` (runs in a worker thread)."""
        return await asyncio.to_thread(self.query, query, **kwargs)
