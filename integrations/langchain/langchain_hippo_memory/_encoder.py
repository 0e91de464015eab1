"""Use any LangChain ``Embeddings`` as the engine's encoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from hippo_memory import InvalidConfigError
from langchain_core.embeddings import Embeddings

__all__ = ["EmbeddingsEncoder"]


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
    """

    def __init__(
        self, embeddings: Embeddings, *, dims: int | None = None, name: str | None = None
    ) -> None:
        self.embeddings = embeddings
        if dims is None:
            dims = len(embeddings.embed_documents(["dimension probe"])[0])
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise InvalidConfigError(f"dims must be a positive integer, not {dims!r}")
        self.dim = dims
        model = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
        self.name = name or f"langchain:{type(embeddings).__name__}:{model or ''}:{dims}"

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts into L2-normalised float32 vectors of shape ``(n, dim)``."""
        vectors = np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)
        if vectors.ndim == 2:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return vectors  # the engine validates shape and finiteness

    def __repr__(self) -> str:
        return f"EmbeddingsEncoder({self.name!r})"
