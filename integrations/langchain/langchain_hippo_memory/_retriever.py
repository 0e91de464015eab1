"""``HippoRetriever``: hippo-memory recall as a LangChain retriever."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hippo_memory import InvalidInputError, RecallResult
from hippo_memory.integration import MemoryBackendField, arecall_or_empty, recall_or_empty
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

__all__ = ["HippoRetriever"]

_CALL_OPTIONS = frozenset({"k", "namespace", "filter", "since", "until"})


class HippoRetriever(BaseRetriever):
    """Retrieve memories by two-stage Hopfield recall.

    Each :class:`~langchain_core.documents.Document` has the memory's text as
    ``page_content``, its id as ``id`` and its metadata extended with ``score`` (the
    ranking score) and ``hippo``: the rest of ``RecallHit.to_dict()`` (id,
    namespace, session, timestamps, rank and the per-stage diagnostics such as
    similarity, attention, cues_matched, best_cue, best_cue_kind).

    ``invoke`` accepts ``k``, ``namespace``, ``filter``, ``since`` and ``until`` to
    override the fields for one call.

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> memory = HippoMemory(encoder=HashingEncoder())
        >>> _ = memory.remember("Alice moved to Lisbon in 2021", namespace=("alice",))
        >>> retriever = HippoRetriever(memory=memory, namespace=("alice",), k=1)
        >>> retriever.invoke("Where does Alice live?")[0].page_content
        'Alice moved to Lisbon in 2021'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: MemoryBackendField = Field(
        exclude=True, description="The memory to recall from: an engine or a HippoClient."
    )
    namespace: tuple[str, ...] | None = Field(
        default=None, description="Namespace prefix searched (with its descendants); None for all."
    )
    k: int = Field(default=4, ge=1, description="Number of documents returned.")
    filter: dict[str, Any] | None = Field(
        default=None, description="Metadata filter in the LangGraph store dialect."
    )

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(kwargs) - _CALL_OPTIONS
        if unknown:
            raise InvalidInputError(
                f"unknown retriever options {sorted(unknown)}; use {sorted(_CALL_OPTIONS)}"
            )
        namespace: Sequence[str] | None = kwargs.get("namespace", self.namespace)
        return {
            "namespace": None if namespace is None else tuple(namespace),
            "k": kwargs.get("k", self.k),
            "filter": kwargs.get("filter", self.filter),
            "since": kwargs.get("since"),
            "until": kwargs.get("until"),
        }

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return _documents(recall_or_empty(self.memory, query, **self._options(kwargs)))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return _documents(await arecall_or_empty(self.memory, query, **self._options(kwargs)))


def _documents(result: RecallResult) -> list[Document]:
    documents = []
    for hit in result:
        record = hit.to_dict()
        record.pop("text")
        user_metadata = record.pop("metadata")
        documents.append(
            Document(
                id=hit.memory.id,
                page_content=hit.memory.text,
                metadata={**user_metadata, "score": hit.score, "hippo": record},
            )
        )
    return documents
