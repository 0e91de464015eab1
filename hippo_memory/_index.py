"""Candidate stage: nearest cue vectors by inner product, with deletions.

Backends, chosen by ``HippoConfig.index``:

- ``exact``: a matrix-vector product over all stored cue vectors; on the CPU up to
  16,384 rows on one thread (faiss's SIMD inner products, no thread pool to wake),
  above that and on CUDA a torch product; also what ``flat`` means, since a single
  query through ``faiss.IndexFlatIP`` was slower still on the reference machine.
  It is memory-bound: on this project's 2-core reference machine torch's product
  measured 0.47 ms at 8K x 384 float32 (12 MB, cache-resident), then 2.6 ms at 16K
  and 9.6 ms at 60K on a quiet machine, and 4 to 7 ms at any size up to 8K once
  other processes kept the cores busy (the thread pool's wake-up).
- ``ivf``: ``faiss.IndexIVFScalarQuantizer`` (8-bit uniform, not on residuals, inner
  product) trained on the stored vectors, ``nlist = min(4 * sqrt(n), n / 39)``, with
  ``remove_ids`` for deletions: 0.08 to 0.25 ms from 8K to 60K vectors with
  ``nprobe = 32``. The 8-bit
  codes cost a quarter of the float32 copy, and candidates are re-scored with the
  exact float32 vectors. It finds 95% of the exact top 50 at 8K vectors and 84% at
  60K (the misses sit at the tail of the 50; top-1 recall is unchanged).
- ``gpu``: the exact product on CUDA (torch).

``auto`` uses ``exact`` up to ``ivf_threshold`` vectors (8192, just below where the
exact product falls out of cache) and ``ivf`` above; ``hippo-memory bench synthetic
--sections index`` measures both. Searches restricted to a subset of rows
(namespaces, filters) are exact over the subset up to ``ivf_threshold`` rows and go
through a faiss ``IDSelectorBitmap`` above.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ._config import IndexKind

__all__ = ["CueIndex", "inner_products"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_SINGLE_THREAD_ROWS = 16_384
"""Exact searches over at most this many rows run on one thread (:meth:`CueIndex._exact`)."""


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a core dependency
        return None
    return faiss


def _top_torch(sims: torch.Tensor, k: int) -> tuple[IntArray, FloatArray]:
    """Top ``k`` positions of a score vector, best first, ties broken by position."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    top = torch.topk(sims, k)
    positions = top.indices.cpu().numpy().astype(np.int64)
    values = top.values.cpu().numpy().astype(np.float32)
    order = np.lexsort((positions, -values))
    return positions[order], values[order]


def _top(sims: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """:func:`_top_torch` of a numpy score vector, the same rows in the same order.

    The best ``k`` are found by partition; only when rows tied at the ``k``-th score
    straddle the cut is the choice among them ``torch.topk``'s, as it always was.
    """
    n = int(sims.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if k >= n:
        positions = np.arange(n, dtype=np.int64)
    else:
        positions = np.argpartition(sims, n - k)[n - k :]
        kth = sims[positions].min()
        if np.count_nonzero(sims >= kth) != k:  # ties at the cut
            return _top_torch(torch.from_numpy(sims), k)
    values = sims[positions]
    order = np.lexsort((positions, -values))
    return positions[order].astype(np.int64, copy=False), values[order].astype(np.float32, copy=False)


def inner_products(vectors: FloatArray, query: FloatArray) -> FloatArray:
    """``vectors @ query`` on one thread: float32 ``(n,)`` from float32 ``(n, d)`` and ``(d,)``.

    faiss's SIMD kernel, which uses no thread pool. torch's and numpy's products hand
    the work to an OpenMP or BLAS pool, whose wake-up cost 2 to 7 ms per call on the
    2-core reference machine once other processes kept the cores busy, whatever the
    size (4.4 ms for 150 rows); one thread took 0.04 ms for 150 rows and 0.6 ms for
    3,000. Without faiss, numpy's ``einsum`` (also single-threaded).

    Raises:
        ValueError: the shapes do not match (the kernel reads raw memory).
    """
    if vectors.ndim != 2 or query.shape != (vectors.shape[1],):
        raise ValueError(f"inner_products: vectors {vectors.shape} and query {query.shape} do not match")
    n = int(vectors.shape[0])
    out = np.empty(n, dtype=np.float32)
    if n == 0:
        return out
    faiss = _faiss()
    if faiss is None:  # pragma: no cover - faiss is a core dependency
        out[:] = np.einsum("ij,j->i", vectors, query)
        return out
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32)
    faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(vectors), query.size, n)
    return out


class CueIndex:
    """Stored cue vectors (rows), the memory each row belongs to, and a nearest-neighbour index.

    Rows are append-only integers; removing a row only marks it dead, so row numbers
    stay valid as foreign keys (compaction builds a new index with renumbered rows).
    The index owns its row-to-memory mapping: :meth:`add` takes each row's owner
    and :meth:`owners` reads it back.

    Args:
        dim: Vector dimension ``d``.
        kind: Backend, see the module docstring.
        ivf_threshold: Live vectors above which ``auto`` switches to IVF.
        nprobe: IVF lists probed per query.
        device: Torch device for the ``gpu`` backend.
    """

    def __init__(
        self,
        dim: int,
        *,
        kind: IndexKind = "auto",
        ivf_threshold: int = 8_192,
        nprobe: int = 32,
        device: torch.device | None = None,
    ) -> None:
        self.dim = dim
        self.kind: IndexKind = kind
        self.ivf_threshold = ivf_threshold
        self.nprobe = nprobe
        self.device = device or torch.device("cpu")
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._owner = np.zeros(0, dtype=np.int64)
        self.n_rows = 0
        self.n_alive = 0
        self._ivf: Any = None
        self._ivf_trained_at = 0
        self._ivf_centroids: FloatArray | None = None
        self._gpu_vectors: torch.Tensor | None = None
        if kind == "ivf" and _faiss() is None:  # pragma: no cover
            self.kind = "exact"

    # -- storage ------------------------------------------------------------------
    def _reserve(self, n: int) -> None:
        if n <= self._vectors.shape[0]:
            return
        capacity = max(n, int(self._vectors.shape[0] * 1.5) + 64)
        vectors = np.empty((capacity, self.dim), dtype=np.float32)
        vectors[: self.n_rows] = self._vectors[: self.n_rows]
        alive = np.zeros(capacity, dtype=bool)
        alive[: self.n_rows] = self._alive[: self.n_rows]
        owner = np.full(capacity, -1, dtype=np.int64)
        owner[: self.n_rows] = self._owner[: self.n_rows]
        self._vectors, self._alive, self._owner = vectors, alive, owner

    def add(
        self,
        vectors: FloatArray,
        owners: IntArray,
        alive: npt.NDArray[np.bool_] | None = None,
        *,
        rebuild: bool = True,
    ) -> IntArray:
        """Append vectors as new rows.

        Args:
            vectors: float32 array of shape ``(m, d)``, L2-normalised.
            owners: int64 array ``(m,)``: the memory (slot) each row is a cue of.
            alive: Optional bool array ``(m,)``; dead rows are stored but never found
                (used when loading a store whose file holds deleted rows).
            rebuild: Retrain the IVF index if the data outgrew it; ``False`` defers
                that to :meth:`refresh` (used while loading).

        Returns:
            int64 array ``(m,)`` of the new row numbers.
        """
        m = vectors.shape[0]
        rows = np.arange(self.n_rows, self.n_rows + m, dtype=np.int64)
        self._reserve(self.n_rows + m)
        self._vectors[self.n_rows : self.n_rows + m] = vectors
        self._owner[self.n_rows : self.n_rows + m] = owners
        live = np.ones(m, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
        self._alive[self.n_rows : self.n_rows + m] = live
        self.n_rows += m
        self.n_alive += int(live.sum())
        self._gpu_vectors = None
        if self._ivf is not None:
            live_rows = rows[live]
            if live_rows.size:
                self._ivf.add_with_ids(vectors[live], live_rows)
        if rebuild:
            self._maybe_rebuild()
        return rows

    def remove(self, rows: IntArray) -> None:
        """Mark rows dead; they are no longer returned by :meth:`search`."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[(rows >= 0) & (rows < self.n_rows)]
        rows = rows[self._alive[rows]]
        if rows.size == 0:
            return
        self._alive[rows] = False
        self.n_alive -= int(rows.size)
        if self._ivf is not None:
            faiss = _faiss()
            self._ivf.remove_ids(faiss.IDSelectorBatch(rows))
        self._gpu_vectors = None

    def vectors(self, rows: IntArray) -> FloatArray:
        """float32 array ``(len(rows), d)`` of the stored vectors of ``rows``."""
        return self._vectors[np.asarray(rows, dtype=np.int64)]

    def owners(self, rows: IntArray) -> IntArray:
        """int64 ``(len(rows),)``: the memory each row is a cue of (-1 for none)."""
        return self._owner[np.asarray(rows, dtype=np.int64)]

    def alive(self, rows: IntArray) -> npt.NDArray[np.bool_]:
        """Whether each row is live."""
        return self._alive[np.asarray(rows, dtype=np.int64)]

    @property
    def all_vectors(self) -> FloatArray:
        """float32 view ``(n_rows, d)`` of every stored row, dead ones included."""
        return self._vectors[: self.n_rows]

    @property
    def active_kind(self) -> str:
        """The backend that answers searches right now."""
        if self._ivf is not None:
            return "ivf"
        if self.kind == "gpu" or (self.kind == "auto" and self.device.type == "cuda"):
            return "gpu"
        return "exact"

    def nbytes(self) -> int:
        """Bytes held by the vectors and the index (excluding unused capacity)."""
        size = self.n_rows * (self.dim * 4 + 9)
        if self._ivf is not None:
            size += self.n_alive * (self.dim + 8) + self._ivf.nlist * self.dim * 4
        return size

    # -- IVF ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Build or drop the IVF index as the current size calls for."""
        self._maybe_rebuild()

    def wants_ivf(self) -> bool:
        """Whether the configured backend calls for IVF at the current size."""
        if self.kind == "ivf":
            return self.n_alive >= 256
        return self.kind == "auto" and self.device.type != "cuda" and (self.n_alive > self.ivf_threshold)

    def _maybe_rebuild(self) -> None:
        if not self.wants_ivf():
            if self._ivf is not None and self.kind == "auto" and self.n_alive < self.ivf_threshold // 2:
                self._ivf = None
            return
        # Retrain when the data has grown 4x since training: amortised O(1) per add.
        if self._ivf is None or self.n_alive > 4 * self._ivf_trained_at:
            self.build_ivf()

    def build_ivf(self, centroids: FloatArray | None = None) -> None:
        """(Re)build the IVF index, training k-means unless centroids are given.

        Args:
            centroids: float32 array ``(nlist, d)`` from an earlier training, so a
                reopened store gets exactly the same index.
        """
        faiss = _faiss()
        live_rows = np.flatnonzero(self._alive[: self.n_rows]).astype(np.int64)
        live = self._vectors[live_rows]
        if centroids is None:
            nlist = int(min(4096, max(16, 4 * math.sqrt(max(1, live.shape[0])))))
            # faiss wants >= 39 training points per centroid
            nlist = min(nlist, max(1, live.shape[0] // 39))
            kmeans = faiss.Kmeans(
                self.dim,
                nlist,
                niter=10,
                seed=1234,
                spherical=True,
                max_points_per_centroid=64,
                verbose=False,
            )
            kmeans.train(np.ascontiguousarray(live))
            centroids = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
        quantizer = faiss.IndexFlatIP(self.dim)
        quantizer.add(centroids)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer,
            self.dim,
            centroids.shape[0],
            faiss.ScalarQuantizer.QT_8bit_uniform,
            faiss.METRIC_INNER_PRODUCT,
        )
        # One value range for every dimension, on the vectors themselves rather than
        # their residuals: a quarter faster to scan than per-dimension ranges on
        # residuals, and it found the same share of the exact top 50.
        index.by_residual = False
        # The 8-bit quantiser only needs the value range, which unit vectors bound.
        index.train(np.ascontiguousarray(np.vstack([centroids, -centroids, live[:4096]])))
        index.nprobe = self.nprobe
        if live_rows.size:
            index.add_with_ids(np.ascontiguousarray(live), live_rows)
        self._ivf = index
        self._ivf_quantizer = quantizer  # keep it alive: faiss does not own it
        self._ivf_centroids = centroids
        self._ivf_trained_at = max(1, live.shape[0])

    @property
    def ivf_centroids(self) -> FloatArray | None:
        """Centroids of the current IVF index (``None`` without one)."""
        return self._ivf_centroids if self._ivf is not None else None

    # -- search -------------------------------------------------------------------
    def search(self, query: FloatArray, k: int, rows: IntArray | None = None) -> tuple[IntArray, FloatArray]:
        """Find the live rows most similar to ``query``.

        Args:
            query: float32 array ``(d,)``, L2-normalised.
            k: Number of rows wanted.
            rows: Optional int64 array restricting the search to these rows.

        Returns:
            ``(rows, similarities)``: int64 ``(m,)`` and float32 ``(m,)``, best first,
            ``m <= k`` (fewer when fewer live rows qualify). Similarities are exact
            inner products with the float32 vectors.
        """
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            rows = rows[self._alive[rows]]
            if rows.size <= self.ivf_threshold or self._ivf is None:
                return self._exact(query, k, rows)
            found = self._ivf_search(query, k, rows)
            if found.size < min(k, rows.size):
                return self._exact(query, k, rows)
            return self._rescore(query, found)
        if self.n_alive == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self._ivf is not None:
            found = self._ivf_search(query, k, None)
            if found.size < min(k, self.n_alive):
                return self._exact(query, k, None)
            return self._rescore(query, found)
        return self._exact(query, k, None)

    def _rescore(self, query: FloatArray, rows: IntArray) -> tuple[IntArray, FloatArray]:
        # Tens of rows: numpy. A torch product this small waits for torch's OpenMP pool,
        # which measured 2.7 ms right after the encoder ran (0.02 ms in numpy).
        sims = self._vectors[rows] @ query
        order = np.lexsort((rows, -sims))
        return rows[order], sims[order].astype(np.float32)

    def _ivf_search(self, query: FloatArray, k: int, rows: IntArray | None) -> IntArray:
        faiss = _faiss()
        params = None
        if rows is not None:
            mask = np.zeros(self.n_rows, dtype=bool)
            mask[rows] = True
            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(self.n_rows, faiss.swig_ptr(bitmap))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
            _, labels = self._ivf.search(query[None, :], k, params=params)
        else:
            _, labels = self._ivf.search(query[None, :], k)
        found: IntArray = labels[0].astype(np.int64)
        return found[found >= 0]

    def _exact(self, query: FloatArray, k: int, rows: IntArray | None) -> tuple[IntArray, FloatArray]:
        """Exact inner products: one CPU thread up to ``_SINGLE_THREAD_ROWS`` rows, else torch (CPU or CUDA).

        Up to that size the product is cheap and a thread pool's wake-up is what it
        would cost (:func:`inner_products`); the top ``k`` are picked in numpy
        (:func:`_top`), with ``torch.topk``'s choice among rows tied at the cut, as
        before. Above it torch's threads share a
        memory-bound product; numpy's BLAS would keep a second thread pool that fights
        torch's OpenMP threads for the cores (it measured 12 ms instead of 0.3 ms for a
        10K x 384 product on the 2-core reference machine).
        """
        n = self.n_rows if rows is None else int(rows.size)
        if self.device.type == "cpu" and n <= _SINGLE_THREAD_ROWS:
            if rows is None:
                every = inner_products(self._vectors[: self.n_rows], query)
                if self.n_alive < self.n_rows:
                    every[~self._alive[: self.n_rows]] = -np.inf
                return _top(every, min(k, self.n_alive))
            subset = inner_products(self._vectors[rows], query)
            positions, values = _top(subset, min(k, rows.size))
            return rows[positions], values
        if self.device.type != "cpu":
            if self._gpu_vectors is None:
                self._gpu_vectors = torch.from_numpy(self._vectors[: self.n_rows]).to(self.device)
            vectors = self._gpu_vectors
        else:
            vectors = torch.from_numpy(self._vectors[: self.n_rows])
        q = torch.from_numpy(query).to(self.device)
        if rows is None:
            sims = torch.mv(vectors, q)
            if self.n_alive < self.n_rows:
                dead = torch.from_numpy(~self._alive[: self.n_rows]).to(self.device)
                sims = sims.masked_fill(dead, float("-inf"))
            return _top_torch(sims, min(k, self.n_alive))
        if rows.size == 0:
            return rows, np.zeros(0, dtype=np.float32)
        index = torch.from_numpy(rows).to(self.device)
        positions, values = _top_torch(torch.mv(vectors.index_select(0, index), q), min(k, rows.size))
        found: IntArray = rows[positions]
        return found, values
