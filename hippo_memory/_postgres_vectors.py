"""A partition's vectors in PostgreSQL: ``bytea`` blocks of :data:`BLOCK_ROWS` float32 rows, each with its CRC-32.

Blocks live in ``hippo_vectors``, keyed by ``(partition_id, generation, block)``.
Compaction writes a new *generation* (numbered from the ``hippo_generations``
sequence) and switches the partition to it; the blocks of older generations are
deleted after. Why blocks rather than a row per vector or ``real[]``: see
docs/postgres.md ("Vectors: bytea blocks, measured").
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ._errors import InvalidInputError, StoreCorruptedError, StoreLockedError
from ._postgres_io import Owner
from ._types import Namespace

__all__ = ["BLOCK_ROWS", "Pending", "VectorBlocks", "generation_number", "vector_blocks"]

BLOCK_ROWS = 256
"""Rows per ``hippo_vectors`` row: one ``bytea`` block with its CRC-32 (see docs/postgres.md for why)."""
_VECTOR_TYPES = ("int8", "int8", "int4", "int4", "int8", "bytea")
_VECTOR_COLUMNS = ("partition_id", "generation", "block", "rows", "crc", "data")


class Pending(NamedTuple):
    """Vectors appended but not yet committed: rows ``start ..`` of ``generation``.

    Attributes:
        generation: The live generation they were appended to.
        start: The committed row count they follow.
        vectors: float32 rows of shape ``(n, dim)``.
    """

    generation: int
    start: int
    vectors: npt.NDArray[np.float32]


def vector_blocks(
    vectors: npt.NDArray[np.float32], first_row: int, head: bytes = b""
) -> list[tuple[int, int, int, bytes]]:
    """``(block, rows, crc32, data)`` of the blocks holding rows ``first_row ..`` of ``vectors``.

    Args:
        vectors: float32 rows of shape ``(n, dim)``.
        first_row: The row number of ``vectors[0]``.
        head: The bytes of the rows of ``first_row``'s block before it (the block is rewritten whole).
    """
    payload = head + np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
    row_bytes = int(vectors.shape[1]) * 4 if vectors.ndim == 2 and vectors.shape[1] else 1
    size = BLOCK_ROWS * row_bytes
    first_block = first_row // BLOCK_ROWS
    out = []
    for i, start in enumerate(range(0, len(payload), size)):
        data = payload[start : start + size]
        out.append((first_block + i, len(data) // row_bytes, zlib.crc32(data), data))
    return out


def generation_number(name: str) -> int:
    """The generation number of a vector "file" name (``g<n>``).

    Raises:
        InvalidInputError: ``name`` is not of that form.
    """
    if not name.startswith("g") or not name[1:].isdigit():
        raise InvalidInputError(f"{name!r} is not a vector generation name of this store")
    return int(name[1:])


class VectorBlocks:
    """The vector blocks of one partition: write, count and load them (statements through ``storage``).

    Args:
        storage: The owning :class:`~hippo_memory._postgres.PostgresStorage`.
        pid: The partition's ``partition_id``.
        key: The partition key (for messages).
    """

    def __init__(self, storage: Owner, pid: int, key: Namespace) -> None:
        self._storage = storage
        self.pid = pid
        self.key = key

    def coverage(self, generation: int) -> int:
        """Rows the blocks of ``generation`` hold (assuming blocks ``0 ..`` are all present)."""
        rows = self._storage.fetch(
            "cannot read the vector blocks",
            "SELECT block, rows FROM hippo_vectors WHERE partition_id = %s AND generation = %s "
            "ORDER BY block DESC LIMIT 1",
            (self.pid, generation),
        )
        return int(rows[0][0]) * BLOCK_ROWS + int(rows[0][1]) if rows else 0

    def write(self, generation: int, first_row: int, vectors: npt.NDArray[np.float32]) -> None:
        """Write rows ``first_row ..`` of ``generation`` (rewriting the block ``first_row`` falls in, dropping later ones).

        Args:
            generation: The generation written.
            first_row: The row number of ``vectors[0]``.
            vectors: float32 rows of shape ``(n, dim)``; none only drops the blocks from ``first_row`` on.
        """
        if vectors.shape[0] == 0:
            with self._storage.transaction():
                self._delete_from(generation, -(-first_row // BLOCK_ROWS))
            return
        row_bytes = int(vectors.shape[1]) * 4
        first_block, offset = divmod(first_row, BLOCK_ROWS)
        with self._storage.transaction():
            head = self._head(generation, first_block, offset * row_bytes) if offset else b""
            self._delete_from(generation, first_block)
            self._storage.copy(
                "cannot write vectors",
                "hippo_vectors",
                _VECTOR_COLUMNS,
                _VECTOR_TYPES,
                [(self.pid, generation, *block) for block in vector_blocks(vectors, first_row, head)],
            )

    def _delete_from(self, generation: int, block: int) -> None:
        self._storage.execute(
            "cannot write vectors",
            "DELETE FROM hippo_vectors WHERE partition_id = %s AND generation = %s AND block >= %s",
            (self.pid, generation, block),
        )

    def _head(self, generation: int, block: int, size: int) -> bytes:
        """The first ``size`` bytes of ``block`` of ``generation`` (the rows before an append)."""
        found = self._storage.fetch(
            "cannot read a vector block",
            "SELECT data FROM hippo_vectors WHERE partition_id = %s AND generation = %s AND block = %s",
            (self.pid, generation, block),
        )
        head = bytes(found[0][0])[:size] if found else b""
        if len(head) != size:
            raise StoreCorruptedError(
                f"partition {self.key!r}: block {block} of vector generation {generation} holds fewer rows "
                "than the ones before those being written"
            )
        return head

    def load(self, generation: int, n_rows: int, dim: int, *, first_row: int = 0) -> npt.NDArray[np.float32]:
        """Rows ``first_row .. n_rows`` of ``generation``, each block read verified against its CRC-32; modifies nothing.

        Returns:
            float32 array of shape ``(n_rows - first_row, dim)``.

        Raises:
            StoreCorruptedError: a block is missing, of the wrong size, or differs from its checksum.
            StoreLockedError: another process compacted the partition while it was being read (retry).
        """
        if n_rows <= first_row:
            return np.zeros((0, dim), dtype=np.float32)
        n_blocks = -(-n_rows // BLOCK_ROWS)
        first_block = first_row // BLOCK_ROWS
        blocks = self._storage.fetch(
            "cannot read vectors",
            "SELECT block, rows, crc, data FROM hippo_vectors WHERE partition_id = %s AND generation = %s "
            "AND block >= %s AND block < %s ORDER BY block",
            (self.pid, generation, first_block, n_blocks),
        )
        row_bytes = dim * 4
        parts: list[bytes] = []
        problem = None
        for expected, (block, rows, crc, data) in enumerate(blocks, start=first_block):
            data = bytes(data)
            if block != expected:
                problem = f"block {expected} is missing"
            elif len(data) != rows * row_bytes or (block < n_blocks - 1 and rows != BLOCK_ROWS):
                problem = f"block {block} holds {len(data)} bytes for {rows} rows of dim {dim}"
            elif zlib.crc32(data) != int(crc):
                problem = f"block {block} (rows {block * BLOCK_ROWS}-{block * BLOCK_ROWS + rows - 1}) does not match its checksum"
            if problem:
                break
            parts.append(data)
        if problem is None and len(blocks) < n_blocks - first_block:
            problem = f"the blocks hold fewer than the {n_rows} committed rows"
        skip = first_row - first_block * BLOCK_ROWS
        buffer = b"".join(parts)[skip * row_bytes :]
        n_read = n_rows - first_row
        if problem is None and len(buffer) < n_read * row_bytes:
            problem = f"the blocks hold {len(buffer) // row_bytes + first_row} rows but {n_rows} are committed"
        if problem is not None:
            if self._live_generation() != generation:
                raise StoreLockedError(
                    f"partition {self.key!r} was compacted by another process while it loaded: load it again"
                )
            raise StoreCorruptedError(
                f"partition {self.key!r}: {problem} (vector generation {generation}): the database was damaged or "
                "edited. Nothing was modified; `hippo-memory repair` rebuilds a store from its texts."
            )
        return np.frombuffer(buffer[: n_read * row_bytes], dtype=np.float32).reshape(n_read, dim).copy()

    def _live_generation(self) -> int:
        rows = self._storage.fetch(
            "cannot read the partition catalogue",
            "SELECT generation FROM hippo_partitions WHERE partition_id = %s",
            (self.pid,),
        )
        if not rows:
            raise StoreCorruptedError(f"partition {self.key!r} is no longer in the catalogue")
        return int(rows[0][0])

    def remove_stale(self) -> None:
        """Delete the blocks of generations older than the live one (never a newer one being written)."""
        self._storage.execute(
            "cannot delete old vector generations",
            "DELETE FROM hippo_vectors WHERE partition_id = %s AND generation < ("
            "SELECT generation FROM hippo_partitions WHERE partition_id = %s)",
            (self.pid, self.pid),
        )
