"""Use any LangChain ``Embeddings`` as the engine's encoder."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from hippo_memory import InvalidConfigError
from langchain_core.embeddings import Embeddings

__all__ = ["EmbeddingsEncoder"]

_T = TypeVar("_T")


def _run_coroutine(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion from synchronous code.

    In a thread without a running event loop (the engine's worker threads, a plain
    script) it gets its own loop; called from inside a running loop it runs on a
    helper thread, since that loop cannot be re-entered.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class EmbeddingsEncoder:
    """Adapts a LangChain :class:`~langchain_core.embeddings.Embeddings` to the
    ``hippo_memory.Encoder`` protocol.

    The engine encodes stored cues and queries with the same call, so
    ``embed_documents`` is used for both.

    Args:
        embeddings: The LangChain embeddings.
        dims: Vector dimension; probed with one call when omitted.
        name: Identifier stored with the memory (reopening a store with an encoder of
            another name raises ``EncoderMismatchError``). Defaults to the class and
            model name of ``embeddings``.
        use_async: Call ``aembed_documents`` (run to completion on its own event
            loop) instead of ``embed_documents``: for embeddings that only have an
            async implementation, such as an ``async def`` passed to LangGraph's
            ``index={"embed": ...}``.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        *,
        dims: int | None = None,
        name: str | None = None,
        use_async: bool = False,
    ) -> None:
        self.embeddings = embeddings
        self.use_async = use_async
        if dims is None:
            dims = len(self._embed(["dimension probe"])[0])
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise InvalidConfigError(f"dims must be a positive integer, not {dims!r}")
        self.dim = dims
        model = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
        self.name = name or f"langchain:{type(embeddings).__name__}:{model or ''}:{dims}"

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts into L2-normalised float32 vectors of shape ``(n, dim)``."""
        vectors = np.asarray(self._embed(list(texts)), dtype=np.float32)
        if vectors.ndim == 2:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return vectors  # the engine validates shape and finiteness

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if self.use_async:
            return _run_coroutine(self.embeddings.aembed_documents(texts))
        return self.embeddings.embed_documents(texts)

    def __repr__(self) -> str:
        return f"EmbeddingsEncoder({self.name!r})"
