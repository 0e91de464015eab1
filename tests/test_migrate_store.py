"""``hippo-memory migrate SRC DST``: directory -> postgresql:// -> directory, and directory -> directory."""

from __future__ import annotations

import json
from pathlib import Path

import _postgres_server
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, InvalidInputError
from hippo_memory._cli import main
from hippo_memory._migrate_store import migrate_store

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False)
ENCODER = HashingEncoder(64)


def _fill(location: str | Path) -> None:
    """A small store using every field the copy keeps: sessions, cues, salience, ttl, links, supersession."""
    with HippoMemory(location, encoder=ENCODER, config=CONFIG) as memory:
        for user in ("alice", "bob", "carol"):
            memory.remember_many(
                [
                    f"{user} talked about topic {i}: {'gardening' if i % 2 else 'cello'} and the weather"
                    for i in range(12)
                ],
                namespace=("users", user),
                session="s1",
                timestamp="2024-05-01T10:00:00Z",
                metadata={"user": user},
            )
        old = memory.remember("Alice lives in Lisbon.", namespace=("users", "alice"), cues=["home town"])
        new = memory.remember(
            "Alice moved to Porto.", namespace=("users", "alice"), salience=0.9, metadata={"n": 1}, id="porto"
        )
        memory.supersede(old, new)
        memory.remember("A reminder that expires.", namespace=("tasks",), ttl=3600)
        memory.associate(new, memory.list(("users", "alice"))[0].id, strength=0.7, bidirectional=True)


def _snapshot(location: str | Path) -> dict[str, object]:
    with HippoMemory(location, encoder=ENCODER, config=CONFIG) as memory:
        # Insertion order within each namespace: across partitions list() orders by the time each memory
        # was learned, which the copy cannot keep (a batch of the copy is learned at one instant).
        records = [m for ns in memory.namespaces() for m in memory.list(ns) if m.namespace == ns]
        return {
            "memories": [
                (
                    m.id,
                    m.text,
                    m.namespace,
                    dict(m.metadata),
                    m.timestamp,
                    m.session,
                    sorted(c.text for c in m.cues),
                    m.salience,
                    m.superseded_by,
                    m.expires_at is not None,
                )
                for m in records
            ],
            "links": {m.id: memory.associations(m.id) for m in records},
            "counts": {ns: memory.count(ns) for ns in memory.namespaces()},
        }


def test_directory_to_postgres_and_back(tmp_path: Path, postgres_url: str) -> None:
    _fill(tmp_path / "src")
    report = migrate_store(tmp_path / "src", postgres_url, durable=False)
    assert report.ok, report.mismatches
    assert report.memories == 3 * 12 + 3 and report.superseded == 1 and report.associations > 3 * 11
    assert report.namespaces == {"tasks": 1, "users/alice": 14, "users/bob": 12, "users/carol": 12}
    assert report.sampled == report.memories  # fewer than the sample: every memory is compared
    assert "hippo-test-password" not in report.target
    back = migrate_store(postgres_url, tmp_path / "back", durable=False)
    assert back.ok, back.mismatches
    want = _snapshot(tmp_path / "src")
    assert _snapshot(postgres_url) == want
    assert _snapshot(tmp_path / "back") == want


def test_directory_to_directory_and_a_target_with_memories_is_refused(tmp_path: Path) -> None:
    _fill(tmp_path / "src")
    report = migrate_store(tmp_path / "src", tmp_path / "dst", sample=10, durable=False)
    assert report.ok and report.sampled == 10
    assert _snapshot(tmp_path / "dst") == _snapshot(tmp_path / "src")
    with pytest.raises(InvalidInputError, match="already holds 39 memories"):
        migrate_store(tmp_path / "src", tmp_path / "dst", durable=False)
    with pytest.raises(InvalidInputError, match="the target is the source"):
        migrate_store(tmp_path / "src", tmp_path / "src", durable=False)


def test_the_command(tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(tmp_path / "src")
    code = main(["migrate", str(tmp_path / "src"), postgres_url, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["memories"] == 39 and report["not_copied"]
    code = main(["migrate", str(tmp_path / "src"), postgres_url])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("hippo-memory: error: InvalidInputError:") and err.count("\n") == 1
    code = main(["migrate", str(tmp_path / "missing"), str(tmp_path / "dst")])
    _, err = capsys.readouterr()
    assert code == 1 and "no store at" in err and not (tmp_path / "dst").exists()
    code = main(["migrate", postgres_url, str(tmp_path / "dst"), "--quiet"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.strip().endswith("ok")
