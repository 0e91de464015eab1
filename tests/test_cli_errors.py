"""Bad command lines end in one error line and a non-zero exit status, never a traceback.

Exit 2: the command line is wrong (argparse, bad JSON, rejected input, unknown id).
Exit 1: the store is missing or unusable. Only ``add`` and ``ingest`` create a store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hippo_memory._cli import main


def _run(capsys: pytest.CaptureFixture[str], store: Path, *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of one command; argparse's exits count as returns."""
    try:
        code = main(["--store", str(store), "--encoder", "hashing", *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "store"
    code, _, _ = _run(capsys, path, "add", "Ivy keeps bees on the roof", "--namespace", "users/ivy")
    assert code == 0
    return path


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [("{bad", "invalid JSON"), ("[1, 2]", "expected a JSON object, not list"), ("", "invalid JSON")],
)
def test_bad_metadata_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metadata: str, expected: str
) -> None:
    code, _, err = _run(capsys, tmp_path / "s", "add", "some text", "--metadata", metadata)
    assert code == 2
    assert _last_line(err).startswith("hippo-memory add: error: argument --metadata: ") and expected in err
    assert not (tmp_path / "s").exists()  # rejected before the store is opened


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("ingest", "x.json", "--batch-size", "0"), "argument --batch-size: expected a positive integer"),
        (("ingest", "x.json", "--limit", "-1"), "argument --limit: expected a positive integer"),
        (("recall", "bees", "-k", "zero"), "argument -k: expected a positive integer"),
        (("chain", "bees", "--hops", "0"), "argument --hops: expected a positive integer"),
    ],
)
def test_bad_numbers_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    code, _, err = _run(capsys, tmp_path / "s", *args)
    assert code == 2 and expected in _last_line(err)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("add", "text", "--namespace", "users/a.b"), "InvalidNamespaceError"),
        (("add", "text", "--timestamp", "not a date"), "InvalidInputError"),
        (("add", "   "), "EmptyTextError"),
        (("recall", "bees", "--namespace", "a.b"), "InvalidNamespaceError"),
        (("get", "no-such-id"), "MemoryNotFoundError"),
        (("forget", "no-such-id"), "MemoryNotFoundError"),
    ],
)
def test_rejected_input_names_the_error(
    store: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], error: str
) -> None:
    code, out, err = _run(capsys, store, *args)
    assert code == 2 and out == ""
    assert _last_line(err).startswith(f"hippo-memory: error: {error}: ")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),  # the file does not exist
        ("{not json", "cannot read"),
        (json.dumps([1, 2]), "unrecognised conversation format"),
        (json.dumps([]), "non-empty JSON list"),
        (json.dumps([{"content": "hello"}, 5]), "malformed conversation file"),
        (json.dumps([{"conversation": "not a dict"}]), "malformed conversation file"),
        (json.dumps([{"question_id": "q", "haystack_sessions": [[]]}]), "missing key 'haystack_session_ids'"),
        (json.dumps([{"role": "user"}, {"content": "hi"}]), "unrecognised conversation format"),
    ],
)
def test_ingest_reports_bad_files_without_creating_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "conversation.json"
    if content is not None:
        path.write_text(content)
    code, _, err = _run(capsys, tmp_path / "s", "ingest", str(path), "--quiet")
    assert code == 2
    assert _last_line(err).startswith("hippo-memory: error: InvalidInputError: ") and str(path) in err
    assert expected in err
    assert not (tmp_path / "s").exists()


def test_ingest_bad_timestamp_in_a_plain_conversation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "conversation.json"
    path.write_text(json.dumps([{"role": "user", "content": "hi", "timestamp": "yesterday-ish"}]))
    code, _, err = _run(capsys, tmp_path / "s", "ingest", str(path), "--quiet")
    assert code == 2 and "yesterday-ish" in err


@pytest.mark.parametrize(
    "args",
    [
        ("recall", "bees"),
        ("chain", "bees"),
        ("stats",),
        ("get", "some-id"),
        ("list",),
        ("consolidate",),
    ],
)
def test_missing_store_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    missing = tmp_path / "nowhere" / "store"
    code, out, err = _run(capsys, missing, *args)
    assert code == 1 and out == ""
    assert _last_line(err) == (
        f"hippo-memory: error: StoreError: no store at {missing}: the path does not exist "
        "(only 'add' and 'ingest' create a store)"
    )
    assert not missing.exists() and not missing.parent.exists()


def test_empty_directory_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run(capsys, empty, "stats")
    assert code == 1 and f"no store at {empty}: the directory is empty" in err
    assert list(empty.iterdir()) == []


def test_forget_on_a_missing_store_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Exit 2 like any unknown id (tests/test_cli.py pins that); the message says why.
    missing = tmp_path / "nowhere"
    code, _, err = _run(capsys, missing, "forget", "some-id")
    assert code == 2
    assert "no memory with id 'some-id'" in err and f"no store at {missing}" in err
    assert not missing.exists()


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_migrate_from_a_missing_store_creates_neither_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], json_flag: tuple[str, ...]
) -> None:
    # Opening SRC used to create it, and the empty copy was reported "ok".
    source, target = tmp_path / "nowhere", tmp_path / "copy"
    code, out, err = _run(capsys, tmp_path / "unused", "migrate", str(source), str(target), "--quiet", *json_flag)
    assert code == 1 and out == ""
    assert _last_line(err).startswith(f"hippo-memory: error: StoreError: no store at {source}: the path does not exist")
    assert list(tmp_path.iterdir()) == []


def test_a_file_as_store_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("hello")
    for args in (("stats",), ("add", "text")):
        code, _, err = _run(capsys, not_a_store, *args)
        assert code == 1 and _last_line(err).startswith("hippo-memory: error: ")
    assert not_a_store.read_text() == "hello"


def test_encoder_mismatch_is_a_store_error(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--store", str(store), "--encoder", "hashing:64", "stats"])
    err = capsys.readouterr().err
    assert code == 1 and _last_line(err).startswith("hippo-memory: error: EncoderMismatchError: ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("bench", "synthetic", "--sizes", "1000,abc"), "argument --sizes: expected a positive integer: 'abc'"),
        (("bench", "synthetic", "--index-sizes", ","), "argument --index-sizes: expected comma-separated"),
        (("bench", "synthetic", "--queries", "0"), "argument --queries: expected a positive integer"),
        (("bench", "nightly", "--days", "0"), "argument --days: expected a positive integer"),
    ],
)
def test_bench_options_reject_bad_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    code, _, err = _run(capsys, tmp_path / "s", *args)
    assert code == 2 and expected in _last_line(err)
