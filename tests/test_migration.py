"""Stores written in format 1 (one slot space, one vector file) open and migrate to partitions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
from hippo_memory.functional import random_projection, wta_code

# The format-1 schema exactly as release 0.1.0 wrote it (hippo_memory/_store.py of that release).
_V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE memories (slot INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL,
    text TEXT NOT NULL, metadata TEXT NOT NULL, timestamp REAL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, session TEXT, code BLOB NOT NULL, row_start INTEGER NOT NULL,
    row_count INTEGER NOT NULL);
CREATE INDEX memories_session ON memories(namespace, session, slot);
CREATE TABLE cues (row INTEGER PRIMARY KEY, slot INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX cues_slot ON cues(slot);
CREATE TABLE links (src INTEGER NOT NULL, dst INTEGER NOT NULL, strength REAL NOT NULL, PRIMARY KEY (src, dst));
CREATE TABLE lifecycle (slot INTEGER PRIMARY KEY, salience REAL NOT NULL DEFAULT 0, novelty REAL,
    learned_at REAL NOT NULL, reinforced_at REAL NOT NULL, stability REAL NOT NULL,
    access_count INTEGER NOT NULL DEFAULT 0, last_access REAL, replay_count INTEGER NOT NULL DEFAULT 0,
    expires_at REAL, superseded_by TEXT, merged_from TEXT NOT NULL DEFAULT '[]');
CREATE TABLE aliases (id TEXT PRIMARY KEY, target TEXT NOT NULL);
"""

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False)
TEXTS = [
    (("users", "alice"), "Alice adopted a greyhound named Pixel."),
    (("users", "bob"), "Bob is learning to play the cello."),
    (("users", "alice"), "Alice's sister Dana lives in Porto."),
    (("users", "bob"), "Bob moved to Helsinki last spring."),
]


def _write_v1_store(path: Path, *, fts: bool = False) -> list[str]:
    """A format-1 store of ``TEXTS``, each under one text cue, with links and a cross-namespace link."""
    encoder = HashingEncoder()
    vectors = encoder.encode([t for _, t in TEXTS])
    codes = wta_code(__import__("torch").from_numpy(vectors), random_projection(encoder.dim, 2048, 0), 32).numpy()
    path.mkdir()
    db = sqlite3.connect(path / "hippo.sqlite")
    db.executescript(_V1_SCHEMA)
    meta = {
        "application": "hippo-memory",
        "format_version": "1",
        "n_rows": str(len(TEXTS)),
        "encoder": encoder.name,
        "dim": str(encoder.dim),
        "code_dim": "2048",
        "code_k": "32",
        "seed": "0",
        "created_at": "1700000000",
    }
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    ids = [f"m{i}" for i in range(len(TEXTS))]
    for slot, ((ns, text), id_) in enumerate(zip(TEXTS, ids, strict=True)):
        db.execute(
            "INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                slot,
                id_,
                json.dumps(list(ns)),
                text,
                "{}",
                None,
                1.7e9,
                1.7e9,
                None,
                codes[slot].astype(np.uint16).tobytes(),
                slot,
                1,
            ),
        )
        db.execute("INSERT INTO cues VALUES (?,?,?,?)", (slot, slot, "text", text))
    db.execute("INSERT INTO links VALUES (0, 2, 1.5)")  # alice -> alice
    db.execute("INSERT INTO links VALUES (0, 1, 1.0)")  # alice -> bob: format 1 allowed it
    db.execute("INSERT INTO aliases VALUES ('merged-away', 'm2')")
    if fts:
        try:
            db.executescript(
                "CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='slot');"
                "CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN "
                "INSERT INTO memories_fts(rowid, text) VALUES (new.slot, new.text); END;"
            )
        except sqlite3.OperationalError:  # pragma: no cover - SQLite without FTS5
            pytest.skip("this SQLite has no FTS5")
    db.commit()
    db.close()
    (path / "vectors.f32").write_bytes(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    (path / "LOCK").write_bytes(b"")
    return ids


def test_format_1_store_migrates_to_partitions(tmp_path: Path) -> None:
    store = tmp_path / "v1"
    ids = _write_v1_store(store, fts=True)
    with HippoMemory(store, encoder=HashingEncoder(), config=CONFIG) as memory:
        assert memory.count() == 4
        assert memory.namespaces() == [("users", "alice"), ("users", "bob")]
        assert memory.stats()["partitions"] == 2
        for id_, (ns, text) in zip(ids, TEXTS, strict=True):
            assert memory.get(id_).text == text
            assert memory.get(id_).namespace == ns
        assert memory.recall("greyhound Pixel", namespace=("users", "alice"), k=1)[0].memory.id == "m0"
        assert memory.recall("cello", namespace=("users",), k=1)[0].memory.id == "m1"
        # The alice -> alice link survives; the cross-namespace one is dropped.
        assert memory.associations("m0") == [("m2", 1.5)]
        assert memory.get("merged-away").id == "m2"
        # Writing after the migration appends to the partition's own vector file.
        new = memory.remember("Alice runs on Sundays.", namespace=("users", "alice"))
        assert memory.recall("Sundays run", namespace=("users", "alice"), k=1)[0].memory.id == new
        tables = {r[0] for r in sqlite3.connect(store / "hippo.sqlite").execute("SELECT name FROM sqlite_master")}
        assert not any(name.startswith("memories_fts") for name in tables)
    assert not (store / "vectors.f32").exists()
    assert not (store / "LOCK").exists()
    with HippoMemory(store, encoder=HashingEncoder(), config=CONFIG) as memory:
        assert memory.count() == 5
        assert memory.get(new).text == "Alice runs on Sundays."


def test_format_1_lifecycle_tables_of_earlier_builds_migrate(tmp_path: Path) -> None:
    """A format-1 store whose lifecycle table lacks later columns (and has no aliases table) opens."""
    store = tmp_path / "v1"
    _write_v1_store(store)
    db = sqlite3.connect(store / "hippo.sqlite")
    db.execute("DROP TABLE lifecycle")
    db.execute("DROP TABLE aliases")
    db.execute(
        "CREATE TABLE lifecycle (slot INTEGER PRIMARY KEY, salience REAL NOT NULL DEFAULT 0, novelty REAL, "
        "learned_at REAL NOT NULL, reinforced_at REAL NOT NULL, stability REAL NOT NULL, "
        "access_count INTEGER NOT NULL DEFAULT 0, last_access REAL)"
    )
    db.commit()
    db.close()
    with HippoMemory(store, encoder=HashingEncoder(), config=CONFIG) as memory:
        memory.clock = lambda: 1.7e9
        got = memory.get("m0")
        assert got.salience == 0.0 and got.novelty is None and got.strength == pytest.approx(1.0, abs=1e-3)
        b = memory.remember("written after", ttl=60, namespace=("users", "alice"))
        assert memory.consolidate().memories_after == 5
    with HippoMemory(store, encoder=HashingEncoder(), config=CONFIG) as memory:
        assert memory.get(b).expires_at is not None
