"""Verify before you touch: vector checksums, the encoder fingerprint, ``check`` and ``repair``."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from hippo_memory import EncoderMismatchError, HashingEncoder, HippoConfig, HippoMemory, StoreCorruptedError
from hippo_memory._check import check_store, repair_store
from hippo_memory._cli import main

CONFIG = HippoConfig(code_dim=1024, code_k=16, durable=False)
DIM = 64
WORDS = ["apple", "river", "stone", "violin", "cloud", "harbour", "tiger", "lamp", "orbit", "maple", "candle", "desert"]


def _texts(n: int, tag: str = "") -> list[str]:
    return [
        f"{tag}memory {i} {WORDS[i % 12]} {WORDS[(i * 5) % 12]} near the {WORDS[(i * 7 + 3) % 12]}" for i in range(n)
    ]


def _make(path: Path, n: int = 120, *, namespaces: tuple[str, ...] = ("alice", "bob"), tag: str = "") -> dict[str, str]:
    """A store with ``n`` memories per namespace (several checksum blocks); returns id -> text."""
    ids: dict[str, str] = {}
    with HippoMemory(path, encoder=HashingEncoder(DIM), config=CONFIG) as memory:
        for ns in namespaces:
            texts = _texts(n, f"{tag}{ns} ")
            for id_, text in zip(memory.remember_many(texts, namespace=(ns,), session=f"{ns}-s"), texts, strict=True):
                ids[id_] = text
    return ids


def _vector_file(path: Path, namespace: str) -> tuple[Path, int]:
    db = sqlite3.connect(path / "hippo.sqlite")
    name, n_rows = db.execute(
        "SELECT vectors_file, n_rows FROM partitions WHERE key = ?", (json.dumps([namespace]),)
    ).fetchone()
    db.close()
    return path / "partitions" / name, int(n_rows)


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _recall_alice(path: Path) -> None:
    with HippoMemory(path, encoder=HashingEncoder(DIM), config=CONFIG) as memory:
        memory.recall("violin", namespace=("alice",), k=3)


def test_checksums_are_written_for_every_block(store_path: Path) -> None:
    _make(store_path)
    _, n_rows = _vector_file(store_path, "alice")
    db = sqlite3.connect(store_path / "hippo.sqlite")
    rows = db.execute("SELECT block, rows FROM vector_checksums ORDER BY partition, block").fetchall()
    db.close()
    assert n_rows > 256  # several blocks
    assert sum(r for _, r in rows) == n_rows * 2
    assert check_store(store_path).ok


def test_flipped_bytes_in_one_row_are_refused_naming_the_block(store_path: Path) -> None:
    _make(store_path)
    file, _ = _vector_file(store_path, "alice")
    row = 300  # block 1
    data = bytearray(file.read_bytes())
    data[row * DIM * 4 + 8 : row * DIM * 4 + 16] = b"\x13\x37\x13\x37\x13\x37\x13\x37"
    file.write_bytes(bytes(data))
    before = _files(store_path)
    with pytest.raises(StoreCorruptedError, match=r"partition \('alice',\).*block 1 "):
        _recall_alice(store_path)
    assert _files(store_path) == before  # nothing modified, not even the database
    report = check_store(store_path)
    assert [p.kind for p in report.problems] == ["checksum"]
    assert "blocks 1 " in report.problems[0].detail
    assert _files(store_path) == before


def test_a_nan_row_is_refused(store_path: Path) -> None:
    _make(store_path)
    file, _ = _vector_file(store_path, "alice")
    with open(file, "r+b") as handle:
        handle.seek(5 * DIM * 4)
        handle.write(np.full(DIM, np.nan, dtype=np.float32).tobytes())
    with pytest.raises(StoreCorruptedError, match="block 0"):
        _recall_alice(store_path)
    kinds = {p.kind for p in check_store(store_path).problems}
    assert kinds == {"checksum", "non-finite"}


def test_a_vector_file_from_another_store_is_refused(tmp_path: Path) -> None:
    _make(tmp_path / "a")
    _make(tmp_path / "b", n=121, tag="other ")  # other texts, a longer file
    mine, n_rows = _vector_file(tmp_path / "a", "alice")
    theirs, _ = _vector_file(tmp_path / "b", "alice")
    shutil.copyfile(theirs, mine)
    before = _files(tmp_path / "a")
    with pytest.raises(StoreCorruptedError, match="checksum"):  # refused at open: its tail is not cut
        _recall_alice(tmp_path / "a")
    assert _files(tmp_path / "a") == before
    same_size = theirs.read_bytes()[: n_rows * DIM * 4]
    mine.write_bytes(same_size)
    with pytest.raises(StoreCorruptedError, match="block 0"):
        _recall_alice(tmp_path / "a")


class _OtherWeights(HashingEncoder):
    """The same name and dimension as ``HashingEncoder(DIM)``, other weights."""

    def __init__(self) -> None:
        super().__init__(DIM, seed=7)
        self.name = HashingEncoder(DIM).name


def test_an_encoder_with_other_weights_is_refused_before_anything_is_written(store_path: Path) -> None:
    _make(store_path, n=5)
    before = _files(store_path)
    with pytest.raises(EncoderMismatchError, match="other weights"):
        HippoMemory(store_path, encoder=_OtherWeights(), config=CONFIG)
    assert _files(store_path) == before
    with HippoMemory(store_path, encoder=HashingEncoder(DIM), config=CONFIG) as memory:
        assert len(memory.recall("violin", namespace=("alice",), k=2)) == 2


def test_stores_without_checksums_or_fingerprint_open_and_get_them(store_path: Path) -> None:
    ids = _make(store_path)
    db = sqlite3.connect(store_path / "hippo.sqlite")
    db.execute("DROP TABLE vector_checksums")  # as written before the table existed
    db.execute("DELETE FROM meta WHERE key = 'encoder_fingerprint'")
    db.commit()
    db.close()
    report = check_store(store_path)
    assert report.ok and report.blocks_unknown == report.blocks_verified + report.blocks_unknown > 0
    with HippoMemory(store_path, encoder=HashingEncoder(DIM), config=CONFIG) as memory:
        hits = memory.recall("violin", namespace=("alice",), k=3)
        assert all(hit.memory.id in ids for hit in hits)
        memory.remember("a new memory after the upgrade", namespace=("alice",))
    db = sqlite3.connect(store_path / "hippo.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key = 'encoder_fingerprint'").fetchone() is not None
    db.close()
    report = check_store(store_path)
    assert report.ok
    # alice loaded cleanly and her blocks were sealed; bob's stay unknown until he loads
    assert report.blocks_verified >= 2 and report.blocks_unknown >= 1
    with pytest.raises(EncoderMismatchError):
        HippoMemory(store_path, encoder=_OtherWeights(), config=CONFIG)


def test_compaction_rewrites_the_checksums(store_path: Path) -> None:
    _make(store_path)
    with HippoMemory(store_path, encoder=HashingEncoder(DIM), config=CONFIG) as memory:
        gone = [m.id for m in memory.list(namespace=("alice",))][:40]
        memory.forget(gone)
        memory.consolidate(compact=True, replay=False, merge=False, decay=False)
    assert check_store(store_path).ok
    _recall_alice(store_path)


def test_check_cli_on_a_clean_and_a_damaged_store(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make(store_path, n=20)
    assert main(["check", "--store", str(store_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")
    file, _ = _vector_file(store_path, "bob")
    with open(file, "r+b") as handle:
        handle.seek(3 * DIM * 4)
        handle.write(b"\xff" * 16)
    before = _files(store_path)
    assert main(["--store", str(store_path), "check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and {p["kind"] for p in report["problems"]} == {"checksum", "non-finite"}
    assert report["problems"][0]["partition"] == json.dumps(["bob"])
    assert _files(store_path) == before


def test_check_reports_records_pointing_past_the_committed_rows(store_path: Path) -> None:
    _make(store_path, n=10)
    db = sqlite3.connect(store_path / "hippo.sqlite")
    db.execute("UPDATE partitions SET n_rows = n_rows - 2 WHERE key = ?", (json.dumps(["alice"]),))
    db.execute("UPDATE namespaces SET count = 3 WHERE namespace = ?", (json.dumps(["bob"]),))
    db.commit()
    db.close()
    kinds = {p.kind for p in check_store(store_path).problems}
    assert {"uncommitted-rows", "namespace-count"} <= kinds


def test_repair_rebuilds_every_intact_memory_into_a_new_store(tmp_path: Path) -> None:
    source, out = tmp_path / "damaged", tmp_path / "repaired"
    ids = _make(source)
    with HippoMemory(source, encoder=HashingEncoder(DIM), config=CONFIG) as memory:
        first, second = list(ids)[:2]
        memory.associate(first, second, strength=2.0)
        memory.update(first, metadata={"kept": True})
        before = {m.id: m for m in memory.list()}
    file, _ = _vector_file(source, "alice")
    file.write_bytes(b"\x00" * 100)  # the vector file is ruined
    db = sqlite3.connect(source / "hippo.sqlite")  # and one memory lost its cues
    lost_id = list(ids)[-1]
    db.execute(
        "DELETE FROM cues WHERE slot = (SELECT slot FROM memories WHERE id = ?) AND partition = "
        "(SELECT partition FROM memories WHERE id = ?)",
        (lost_id, lost_id),
    )
    db.commit()
    db.close()
    source_files = _files(source)
    assert not check_store(source).ok

    report = repair_store(source, out, HashingEncoder(DIM), durable=False)
    assert _files(source) == source_files  # only read
    assert report.recovered == len(ids) - 1
    assert [what for what, _ in report.lost] == [lost_id]
    assert report.links > 0 and report.lifecycle == len(ids) - 1
    assert report.check.ok and report.check.blocks_unknown == 0

    with HippoMemory(out, encoder=HashingEncoder(DIM), config=CONFIG) as memory:
        after = {m.id: m for m in memory.list()}
        assert set(after) == set(before) - {lost_id}
        for id_, m in after.items():
            old = before[id_]
            assert (m.text, m.namespace, m.metadata, m.session, m.created_at, m.timestamp) == (
                old.text,
                old.namespace,
                old.metadata,
                old.session,
                old.created_at,
                old.timestamp,
            )
        hits = memory.recall(before[first].text, namespace=("alice",), k=3)
        assert hits[0].memory.id == first
        assert dict(memory.associations(first))[second] >= 2.0


def test_repair_cli_refuses_an_existing_directory_and_reports_losses(tmp_path: Path) -> None:
    source, out = tmp_path / "s", tmp_path / "o"
    _make(source, n=8)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["repair", "--store", str(source), "--out", str(tmp_path / "full")]) == 2
    assert main(["repair", "--store", str(source), "--out", str(source)]) == 2
    assert main(["repair", "--store", str(source), "--out", str(out), "--json"]) == 0
    with pytest.raises(EncoderMismatchError):
        repair_store(source, tmp_path / "o2", _OtherWeights(), durable=False)
