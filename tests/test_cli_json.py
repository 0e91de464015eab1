"""``--json`` on every command that prints a result, with ISO 8601 timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hippo_memory._cli import main


def _json(capsys: pytest.CaptureFixture[str], store: Path, *args: str) -> Any:
    code = main(["--store", str(store), "--encoder", "hashing", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _is_iso(value: str) -> bool:
    return "T" in value and datetime.fromisoformat(value).tzinfo is not None


def test_add_ingest_forget_print_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    added = _json(capsys, store, "add", "Ivy keeps bees on the roof", "--timestamp", "2024-05-01T10:00:00Z")
    assert set(added) == {"id"} and isinstance(added["id"], str)

    conversation = tmp_path / "conversation.json"
    conversation.write_text(
        json.dumps(
            [
                {"role": "user", "content": "I planted tomatoes", "timestamp": "2024-04-01T09:00:00Z"},
                {"role": "assistant", "content": "Water them early.", "timestamp": "2024-04-01T09:01:00Z"},
                {"role": "user", "content": "   "},
            ]
        )
    )
    assert _json(capsys, store, "ingest", str(conversation), "--namespace", "garden", "--quiet") == {
        "stored": 2,
        "sessions": 1,
    }

    other = _json(capsys, store, "add", "The honey goes to the market")["id"]
    assert _json(capsys, store, "forget", added["id"], other) == {"forgotten": 2}
    assert _json(capsys, store, "stats")["memories"] == 2


def test_recall_chain_get_list_timestamps_are_iso(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    first = _json(
        capsys, store, "add", "Ivy keeps bees on the roof", "--session", "a", "--timestamp", "2024-05-01T10:00:00Z"
    )["id"]
    _json(capsys, store, "add", "The honey goes to the farmers market", "--session", "a", "--metadata", '{"k": 1}')

    hit = _json(capsys, store, "recall", "bees on the roof")["hits"][0]
    assert hit["id"] == first and hit["timestamp"] == "2024-05-01T10:00:00+00:00"

    hops = _json(capsys, store, "chain", "Ivy keeps bees", "--hops", "2")["hops"]
    assert hops[0]["timestamp"] == "2024-05-01T10:00:00+00:00" and hops[1]["timestamp"] is None

    record = _json(capsys, store, "get", first)
    assert record["id"] == first and record["text"] == "Ivy keeps bees on the roof"
    assert datetime.fromisoformat(record["timestamp"]) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert _is_iso(record["created_at"]) and _is_iso(record["updated_at"])

    listed = _json(capsys, store, "list", "--newest-first", "--limit", "1")["memories"]
    assert [m["text"] for m in listed] == ["The honey goes to the farmers market"]
    assert listed[0]["metadata"] == {"k": 1} and _is_iso(listed[0]["created_at"])

    report = _json(capsys, store, "consolidate")
    assert _is_iso(report["started_at"])


def test_get_and_list_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    memory_id = _json(capsys, store, "add", "Ivy keeps bees", "--namespace", "users/ivy")["id"]
    assert main(["--store", str(store), "--encoder", "hashing", "get", memory_id]) == 0
    assert "text: Ivy keeps bees" in capsys.readouterr().out
    assert main(["--store", str(store), "--encoder", "hashing", "list", "--namespace", "users"]) == 0
    assert capsys.readouterr().out.split() == [memory_id, "-", "users/ivy", "Ivy", "keeps", "bees"]
