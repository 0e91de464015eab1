"""An on-disk cache of text encodings, and an Encoder wrapper that uses it.

Vectors are keyed by the encoder's name and the SHA-1 of the text, so a text is
encoded once however many haystacks repeat it (LongMemEval_S has ~115K turns,
~101K distinct). The cache of one encoder is a directory of append-only shards::

    <cache_dir>/<encoder slug>/meta.json                {"name": ..., "dim": ...}
    <cache_dir>/<encoder slug>/<shard>.keys.npy         (n,) |S20 raw SHA-1 digests
    <cache_dir>/<encoder slug>/<shard>.vecs.npy         (n, dim) float32

A shard is written under temporary names and renamed into place (keys last), so
a reader never sees half a shard and several processes may share a directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from .._encoder import Encoder, validate_vectors

__all__ = ["DEFAULT_CACHE_DIR", "CachedEncoder", "EncodingCache", "text_key"]

FloatArray = npt.NDArray[np.float32]

DEFAULT_CACHE_DIR = Path("~/.cache/hippo-memory/encodings")
"""Where encodings are cached unless ``--cache-dir`` says otherwise."""


def text_key(text: str) -> bytes:
    """The 20-byte SHA-1 digest of a text's UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).digest()


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{slug[:80]}-{digest}"


class EncodingCache:
    """Vectors of one encoder, loaded from and appended to a directory of shards.

    Args:
        cache_dir: Root directory; the encoder's shards live in a subdirectory.
        name: The encoder's name (part of the key).
    """

    def __init__(self, cache_dir: str | os.PathLike[str], name: str) -> None:
        self.name = name
        self.directory = Path(cache_dir).expanduser() / _slug(name)
        self.dim: int | None = None
        self._rows: dict[bytes, tuple[int, int]] = {}
        self._shards: list[FloatArray] = []
        self._pending_keys: list[bytes] = []
        self._pending_vecs: list[FloatArray] = []
        self._pending_index: dict[bytes, int] = {}
        self._pending_rows = 0
        self._load()

    def _load(self) -> None:
        meta = self.directory / "meta.json"
        if meta.exists():
            self.dim = int(json.loads(meta.read_text())["dim"])
        if not self.directory.is_dir():
            return
        for keys_path in sorted(self.directory.glob("*.keys.npy")):
            vecs_path = keys_path.with_name(keys_path.name.replace(".keys.npy", ".vecs.npy"))
            if not vecs_path.exists():
                continue
            try:
                keys = np.load(keys_path)
                vecs = np.load(vecs_path)
            except (OSError, ValueError):  # a damaged shard is skipped, not fatal
                continue
            if vecs.ndim != 2 or len(keys) != len(vecs):
                continue
            if self.dim is None:
                self.dim = int(vecs.shape[1])
            if vecs.shape[1] != self.dim:
                continue
            shard = len(self._shards)
            self._shards.append(vecs.astype(np.float32, copy=False))
            for row, key in enumerate(keys.tolist()):
                # numpy's |S20 drops trailing NUL bytes; digests are always 20 long
                self._rows[key.ljust(20, b"\x00")] = (shard, row)

    def __len__(self) -> int:
        return len(self._rows) + len(self._pending_index)

    def __contains__(self, key: object) -> bool:
        return key in self._rows or key in self._pending_index

    def get(self, keys: Sequence[bytes]) -> FloatArray:
        """Vectors of ``keys``, all of which must be present; shape ``(n, dim)``."""
        if self.dim is None:
            raise KeyError("empty cache")
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        shard_of = np.empty(len(keys), dtype=np.int64)
        row_of = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            located = self._rows.get(key)
            if located is None:  # pending, not yet flushed: shard -1
                shard_of[i], row_of[i] = -1, self._pending_index[key]
            else:
                shard_of[i], row_of[i] = located
        for shard in np.unique(shard_of).tolist():
            mask = shard_of == shard
            source = np.concatenate(self._pending_vecs) if shard < 0 else self._shards[shard]
            out[mask] = source[row_of[mask]]
        return out

    def add(self, keys: Sequence[bytes], vectors: FloatArray) -> None:
        """Hold new vectors in memory until :meth:`flush` writes them."""
        if self.dim is None:
            self.dim = int(vectors.shape[1])
        for key in keys:
            self._pending_index[key] = self._pending_rows
            self._pending_rows += 1
        self._pending_keys.extend(keys)
        self._pending_vecs.append(np.ascontiguousarray(vectors, dtype=np.float32))

    @property
    def pending(self) -> int:
        """Number of vectors not yet written to disk."""
        return self._pending_rows

    def flush(self) -> None:
        """Write pending vectors as one new shard."""
        if not self._pending_keys or self.dim is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = self.directory / "meta.json"
        if not meta.exists():
            tmp = meta.with_name(f".meta-{uuid.uuid4().hex}.tmp")
            tmp.write_text(json.dumps({"name": self.name, "dim": self.dim}))
            os.replace(tmp, meta)
        stem = f"{uuid.uuid4().hex}"
        keys = np.array(self._pending_keys, dtype="S20")
        vecs = np.concatenate(self._pending_vecs).astype(np.float32, copy=False)
        tmp_vecs = self.directory / f".{stem}.vecs.tmp.npy"
        tmp_keys = self.directory / f".{stem}.keys.tmp.npy"
        np.save(tmp_vecs, vecs)
        np.save(tmp_keys, keys)
        os.replace(tmp_vecs, self.directory / f"{stem}.vecs.npy")
        os.replace(tmp_keys, self.directory / f"{stem}.keys.npy")
        shard = len(self._shards)
        self._shards.append(vecs)
        for row, key in enumerate(self._pending_keys):
            self._rows[key] = (shard, row)
        self._pending_keys = []
        self._pending_vecs = []
        self._pending_index = {}
        self._pending_rows = 0


class CachedEncoder:
    """An :class:`~hippo_memory.Encoder` that answers from an on-disk cache.

    Texts missing from the cache are encoded by ``inner`` (once each, even when a
    call repeats them) and kept; :meth:`flush` writes them to disk, which also
    happens on its own every ``flush_every`` new vectors and on ``close``.

    Args:
        inner: The encoder that does the work on a cache miss.
        cache_dir: Root cache directory (``~`` is expanded).
        flush_every: Write a shard once this many new vectors are pending.
        chunk_size: Misses are sent to ``inner`` in chunks of this many texts,
            so that progress is reported and a crash loses little.
        progress: Called as ``progress(done, total)`` after each chunk of misses.

    Attributes:
        inner_calls: How many times ``inner.encode`` was called.
        inner_texts: How many texts ``inner`` encoded.
    """

    def __init__(
        self,
        inner: Encoder,
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        *,
        flush_every: int = 4096,
        chunk_size: int = 1024,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.cache = EncodingCache(cache_dir, inner.name)
        self.flush_every = flush_every
        self.chunk_size = chunk_size
        self.progress = progress
        self.inner_calls = 0
        self.inner_texts = 0

    @property
    def dim(self) -> int:
        """Vector dimension; read from the cache when known, so a warm rerun
        never loads the model."""
        if self.cache.dim is None:
            self.cache.dim = int(self.inner.dim)
        return self.cache.dim

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts of ``texts`` that are not cached yet."""
        seen: set[bytes] = set()
        out: list[str] = []
        for text in texts:
            key = text_key(text)
            if key not in seen and key not in self.cache:
                seen.add(key)
                out.append(text)
        return out

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Encode texts, from the cache where possible.

        Returns:
            float32 array of shape ``(len(texts), dim)``, rows L2-normalised.
        """
        keys = [text_key(text) for text in texts]
        todo: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self.cache and key not in todo:
                todo[key] = text
        if todo:
            self._encode_missing(list(todo.keys()), list(todo.values()))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.cache.get(keys)

    def _encode_missing(self, keys: list[bytes], texts: list[str]) -> None:
        done = 0
        for start in range(0, len(texts), self.chunk_size):
            chunk = texts[start : start + self.chunk_size]
            self.inner_calls += 1
            self.inner_texts += len(chunk)
            raw = self.inner.encode(chunk)
            dim = self.cache.dim if self.cache.dim is not None else np.asarray(raw).shape[-1]
            vectors = validate_vectors(raw, len(chunk), int(dim))
            self.cache.add(keys[start : start + self.chunk_size], vectors)
            done += len(chunk)
            if self.cache.pending >= self.flush_every:
                self.cache.flush()
            if self.progress is not None:
                self.progress(done, len(texts))

    def flush(self) -> None:
        """Write new vectors to disk."""
        self.cache.flush()

    def close(self) -> None:
        """Flush; the encoder stays usable."""
        self.flush()

    def __enter__(self) -> CachedEncoder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CachedEncoder({self.inner!r}, {str(self.cache.directory)!r})"


def stderr_progress(label: str) -> Callable[[int, int], None]:
    """A progress callback that prints ``label done/total`` lines to stderr."""

    def report(done: int, total: int) -> None:
        print(f"[{label}] encoded {done}/{total}", file=sys.stderr, flush=True)

    return report
