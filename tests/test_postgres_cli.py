"""``hippo-memory --store postgresql://...``: every subcommand on a database, and a one-line error when it cannot connect."""

from __future__ import annotations

import json

import _postgres_server
import pytest

from hippo_memory._cli import main

pytest.importorskip("psycopg")

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url


def _run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = main(["--store", url, "--encoder", "hashing", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_subcommand_runs_on_a_database(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, postgres_url, "stats", "--json")  # an empty database is an empty store
    assert code == 0, err
    assert json.loads(out)["memories"] == 0
    code, first, err = _run(
        capsys, postgres_url, "add", "Ivy keeps bees on the roof", "--namespace", "users/ivy", "--session", "a"
    )
    assert code == 0, err
    first = first.strip()
    code, second, _ = _run(
        capsys, postgres_url, "add", "The honey goes to the farmers market", "--namespace", "users/ivy",
        "--session", "a", "--metadata", '{"kind": "note"}',
    )  # fmt: skip
    second = second.strip()
    code, out, _ = _run(capsys, postgres_url, "recall", "bees on the roof", "--namespace", "users/ivy", "--json")
    assert code == 0 and json.loads(out)["hits"][0]["id"] == first
    code, out, _ = _run(capsys, postgres_url, "chain", "Ivy keeps bees", "--hops", "2", "--json")
    assert code == 0 and [h["id"] for h in json.loads(out)["hops"]] == [first, second]
    code, out, _ = _run(capsys, postgres_url, "get", second, "--json")
    assert code == 0 and json.loads(out)["metadata"] == {"kind": "note"}
    code, out, _ = _run(capsys, postgres_url, "list", "--namespace", "users", "--json")
    assert code == 0 and [m["id"] for m in json.loads(out)["memories"]] == [first, second]
    code, out, _ = _run(capsys, postgres_url, "consolidate", "--json")
    assert code == 0 and json.loads(out)["memories_after"] == 2
    code, out, err = _run(capsys, postgres_url, "check", "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] and report["memories"] == 2 and report["partitions"] == 1
    assert "hippo-test-password" not in out
    code, _, err = _run(capsys, postgres_url, "repair", "--out", "elsewhere")
    assert code == 2 and "migrate" in err
    code, out, _ = _run(capsys, postgres_url, "forget", first)
    assert code == 0 and "forgot 1" in out
    code, _, err = _run(capsys, postgres_url, "forget", first)
    assert code == 2 and "no memory with id" in err
    code, out, _ = _run(capsys, postgres_url, "stats", "--json")
    assert json.loads(out)["memories"] == 1 and json.loads(out)["namespaces_list"] == ["users/ivy"]


def test_ingest_on_a_database(postgres_url: str, capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "conv.json"
    path.write_text(json.dumps([{"role": "user", "content": f"turn number {i} about gardening"} for i in range(5)]))
    code, out, err = _run(capsys, postgres_url, "ingest", str(path), "--namespace", "g", "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out) == {"stored": 5, "sessions": 1}


@pytest.mark.parametrize(
    "command",
    [["stats"], ["recall", "anything"], ["add", "text"], ["check"], ["forget", "some-id"], ["list"]],
)
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_1(
    postgres_server: _postgres_server.PostgresServer, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for url in (
        postgres_server.url("no_such_database"),
        postgres_server.url(password="wrong-password"),
        "postgresql://hippo:secret@127.0.0.1:1/db",
    ):
        code, _, err = _run(capsys, url, *command)
        assert code == 1, (url, command, err)
        assert err.count("\n") == 1 and err.startswith("hippo-memory: error: StoreError: cannot connect"), err
        assert "secret" not in err and "wrong-password" not in err
