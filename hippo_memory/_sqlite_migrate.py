"""Migration of a format-1 directory store (one slot space, one vector file) to partitions.

Format 1 kept every namespace in one global slot space with one ``vectors.f32``.
The migration gives each partition (namespace prefix of ``partition_depth``
labels, the whole namespace by default) its own slots, rows and vector file:

1. the new vector files are written and fsynced (a crash here leaves format 1,
   and the next open writes them again);
2. one transaction moves every record into its partition, renumbered, and marks
   the store format 2;
3. the old vector file, IVF centroids and lock file are deleted.

Associations between memories of different partitions (format 1 accepted them)
are dropped: a partition never refers to another.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import StoreCorruptedError

__all__ = ["migrate_v1"]

_V1_TABLES = ("memories", "cues", "links", "lifecycle", "aliases")


def _partition_key(namespace_json: str, depth: int | None) -> str:
    labels = json.loads(namespace_json)
    key = labels if depth is None else labels[:depth]
    return json.dumps(key, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def migrate_v1(
    db: sqlite3.Connection, path: Path, dim: int, *, durable: bool, schema: str, depth: int | None = None
) -> None:
    """Rewrite the format-1 store in ``path`` (``db`` open on its database) as format 2.

    Raises:
        StoreCorruptedError: the format-1 store is inconsistent; nothing is changed.
    """
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    n_rows = int(meta.get("n_rows", "0"))
    old_name = meta.get("vectors_file", "vectors.f32")
    row_bytes = dim * 4
    old_file = path / old_name
    old = np.zeros((0, dim), dtype=np.float32)
    if n_rows:
        if not old_file.exists() or old_file.stat().st_size < n_rows * row_bytes:
            raise StoreCorruptedError(f"{old_file} holds fewer rows than the database commits ({n_rows})")
        with open(old_file, "rb") as handle:
            old = np.frombuffer(handle.read(n_rows * row_bytes), dtype=np.float32).reshape(n_rows, dim)
    memories = db.execute(
        "SELECT slot, id, namespace, text, metadata, timestamp, created_at, updated_at, session, code, "
        "row_start, row_count FROM memories ORDER BY slot"
    ).fetchall()
    pids: dict[str, int] = {}
    where: dict[int, tuple[int, int]] = {}  # old slot -> (pid, new slot)
    new_rows: dict[int, list[int]] = {}  # pid -> old rows in new order
    row_map: dict[int, tuple[int, int]] = {}  # old row -> (pid, new row)
    new_memories: list[tuple[Any, ...]] = []
    slot_count: dict[int, int] = {}
    counts: dict[str, tuple[int, int]] = {}
    for slot, id_, ns_json, text, metadata, ts, created, updated, session, code, start, count in memories:
        ns = json.dumps(json.loads(ns_json), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        if start + count > n_rows:
            raise StoreCorruptedError("a memory refers to vector rows that were never committed")
        key = _partition_key(ns, depth)
        pid = pids.setdefault(key, len(pids) + 1)
        rows = new_rows.setdefault(pid, [])
        new_slot = slot_count.get(pid, 0)
        slot_count[pid] = new_slot + 1
        where[slot] = (pid, new_slot)
        first = len(rows)
        for offset in range(count):
            row_map[start + offset] = (pid, first + offset)
            rows.append(start + offset)
        new_memories.append((pid, new_slot, id_, ns, text, metadata, ts, created, updated, session, code, first, count))
        n = counts.get(ns, (pid, 0))[1]
        counts[ns] = (pid, n + 1)
    directory = path / "partitions"
    directory.mkdir(exist_ok=True)
    for pid, rows in new_rows.items():
        target = directory / f"p{pid}.f32"
        with open(target, "wb") as handle:
            handle.write(np.ascontiguousarray(old[np.asarray(rows, dtype=np.int64)]).tobytes())
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    if durable:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    cues = db.execute("SELECT row, slot, kind, text FROM cues").fetchall()
    links = db.execute("SELECT src, dst, strength FROM links").fetchall()
    lifecycle = db.execute("SELECT * FROM lifecycle").fetchall() if "lifecycle" in tables else []
    lifecycle_columns = [d[1] for d in db.execute("PRAGMA table_info(lifecycle)")]
    aliases = db.execute("SELECT id, target FROM aliases").fetchall() if "aliases" in tables else []
    id_pid = {m[2]: m[0] for m in new_memories}
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in (
            "DROP TRIGGER IF EXISTS memories_fts_insert",
            "DROP TRIGGER IF EXISTS memories_fts_delete",
            "DROP TRIGGER IF EXISTS memories_fts_update",
        ):
            db.execute(statement)
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("DROP TABLE IF EXISTS memories_fts")
        for table in _V1_TABLES:
            db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute("DROP INDEX IF EXISTS memories_session")
        db.execute("DROP INDEX IF EXISTS cues_slot")
        for statement in schema.split(";"):
            if statement.strip():
                db.execute(statement)
        db.executemany(
            "INSERT INTO partitions (id, key, n_rows, vectors_file) VALUES (?, ?, ?, ?)",
            [(pid, key, len(new_rows.get(pid, [])), f"p{pid}.f32") for key, pid in pids.items()],
        )
        db.executemany("INSERT INTO namespaces VALUES (?, ?, ?)", [(ns, p, n) for ns, (p, n) in counts.items()])
        db.executemany("INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", new_memories)
        db.executemany(
            "INSERT INTO cues VALUES (?,?,?,?,?)",
            [(*row_map[row], where[slot][1], kind, text) for row, slot, kind, text in cues if row in row_map],
        )
        db.executemany(
            "INSERT INTO links VALUES (?,?,?,?)",
            [
                (where[src][0], where[src][1], where[dst][1], strength)
                for src, dst, strength in links
                if src in where and dst in where and where[src][0] == where[dst][0]
            ],
        )
        slot_at = lifecycle_columns.index("slot")
        values = []
        for record in lifecycle:
            if record[slot_at] not in where:
                continue
            pid, new_slot = where[record[slot_at]]
            row = dict(zip(lifecycle_columns, record, strict=True))
            row["slot"] = new_slot
            values.append(
                (
                    pid,
                    new_slot,
                    row.get("salience", 0.0),
                    row.get("novelty"),
                    row["learned_at"],
                    row["reinforced_at"],
                    row["stability"],
                    row.get("access_count", 0),
                    row.get("last_access"),
                    row.get("replay_count", 0),
                    row.get("expires_at"),
                    row.get("superseded_by"),
                    row.get("merged_from") or "[]",
                )
            )
        db.executemany("INSERT INTO lifecycle VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
        db.executemany(
            "INSERT INTO aliases VALUES (?, ?, ?)",
            [(a, id_pid[t], t) for a, t in aliases if t in id_pid],
        )
        db.execute("DELETE FROM meta WHERE key IN ('n_rows', 'vectors_file', 'ivf_generation', 'consolidated_at')")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('format_version', '2')")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('partition_depth', ?)", ("" if depth is None else str(depth),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    for entry in path.iterdir():
        if (entry.name.startswith("vectors") and entry.name.endswith(".f32")) or entry.name.startswith("ivf-"):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
    with contextlib.suppress(FileNotFoundError):
        (path / "LOCK").unlink()
