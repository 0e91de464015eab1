"""``HippoVectorStore``: a LangChain ``VectorStore`` over one namespace of a hippo-memory engine.

Documents are memories: ``page_content`` is the memory's text, ``metadata`` its
metadata (returned exactly as given) and ``id`` its id. The engine encodes texts
itself, with its own encoder, so :attr:`HippoVectorStore.embeddings` is that
encoder seen as LangChain ``Embeddings``: vectors it makes are the ones
:meth:`~HippoVectorStore.similarity_search_by_vector` understands. Over a
:class:`~hippo_memory.HippoClient` the server encodes; searches by vector and MMR
then need ``embeddings=`` (the server's encoder model, run here).

Filters are LangChain's usual dicts (``{"genre": "sf", "year": {"$gte": 2000}}``,
``{"$and": [...]}``), translated by :func:`to_hippo_filter` into the engine's
LangGraph-style dialect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from hippo_memory import (
    HippoMemory,
    InvalidConfigError,
    InvalidInputError,
    Memory,
    MemoryInput,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    RecallResult,
    validate_namespace,
)
from hippo_memory.integration import (
    MemoryBackend,
    arecall_or_empty,
    as_memory_backend,
    recall_or_empty,
)
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from ._encoder import EmbeddingsEncoder
from ._filters import to_hippo_filter

__all__ = ["DEFAULT_VECTORSTORE_NAMESPACE", "HippoVectorStore"]

DEFAULT_VECTORSTORE_NAMESPACE: tuple[str, ...] = ("vectorstore",)
"""Namespace of a :class:`HippoVectorStore` built without one."""

_SEARCH_OPTIONS = frozenset({"since", "until", "min_similarity", "min_score", "include_superseded"})
_ADD_OPTIONS = frozenset({"batch_size"})  # passed by langchain_core.indexing.index; one batch here


# ---------------------------------------------------------------------- helpers
class _EncoderEmbeddings(Embeddings):
    """The engine's encoder as LangChain ``Embeddings`` (documents and queries alike)."""

    def __init__(self, memory: HippoMemory) -> None:
        self._memory = memory

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self._memory.encoder.encode(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class _Entry(NamedTuple):
    text: str
    metadata: dict[str, Any]
    id: str | None


def _entries(
    texts: Iterable[str], metadatas: list[dict[str, Any]] | None, ids: Sequence[str | None] | None
) -> list[_Entry]:
    text_list = list(texts)
    n = len(text_list)
    if metadatas is not None and len(metadatas) != n:
        raise InvalidInputError(f"got {len(metadatas)} metadatas for {n} texts")
    if ids is not None and len(ids) != n:
        raise InvalidInputError(f"got {len(ids)} ids for {n} texts")
    id_list: list[str | None] = list(ids) if ids is not None else [None] * n
    given = [i for i in id_list if i]
    if len(given) != len(set(given)):
        raise InvalidInputError("ids must be unique within one call")
    return [
        _Entry(text, dict(metadatas[i]) if metadatas is not None else {}, id_list[i] or None)
        for i, text in enumerate(text_list)
    ]


def _document(memory: Memory) -> Document:
    return Document(id=memory.id, page_content=memory.text, metadata=dict(memory.metadata))


def _check_options(kwargs: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(kwargs) - allowed
    if unknown:
        raise InvalidInputError(f"unknown options {sorted(unknown)}; use {sorted(allowed)}")


class HippoVectorStore(VectorStore):
    """A LangChain vector store whose documents are memories of one namespace.

    The store writes to ``namespace`` and reads it with the namespaces below it (as
    engine recall does); :meth:`get_by_ids` and :meth:`delete` ignore memories
    elsewhere in the engine, so several stores, or a store beside other adapters,
    can share one engine.

    Adding a document whose id exists in the store updates that memory in place
    (text re-encoded, metadata replaced): adding the same ids twice is idempotent.
    An id held by a memory outside the namespace is refused, since memory ids are
    unique across the engine.

    **Scores.** :meth:`similarity_search_with_score` returns the engine's score
    (``RecallHit.score``): under the default learned ranker a calibrated probability
    in [0, 1] that the document is relevant to the query, so one threshold means
    the same for every query and an unrelated query scores low. It is not a cosine
    similarity. To drop unrelated documents, pass ``min_score`` (on that
    probability) or ``min_similarity`` (a floor on the cosine between the query and
    the document's best cue). Relevance scores
    (``similarity_search_with_relevance_scores``) are these scores, clipped to
    [0, 1] (under ``ranker="fusion"`` the hand-set score can exceed 1).

    Searches accept, besides ``k`` and ``filter``: ``since``/``until`` (the memory's
    timestamp), ``min_similarity``, ``min_score`` and ``include_superseded``. Every hit counts as
    an access of its memory, as recall does.

    Args:
        memory: The engine, whose encoder embeds documents and queries, or a
            :class:`~hippo_memory.HippoClient`, whose server encodes what it stores
            and recalls.
        namespace: Where the documents live.
        embeddings: Only with a client: the server's encoder model as LangChain
            ``Embeddings``, for searches by vector and MMR (which re-encode here).
            Without it those raise ``InvalidConfigError``; text searches need none.

    Raises:
        NotAMemoryBackendError: ``memory`` is neither an engine nor a client.
        InvalidConfigError: ``embeddings`` given with an engine (it encodes with its own).

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> store = HippoVectorStore(HippoMemory(encoder=HashingEncoder()), namespace=("docs",))
        >>> store.add_texts(["Alice moved to Lisbon"], [{"who": "alice"}], ids=["a1"])
        ['a1']
        >>> store.similarity_search("Where did Alice move?", k=1, filter={"who": "alice"})[0].id
        'a1'
    """

    def __init__(
        self,
        memory: MemoryBackend,
        *,
        namespace: Sequence[str] = DEFAULT_VECTORSTORE_NAMESPACE,
        embeddings: Embeddings | None = None,
    ) -> None:
        self.memory = as_memory_backend(memory)
        self.namespace = validate_namespace(namespace)
        self._embeddings: Embeddings | None = embeddings
        if isinstance(memory, HippoMemory):
            if embeddings is not None:
                raise InvalidConfigError(
                    "an engine encodes with its own encoder: "
                    "pass embeddings= only with a HippoClient"
                )
            encoder = memory.encoder
            self._embeddings = (
                encoder.embeddings
                if isinstance(encoder, EmbeddingsEncoder)
                else _EncoderEmbeddings(memory)
            )

    @property
    def embeddings(self) -> Embeddings | None:
        """The engine's encoder as LangChain ``Embeddings``.

        The ``Embeddings`` wrapped by an :class:`EmbeddingsEncoder` engine encoder, or
        else an adapter calling the engine's encoder. Its vectors are in the space
        :meth:`similarity_search_by_vector` searches (the engine L2-normalises them).
        Over a client: the ``embeddings`` passed, else ``None``.
        """
        return self._embeddings

    def _local_embeddings(self) -> Embeddings:
        if self._embeddings is None:
            raise InvalidConfigError(
                "MMR over a HippoClient re-encodes the candidates here: pass "
                "HippoVectorStore(client, embeddings=...) with the server's encoder model"
            )
        return self._embeddings

    # ------------------------------------------------------------------ ids and scope
    def _owns(self, memory: Memory) -> bool:
        return memory.namespace[: len(self.namespace)] == self.namespace

    def _found(self, memory_id: str) -> Memory | None:
        try:
            return self.memory.get(memory_id)
        except MemoryNotFoundError:
            return None

    async def _afound(self, memory_id: str) -> Memory | None:
        try:
            return await self.memory.aget(memory_id)
        except MemoryNotFoundError:
            return None

    def _split(
        self, entries: list[_Entry], existing: Mapping[str, Memory | None]
    ) -> tuple[list[MemoryInput], list[_Entry]]:
        """New memories to remember in one batch, and the entries updating owned memories."""
        new: list[MemoryInput] = []
        updates: list[_Entry] = []
        for entry in entries:
            found = existing.get(entry.id) if entry.id else None
            if found is None:
                item: MemoryInput = {"text": entry.text, "metadata": entry.metadata}
                if entry.id:
                    item["id"] = entry.id
                new.append(item)
            elif self._owns(found):
                updates.append(entry)
            else:
                raise InvalidInputError(
                    f"id {entry.id!r} belongs to a memory outside namespace {self.namespace!r}; "
                    "memory ids are unique across the engine"
                )
        return new, updates

    @staticmethod
    def _ordered(entries: list[_Entry], updates: list[_Entry], new_ids: list[str]) -> list[str]:
        """The ids in input order: an update keeps its id, new entries take the engine's."""
        fresh = iter(new_ids)
        updated = {entry.id for entry in updates}
        return [entry.id if entry.id in updated and entry.id else next(fresh) for entry in entries]

    # ------------------------------------------------------------------ writing
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store texts as memories of the namespace; existing ids are updated in place.

        New texts are written in one batch (all or none); each update is its own
        write.

        Args:
            texts: The documents' contents.
            metadatas: JSON-compatible metadata per text.
            ids: Ids per text (``None`` entries get a fresh UUID).
            **kwargs: ``batch_size`` is accepted and ignored.

        Returns:
            The ids, in input order.

        Raises:
            InvalidInputError: lengths differ, an id repeats, an id belongs to a
                memory outside the namespace, or the engine rejects a text or metadata.
        """
        _check_options(kwargs, _ADD_OPTIONS)
        entries = _entries(texts, metadatas, ids)
        existing = {entry.id: self._found(entry.id) for entry in entries if entry.id}
        new, updates = self._split(entries, existing)
        new_ids = self.memory.remember_many(new, namespace=self.namespace) if new else []
        for entry in updates:
            self.memory.update(entry.id or "", text=entry.text, metadata=entry.metadata)
        return self._ordered(entries, updates, new_ids)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async twin of :meth:`add_texts`."""
        _check_options(kwargs, _ADD_OPTIONS)
        entries = _entries(texts, metadatas, ids)
        existing = {entry.id: await self._afound(entry.id) for entry in entries if entry.id}
        new, updates = self._split(entries, existing)
        new_ids = await self.memory.aremember_many(new, namespace=self.namespace) if new else []
        for entry in updates:
            await self.memory.aupdate(entry.id or "", text=entry.text, metadata=entry.metadata)
        return self._ordered(entries, updates, new_ids)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Forget documents by id; ``None`` forgets every document of the namespace.

        Ids that do not exist, or belong to memories outside the namespace, are
        skipped.

        Returns:
            ``True``.
        """
        _check_options(kwargs, frozenset())
        if ids is None:
            self.memory.forget_namespace(self.namespace)
            return True
        owned = [m.id for m in map(self._found, dict.fromkeys(ids)) if m and self._owns(m)]
        if owned:
            self.memory.forget(owned)
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Async twin of :meth:`delete`."""
        _check_options(kwargs, frozenset())
        if ids is None:
            await self.memory.aforget_namespace(self.namespace)
            return True
        found = [await self._afound(memory_id) for memory_id in dict.fromkeys(ids)]
        owned = [m.id for m in found if m and self._owns(m)]
        if owned:
            await self.memory.aforget(owned)
        return True

    # ------------------------------------------------------------------ reading
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order given; missing ids are skipped."""
        found = (self._found(memory_id) for memory_id in ids)
        return [_document(m) for m in found if m and self._owns(m)]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async twin of :meth:`get_by_ids`."""
        found = [await self._afound(memory_id) for memory_id in ids]
        return [_document(m) for m in found if m and self._owns(m)]

    def _recall_options(
        self, k: int, filter: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        _check_options(kwargs, _SEARCH_OPTIONS)
        return {"namespace": self.namespace, "k": k, "filter": to_hippo_filter(filter), **kwargs}

    def similarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """The ``k`` documents recalled for ``query``, best first, with the engine's scores.

        Args:
            query: A question or partial cue.
            k: Documents wanted.
            filter: A LangChain metadata filter (see :func:`to_hippo_filter`).
            **kwargs: ``since``, ``until``, ``min_similarity``, ``min_score``,
                ``include_superseded``.

        Returns:
            ``(document, score)`` pairs; the score is ``RecallHit.score`` (see the
            class docstring). ``[]`` when the namespace holds nothing.
        """
        result = recall_or_empty(self.memory, query, **self._recall_options(k, filter, kwargs))
        return [(_document(hit.memory), hit.score) for hit in result]

    async def asimilarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Async twin of :meth:`similarity_search_with_score`."""
        options = self._recall_options(k, filter, kwargs)
        result = await arecall_or_empty(self.memory, query, **options)
        return [(_document(hit.memory), hit.score) for hit in result]

    def similarity_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents recalled for ``query``, best first.

        See :meth:`similarity_search_with_score` for the arguments.
        """
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`similarity_search`."""
        pairs = await self.asimilarity_search_with_score(query, k, filter, **kwargs)
        return [doc for doc, _ in pairs]

    def _select_relevance_score_fn(self) -> Any:
        # Calibrated probabilities already lie in [0, 1]; the hand-set fusion score can pass 1.
        return lambda score: min(1.0, max(0.0, score))

    def _recall_vector(
        self, embedding: Sequence[float], query: str, options: dict[str, Any]
    ) -> RecallResult:
        vector = np.asarray(embedding, dtype=np.float32)
        try:
            return self.memory.recall_vector(vector, query=query, **options)
        except NamespaceNotFoundError:
            return RecallResult(query, self.namespace, (), 0, "none")

    def similarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """The ``k`` documents nearest a vector, with the engine's scores.

        Args:
            embedding: A vector of the engine's encoder (e.g. from :attr:`embeddings`),
                of its dimension; it need not be normalised.

        Raises:
            InvalidVectorError: the vector has another dimension, or is zero or not finite.
        """
        result = self._recall_vector(embedding, "", self._recall_options(k, filter, kwargs))
        return [(_document(hit.memory), hit.score) for hit in result]

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The ``k`` documents nearest a vector of the engine's encoder, best first.

        Only the vector channel ranks (there is no query text for the lexical one).
        """
        pairs = self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [doc for doc, _ in pairs]

    async def asimilarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async twin of :meth:`similarity_search_by_vector` (runs in a worker thread)."""
        return await asyncio.to_thread(
            self.similarity_search_by_vector, embedding, k, filter, **kwargs
        )

    # ------------------------------------------------------------------ MMR
    def _mmr(
        self, query_vector: list[float], result: RecallResult, k: int, lambda_mult: float
    ) -> list[Document]:
        memories = [hit.memory for hit in result]
        if not memories:
            return []
        # The engine does not hand out stored vectors: the candidates are re-encoded.
        candidates = self._local_embeddings().embed_documents([m.text for m in memories])
        chosen = maximal_marginal_relevance(
            np.asarray(query_vector, dtype=np.float32), candidates, lambda_mult=lambda_mult, k=k
        )
        return [_document(memories[i]) for i in chosen]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Recall ``fetch_k`` documents near the vector, then pick ``k`` by MMR.

        Diversity is measured with the cosine between the candidates' vectors,
        which are re-encoded with :attr:`embeddings` (``fetch_k`` encodings per call).
        """
        options = self._recall_options(max(fetch_k, k), filter, kwargs)
        return self._mmr(embedding, self._recall_vector(embedding, "", options), k, lambda_mult)

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Recall ``fetch_k`` documents for the query (both channels), then pick ``k`` by MMR.

        ``lambda_mult`` runs from 0 (most diverse) to 1 (most relevant).
        """
        options = self._recall_options(max(fetch_k, k), filter, kwargs)
        vector = self._local_embeddings().embed_query(query)
        return self._mmr(vector, self._recall_vector(vector, query, options), k, lambda_mult)

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async twin of :meth:`max_marginal_relevance_search` (runs in a worker thread)."""
        return await asyncio.to_thread(
            self.max_marginal_relevance_search, query, k, fetch_k, lambda_mult, filter, **kwargs
        )

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async twin of :meth:`max_marginal_relevance_search_by_vector` (in a worker thread)."""
        return await asyncio.to_thread(
            self.max_marginal_relevance_search_by_vector,
            embedding,
            k,
            fetch_k,
            lambda_mult,
            filter,
            **kwargs,
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        memory: MemoryBackend | None = None,
        namespace: Sequence[str] = DEFAULT_VECTORSTORE_NAMESPACE,
        **kwargs: Any,
    ) -> HippoVectorStore:
        """A store holding ``texts``.

        Args:
            texts: The documents' contents.
            embedding: Without ``memory``, the encoder of a new in-memory engine
                (wrapped in :class:`EmbeddingsEncoder`). With ``memory``, it must be
                the ``Embeddings`` that engine's encoder wraps (its
                :attr:`embeddings`), since the engine encodes with its own encoder.
                With a :class:`~hippo_memory.HippoClient`, the server's encoder model
                (the store's ``embeddings``).
            metadatas: Metadata per text.
            ids: Ids per text.
            memory: An existing engine, or a client, to store into.
            namespace: The store's namespace.
            **kwargs: Passed to :meth:`add_texts`.

        Raises:
            InvalidConfigError: ``memory`` encodes with something other than ``embedding``.
        """
        if memory is None:
            memory = HippoMemory(encoder=EmbeddingsEncoder(embedding))
        local = None if isinstance(memory, HippoMemory) else embedding
        store = cls(memory, namespace=namespace, embeddings=local)
        if embedding is not store.embeddings:
            raise InvalidConfigError(
                "memory encodes with its own encoder, not with `embedding`: pass the engine's "
                "embeddings (HippoVectorStore(memory).embeddings), or build the engine with "
                "encoder=EmbeddingsEncoder(embedding)"
            )
        store.add_texts(texts, metadatas, ids=ids, **kwargs)
        return store
