"""Pattern separation: dense text vectors -> sparse winner-take-all codes (the Hebbian stage's units)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from .functional import random_projection, wta_code

__all__ = ["CodeMaker"]


class CodeMaker:
    """A seeded random projection followed by ``k``-winner-take-all (the dentate gyrus' job).

    Args:
        dim: Input dimension ``d``.
        code_dim: Code units ``c``.
        k: Active units per code.
        seed: Seed of the projection (stored with the memory: codes must stay comparable).
        device: Torch device of the projection.
    """

    def __init__(self, dim: int, code_dim: int, k: int, seed: int, device: torch.device) -> None:
        self.k = k
        self.device = device
        self.projection = random_projection(dim, code_dim, seed).to(device)

    def encode(self, vectors: npt.NDArray[np.float32], chunk: int = 512) -> npt.NDArray[np.int64]:
        """Codes of ``vectors`` float32 ``(n, d)``: int64 ``(n, k)`` active units, ascending."""
        out = []
        for start in range(0, vectors.shape[0], chunk):
            block = torch.from_numpy(np.ascontiguousarray(vectors[start : start + chunk])).to(self.device)
            out.append(wta_code(block, self.projection, self.k).cpu().numpy())
        if not out:
            return np.zeros((0, self.k), dtype=np.int64)
        return np.concatenate(out).astype(np.int64)

    def nbytes(self) -> int:
        """Bytes held by the projection matrix."""
        return int(self.projection.numel()) * 4
