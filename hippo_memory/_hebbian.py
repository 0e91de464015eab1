"""Hebbian stage: sparse codes and the association matrix between memories."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from .functional import code_overlaps, hebbian_winners

__all__ = ["AssociativeMemory", "HopResult"]

IntArray = npt.NDArray[np.int64]


class HopResult:
    """The outcome of one Hebbian hop.

    Attributes:
        slot: Memory slot reached.
        score: ``overlap * min(1, drive)``.
        overlap: Fraction of the reached memory's code present in the projected code.
        drive: Association strength that reached the memory.
    """

    __slots__ = ("drive", "overlap", "score", "slot")

    def __init__(self, slot: int, score: float, overlap: float, drive: float) -> None:
        self.slot = slot
        self.score = score
        self.overlap = overlap
        self.drive = drive


class AssociativeMemory:
    """Sparse winner-take-all codes plus a Hebbian matrix kept in factored form.

    The Hebbian weight matrix ``W = sum_links s * outer(code_dst, code_src)`` is never
    materialised; it is stored as the codes (``n x k`` ints) and the link strengths
    (a sparse ``n x n`` map), which is exactly equivalent and takes a few MB at 20K
    memories instead of 1 GB for a dense ``16384 x 16384`` float32 matrix.

    Args:
        code_dim: Code units ``c``.
        k: Active units per code.
        source_min_overlap: Fraction of a stored code a state must share to drive
            that memory's outgoing links.
    """

    def __init__(self, code_dim: int, k: int, source_min_overlap: float = 0.5) -> None:
        self.code_dim = code_dim
        self.k = k
        self.source_min_overlap = source_min_overlap
        self._codes = np.zeros((0, k), dtype=np.int32)
        self._alive = np.zeros(0, dtype=bool)
        self.links: dict[int, dict[int, float]] = {}
        self._ptr: IntArray | None = None
        self._members: IntArray | None = None

    # -- codes ------------------------------------------------------------------------
    @property
    def n_slots(self) -> int:
        """Number of slots ever allocated (alive or not)."""
        return int(self._alive.shape[0])

    def set_code(self, slot: int, code: npt.NDArray[np.integer]) -> None:
        """Store the code of memory ``slot`` (growing the arrays as needed)."""
        if slot >= self._codes.shape[0]:
            capacity = max(slot + 1, int(self._codes.shape[0] * 1.5) + 16)
            codes = np.zeros((capacity, self.k), dtype=np.int32)
            codes[: self._codes.shape[0]] = self._codes
            alive = np.zeros(capacity, dtype=bool)
            alive[: self._alive.shape[0]] = self._alive
            self._codes, self._alive = codes, alive
        self._codes[slot] = np.asarray(code, dtype=np.int32)
        self._alive[slot] = True
        self._ptr = None

    def code(self, slot: int) -> IntArray:
        """The code of memory ``slot``: int64 array of shape ``(k,)``."""
        code: IntArray = self._codes[slot].astype(np.int64)
        return code

    def remove(self, slot: int) -> None:
        """Forget memory ``slot`` and every link into or out of it."""
        if slot < self._alive.shape[0]:
            self._alive[slot] = False
        self.links.pop(slot, None)
        for targets in self.links.values():
            targets.pop(slot, None)
        self._ptr = None

    def _inverted(self) -> tuple[IntArray, IntArray]:
        if self._ptr is None or self._members is None:
            n = self._alive.shape[0]
            slots = np.flatnonzero(self._alive[:n])
            units = self._codes[slots].astype(np.int64).ravel()
            owners = np.repeat(slots, self.k)
            order = np.argsort(units, kind="stable")
            self._members = owners[order]
            counts = np.bincount(units, minlength=self.code_dim)
            self._ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return self._ptr, self._members

    # -- links ------------------------------------------------------------------------
    def associate(self, source: int, target: int, strength: float) -> float:
        """Hebbian increment ``W += strength * outer(code_target, code_source)``.

        Returns:
            The link's new strength.
        """
        targets = self.links.setdefault(source, {})
        targets[target] = targets.get(target, 0.0) + float(strength)
        return targets[target]

    def set_link(self, source: int, target: int, strength: float) -> None:
        """Set a link's strength outright (used when loading a store)."""
        self.links.setdefault(source, {})[target] = float(strength)

    def iter_links(self) -> Iterable[tuple[int, int, float]]:
        """Yield ``(source, target, strength)`` for every link."""
        for source, targets in self.links.items():
            for target, strength in targets.items():
                yield source, target, strength

    # -- recall ---------------------------------------------------------------------
    def hop(self, state: IntArray, exclude: Iterable[int] = ()) -> HopResult | None:
        """Follow the associations of a state code one step.

        The state drives every stored memory whose code it overlaps by at least
        ``source_min_overlap``; their links project a field onto code space, which
        winner-take-all sparsifies and cleanup snaps onto the nearest stored pattern
        that is not excluded.

        Args:
            state: int64 array of active units (``k`` of them, usually a stored code).
            exclude: Slots that may not be reached (the chain so far).

        Returns:
            The reached memory, or ``None`` when nothing is driven at all.
        """
        n = self.n_slots
        if n == 0:
            return None
        excluded = np.fromiter(exclude, dtype=np.int64)
        excluded = excluded[(excluded >= 0) & (excluded < n)]
        ptr, members = self._inverted()  # alive slots only: a forgotten one overlaps nothing
        shared = code_overlaps(state, ptr, members, n)
        sources = np.flatnonzero(shared >= self.source_min_overlap * self.k)
        drive: dict[int, float] = {}
        for source in sources.tolist():
            weight = float(shared[source]) / self.k
            for target, strength in self.links.get(source, {}).items():
                if self._alive[target]:
                    drive[target] = drive.get(target, 0.0) + weight * strength
        if not drive:
            return None
        targets = np.fromiter(drive, dtype=np.int64, count=len(drive))
        weights = np.fromiter(drive.values(), dtype=np.float32, count=len(drive))
        blocked = np.zeros(n, dtype=bool)
        blocked[excluded] = True  # associations back into the chain are not followed
        keep = ~blocked[targets] & (weights != 0)
        targets, weights = targets[keep], weights[keep]
        if targets.size == 0:
            return None
        projected = hebbian_winners(targets, weights, self._codes, self.k)
        overlaps = code_overlaps(projected, ptr, members, n)
        overlaps[excluded] = 0
        best = int(np.argmax(overlaps))
        if overlaps[best] <= 0:
            return None
        overlap = float(overlaps[best]) / self.k
        reached = float(drive.get(best, 0.0))
        return HopResult(best, overlap * min(1.0, reached), overlap, reached)

    def nbytes(self) -> int:
        """Approximate bytes held by codes, inverted index and links."""
        size = self._codes.nbytes + self._alive.nbytes
        if self._ptr is not None and self._members is not None:
            size += self._ptr.nbytes + self._members.nbytes
        size += sum(64 + 100 * len(t) for t in self.links.values())
        return size
