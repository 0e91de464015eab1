"""Checking a store without modifying it, and rebuilding what can be rebuilt into a new one.

:func:`check_store` opens the database read-only under a shared lock (a process that
has the store open for writing makes it raise ``StoreLockedError``) and reports every
problem it finds: vector files missing, short, or with blocks that differ from their
checksums, non-finite rows, records that refer to uncommitted rows, cues that do not
match their memory, namespace counts that disagree with the memories. It writes
nothing, so it is safe on a store the engine refuses to open.

:func:`repair_store` never repairs in place. It reads every memory whose record is
intact (id, namespace, text, metadata, timestamps, session, code and its cue texts),
re-encodes the cue texts with the store's encoder (its fingerprint is checked first)
and writes them, with their links, lifecycle and aliases where readable, into a NEW
store directory with the same ids and partition-local slots. The vectors are derived
data: a damaged or missing vector file loses nothing whose texts are intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._encoder import DEFAULT_MODEL, Encoder, HashingEncoder, encode_checked, load_encoder
from ._errors import (
    EncoderMismatchError,
    InvalidInputError,
    StoreCorruptedError,
    StoreLockedError,
    StoreVersionError,
)
from ._sqlite import FORMAT_VERSION
from ._sqlite_checksums import CHECKSUM_ROWS, damaged_blocks, stored_checksums
from ._sqlite_partition import DIRECTORY, VECTOR_FILE
from ._storage import CueRecord, LifecycleRecord, LinkRecord, MemoryRecord

__all__ = ["CheckReport", "Problem", "RepairReport", "check_store", "repair_encoder", "repair_store"]

_DB = "hippo.sqlite"
_MEMORY_COLUMNS = (
    "slot, id, namespace, text, metadata, timestamp, created_at, updated_at, session, code, row_start, row_count"
)
_LIFECYCLE_COLUMNS = (
    "slot, salience, novelty, learned_at, reinforced_at, stability, access_count, last_access, "
    "replay_count, expires_at, superseded_by, merged_from"
)
_SHOWN = 5  # rows or memories named per problem; the rest are counted


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store.

    Attributes:
        kind: ``unreadable``, ``meta``, ``vector-file``, ``checksum``, ``non-finite``,
            ``uncommitted-rows``, ``cues``, ``namespace-count`` or ``orphans``.
        partition: The partition key (JSON) or ``None`` for the whole store.
        detail: What was found, in words.
    """

    kind: str
    partition: str | None
    detail: str


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_store` found.

    Attributes:
        path: The store directory.
        partitions: Partitions in the catalogue.
        memories: Memory records read.
        rows: Committed vector rows.
        blocks_verified: Blocks whose checksum matched.
        blocks_unknown: Blocks without a checksum yet (written before checksums existed).
        problems: Everything wrong; empty for a clean store.
        notes: Harmless findings (uncommitted tails, leftover files).
    """

    path: str
    partitions: int = 0
    memories: int = 0
    rows: int = 0
    blocks_verified: int = 0
    blocks_unknown: int = 0
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {**dataclasses.asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_store` rebuilt.

    Attributes:
        source: The damaged store.
        target: The new store.
        recovered: Memories written to the new store.
        lost: ``(id or description, reason)`` of every memory that could not be recovered.
        links: Associations kept. lifecycle: Lifecycle rows kept. aliases: Merged ids kept.
        check: :func:`check_store` of the new store.
    """

    source: str
    target: str
    recovered: int
    lost: tuple[tuple[str, str], ...]
    links: int
    lifecycle: int
    aliases: int
    check: CheckReport = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        data = dataclasses.asdict(self)
        data["check"] = self.check.to_dict()
        return data


# ---------------------------------------------------------------------------- reading
@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """The store's database, read-only, under a shared lock (no writer may hold the store)."""
    db_path = path / _DB
    if not db_path.is_file():
        raise StoreCorruptedError(f"{path} holds no {_DB}: not a hippo-memory store")
    fd = os.open(db_path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreLockedError(f"{path} is open in another HippoMemory or process; close it first") from exc
        # No writer can hold the store now, so without a WAL to replay the file is
        # immutable to us (SQLite then creates no -wal/-shm); with one, read it too.
        wal, shm = db_path.with_name(_DB + "-wal"), db_path.with_name(_DB + "-shm")
        had_shm = shm.exists()
        mode = "mode=ro" if wal.exists() and wal.stat().st_size else "immutable=1"
        try:
            db = sqlite3.connect(f"{db_path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreCorruptedError(f"cannot open {db_path}: {exc}") from exc
        try:
            yield db
        finally:
            db.close()
            if not had_shm:  # the index SQLite made to read the WAL: leave the directory as found
                with contextlib.suppress(FileNotFoundError):
                    shm.unlink()
    finally:
        os.close(fd)


def _meta(db: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        meta = {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
    except sqlite3.Error as exc:
        raise StoreCorruptedError(f"{path / _DB} has no readable meta table: {exc}") from exc
    if meta.get("application") != "hippo-memory":
        raise StoreCorruptedError(f"{path / _DB} is not a hippo-memory database")
    version = meta.get("format_version")
    if version != str(FORMAT_VERSION):
        raise StoreVersionError(
            f"{path} uses store format {version}; check and repair read format {FORMAT_VERSION} "
            "(open a format-1 store once with hippo-memory to migrate it)"
        )
    return meta


def _ranges(rows: Sequence[object]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOWN])
    return shown + (f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else "")


# ---------------------------------------------------------------------------- check
def check_store(path: str | os.PathLike[str]) -> CheckReport:
    """Verify every partition of the store at ``path`` without modifying anything.

    Raises:
        StoreCorruptedError: ``path`` is not a hippo-memory store (no readable meta).
        StoreVersionError: the store is not in the current format.
        StoreLockedError: a process has the store open for writing.
    """
    root = Path(path)
    with _read_only(root) as db:
        meta = _meta(db, root)
        return _check(db, root, int(meta["dim"]))


def _check(db: sqlite3.Connection, root: Path, dim: int) -> CheckReport:
    problems: list[Problem] = []
    notes: list[str] = []
    counts = {"partitions": 0, "memories": 0, "rows": 0, "blocks_verified": 0, "blocks_unknown": 0}
    try:
        quick = [str(r[0]) for r in db.execute("PRAGMA quick_check")]
        if quick != ["ok"]:
            problems.append(Problem("unreadable", None, "SQLite quick_check: " + "; ".join(quick[:_SHOWN])))
        partitions = db.execute("SELECT id, key, n_rows, vectors_file FROM partitions ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        problems.append(Problem("unreadable", None, f"the partition catalogue cannot be read: {exc}"))
        return CheckReport(str(root), problems=tuple(problems))
    live = set()
    for pid, key, n_rows, name in partitions:
        counts["partitions"] += 1
        counts["rows"] += int(n_rows)
        live.add(str(name))
        try:
            _check_partition(db, root, dim, int(pid), str(key), int(n_rows), str(name), problems, counts)
        except sqlite3.Error as exc:
            problems.append(Problem("unreadable", str(key), f"its records cannot be read: {exc}"))
        file = root / DIRECTORY / str(name)
        if file.is_file() and file.stat().st_size > int(n_rows) * dim * 4:
            notes.append(f"{name}: {file.stat().st_size - int(n_rows) * dim * 4} bytes of an uncommitted write")
    if (root / DIRECTORY).is_dir():
        for entry in sorted((root / DIRECTORY).iterdir()):
            if VECTOR_FILE.fullmatch(entry.name) and entry.name not in live:
                notes.append(f"{entry.name}: a vector file no partition uses (left by an interrupted compaction)")
    try:
        actual = dict(db.execute("SELECT namespace, COUNT(*) FROM memories GROUP BY namespace").fetchall())
        recorded = dict(db.execute("SELECT namespace, count FROM namespaces WHERE count > 0").fetchall())
        for namespace in sorted(set(actual) | set(recorded)):
            if actual.get(namespace, 0) != recorded.get(namespace, 0):
                problems.append(
                    Problem(
                        "namespace-count",
                        None,
                        f"namespace {namespace}: the catalogue counts {recorded.get(namespace, 0)} memories, "
                        f"{actual.get(namespace, 0)} are stored",
                    )
                )
    except sqlite3.Error as exc:
        problems.append(Problem("unreadable", None, f"the namespace catalogue cannot be read: {exc}"))
    return CheckReport(str(root), **counts, problems=tuple(problems), notes=tuple(notes))


def _check_partition(
    db: sqlite3.Connection,
    root: Path,
    dim: int,
    pid: int,
    key: str,
    n_rows: int,
    name: str,
    problems: list[Problem],
    counts: dict[str, int],
) -> None:
    row_bytes = dim * 4
    memories = [
        MemoryRecord(*r) for r in db.execute(f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE partition = ?", (pid,))
    ]
    counts["memories"] += len(memories)
    beyond = [m.id for m in memories if m.row_start < 0 or m.row_start + m.row_count > n_rows]
    if beyond:
        problems.append(
            Problem("uncommitted-rows", key, f"{len(beyond)} memories refer to rows past {n_rows}: {_ranges(beyond)}")
        )
    cues: dict[int, list[int]] = {}
    for row, slot in db.execute("SELECT row, slot FROM cues WHERE partition = ? ORDER BY row", (pid,)):
        cues.setdefault(int(slot), []).append(int(row))
    wrong = [m.id for m in memories if cues.get(m.slot, []) != list(range(m.row_start, m.row_start + m.row_count))]
    if wrong:
        problems.append(Problem("cues", key, f"{len(wrong)} memories whose cue rows disagree: {_ranges(wrong)}"))
    slots = {m.slot for m in memories}
    orphans = [s for s in cues if s not in slots]
    orphans += [
        int(s) for (s,) in db.execute("SELECT slot FROM lifecycle WHERE partition = ?", (pid,)) if s not in slots
    ]
    orphans += [
        int(s)
        for s, d in db.execute("SELECT src, dst FROM links WHERE partition = ?", (pid,))
        if s not in slots or d not in slots
    ]
    if orphans:
        problems.append(
            Problem("orphans", key, f"cues, links or lifecycle of missing slots {_ranges(sorted(orphans))}")
        )
    match = VECTOR_FILE.fullmatch(name)
    if match is None or match.group(1) != str(pid):
        problems.append(Problem("vector-file", key, f"the catalogue names an invalid vector file {name!r}"))
        return
    if n_rows == 0:
        return
    file = root / DIRECTORY / name
    try:
        with open(file, "rb") as handle:
            buffer = handle.read(n_rows * row_bytes)
    except OSError as exc:
        problems.append(Problem("vector-file", key, f"{name} cannot be read ({exc}); {n_rows} rows are committed"))
        return
    if len(buffer) < n_rows * row_bytes:
        problems.append(
            Problem("vector-file", key, f"{name} holds {len(buffer) // row_bytes} rows, {n_rows} are committed")
        )
        return
    has_table = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'vector_checksums'").fetchone()
    stored = stored_checksums(db, pid) if has_table else {}  # a store written before checksums
    damaged, unknown = damaged_blocks(buffer, row_bytes, stored, name)
    n_blocks = -(-n_rows // CHECKSUM_ROWS)
    damaged += [b for b, entry in stored.items() if b >= n_blocks and entry[0] == name]
    counts["blocks_verified"] += n_blocks - len(damaged) - len(unknown)
    counts["blocks_unknown"] += len(unknown)
    if damaged:
        problems.append(
            Problem("checksum", key, f"{name}: blocks {_ranges(sorted(damaged))} differ from their checksums")
        )
    vectors = np.frombuffer(buffer, dtype=np.float32).reshape(n_rows, dim)
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1)).tolist()
    if bad:
        problems.append(Problem("non-finite", key, f"{name}: rows {_ranges(bad)} hold NaN or infinite values"))


# ---------------------------------------------------------------------------- repair
def repair_encoder(path: str | os.PathLike[str], requested: Any = None) -> Encoder:
    """The encoder to re-encode the store at ``path`` with: ``requested``, or the one its meta names."""
    if requested is not None:
        return load_encoder(requested)
    with _read_only(Path(path)) as db:
        name = _meta(db, Path(path)).get("encoder", "")
    hashing = re.fullmatch(r"hashing-(\d+)-(-?\d+)(-bi)?", name)
    if hashing:
        return HashingEncoder(int(hashing.group(1)), seed=int(hashing.group(2)), bigrams=bool(hashing.group(3)))
    return load_encoder(None if name == f"sentence-transformers/{DEFAULT_MODEL}" else name)


def repair_store(
    source: str | os.PathLike[str], target: str | os.PathLike[str], encoder: Encoder, *, durable: bool = True
) -> RepairReport:
    """Rebuild every memory of ``source`` whose record is intact into the new store ``target``.

    Args:
        source: The (damaged) store; it is only read.
        target: A directory that does not exist yet or is empty.
        encoder: The store's encoder (same name, dimension and fingerprint).
        durable: fsync the new store's files.

    Raises:
        InvalidInputError: ``target`` is ``source`` or a non-empty directory.
        EncoderMismatchError: ``encoder`` is not the store's (nothing is written).
        StoreLockedError: a process has ``source`` open for writing.
    """
    import torch

    from ._config import HippoConfig
    from ._engine import Engine
    from ._sqlite import SQLiteStorage

    src, out = Path(source), Path(target)
    if out.resolve() == src.resolve() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise InvalidInputError(f"{out} must be a new or empty directory (repair never writes in place)")
    with _read_only(src) as db:
        meta = _meta(db, src)
        if meta.get("encoder") != encoder.name or int(meta.get("dim", -1)) != int(encoder.dim):
            raise EncoderMismatchError(
                f"{src} was written with encoder {meta.get('encoder')!r} (dim {meta.get('dim')}); "
                f"cannot re-encode it with {encoder.name!r} (dim {encoder.dim})"
            )
        keep = ("encoder", "encoder_fingerprint", "dim", "code_dim", "code_k", "seed", "partition_depth", "created_at")
        new = SQLiteStorage(out, durable=durable)
        try:
            new.initialise({k: meta[k] for k in keep if k in meta})
        finally:
            new.close()
        config = HippoConfig(durable=durable)
        engine = Engine(out, encoder=encoder, config=config, device=torch.device("cpu"))  # checks the fingerprint
        try:
            totals = _rebuild(db, engine.storage, encoder, int(meta["dim"]))
            if "write_policy_counts" in meta:
                with engine.storage.transaction():
                    engine.storage.set_policy_counts(json.loads(meta["write_policy_counts"]))
        finally:
            engine.close()
    return RepairReport(str(src), str(out), check=check_store(out), **totals)


def _rebuild(db: sqlite3.Connection, storage: Any, encoder: Encoder, dim: int) -> dict[str, Any]:
    lost: list[tuple[str, str]] = []
    totals: dict[str, Any] = {"recovered": 0, "links": 0, "lifecycle": 0, "aliases": 0}
    try:
        partitions = db.execute("SELECT id, key, consolidated_at FROM partitions ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        raise StoreCorruptedError(f"the partition catalogue cannot be read: {exc}") from exc
    for pid, key_json, consolidated_at in partitions:
        try:
            records = [
                MemoryRecord(*r)
                for r in db.execute(f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE partition = ? ORDER BY slot", (pid,))
            ]
            cues: dict[int, list[CueRecord]] = {}
            for row, slot, kind, text in db.execute(
                "SELECT row, slot, kind, text FROM cues WHERE partition = ? ORDER BY row", (pid,)
            ):
                cues.setdefault(int(slot), []).append(CueRecord(int(row), int(slot), str(kind), text))
        except sqlite3.Error as exc:
            lost.append((f"partition {key_json}", f"its memories cannot be read: {exc}"))
            continue
        intact = []
        for record in records:
            reason = _damage(record, cues.get(record.slot, []))
            if reason:
                lost.append((str(record.id), reason))
            else:
                intact.append(record)
        if not intact:
            continue
        part = storage.partition(tuple(json.loads(key_json)), create=True)
        texts = [cue.text for r in intact for cue in cues[r.slot]]
        vectors = np.concatenate([encode_checked(encoder, texts[i : i + 256], dim) for i in range(0, len(texts), 256)])
        new_records, new_cues, row = [], [], 0
        for r in intact:
            new_records.append(r._replace(row_start=row, row_count=len(cues[r.slot])))
            for cue in cues[r.slot]:
                new_cues.append(cue._replace(row=row))
                row += 1
        slots = {r.slot for r in intact}
        ids = {r.id for r in intact}
        links, lifecycle, aliases = _related(db, pid, slots, ids)
        part.append_vectors(vectors)
        with storage.transaction():
            part.insert_memories(new_records)
            part.insert_cues(new_cues)
            part.add_links(links)
            part.write_lifecycle(lifecycle)
            part.merge_ids(aliases)
            if consolidated_at is not None:
                part.set_consolidated_at(float(consolidated_at))
            part.commit_rows(row)
        part.rows_committed(row)
        totals["recovered"] += len(intact)
        totals["links"] += len(links)
        totals["lifecycle"] += len(lifecycle)
        totals["aliases"] += len(aliases)
    totals["lost"] = tuple(lost)
    return totals


def _damage(record: MemoryRecord, cues: list[CueRecord]) -> str | None:
    """Why a memory's record cannot be rebuilt, or ``None`` when it is intact."""
    try:
        namespace = json.loads(record.namespace)
        metadata = json.loads(record.metadata)
    except (TypeError, ValueError):
        return "its namespace or metadata is not valid JSON"
    if not isinstance(record.id, str) or not record.id:
        return "its id is not a string"
    if not isinstance(namespace, list) or not namespace or not all(isinstance(x, str) and x for x in namespace):
        return "its namespace is not a list of labels"
    if not isinstance(metadata, dict) or not isinstance(record.text, str) or not record.text.strip():
        return "its text or metadata is damaged"
    if not isinstance(record.code, bytes) or len(record.code) % 2:
        return "its sparse code is damaged"
    if not cues or len(cues) != record.row_count:
        return f"{len(cues)} of its {record.row_count} cues are stored"
    if not all(isinstance(c.text, str) and c.text.strip() for c in cues):
        return "a cue text is empty or damaged"
    return None


def _related(
    db: sqlite3.Connection, pid: int, slots: set[int], ids: set[str]
) -> tuple[list[LinkRecord], list[LifecycleRecord], list[tuple[str, str]]]:
    """Links between recovered slots, their lifecycle rows and the aliases pointing at them (where readable)."""
    links: list[LinkRecord] = []
    lifecycle: list[LifecycleRecord] = []
    aliases: list[tuple[str, str]] = []
    with contextlib.suppress(sqlite3.Error):
        for src, dst, strength in db.execute("SELECT src, dst, strength FROM links WHERE partition = ?", (pid,)):
            if src in slots and dst in slots and np.isfinite(strength) and strength > 0:
                links.append(LinkRecord(int(src), int(dst), float(strength)))
    with contextlib.suppress(sqlite3.Error):
        for row in db.execute(f"SELECT {_LIFECYCLE_COLUMNS} FROM lifecycle WHERE partition = ?", (pid,)):
            record = LifecycleRecord(*row)
            if record.slot not in slots:
                continue
            if record.superseded_by is not None and record.superseded_by not in ids:
                record = record._replace(superseded_by=None)
            try:
                json.loads(record.merged_from)
            except (TypeError, ValueError):
                record = record._replace(merged_from="[]")
            lifecycle.append(record)
    with contextlib.suppress(sqlite3.Error):
        for alias, target in db.execute("SELECT id, target FROM aliases WHERE partition = ?", (pid,)):
            if target in ids and alias not in ids:
                aliases.append((str(alias), str(target)))
    return links, lifecycle, aliases
