"""The hippo-memory command line, with the model-free encoder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from hippo_memory import HashingEncoder, HippoMemory
from hippo_memory._cli import main


def _run(capsys: pytest.CaptureFixture[str], store: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(store), "--encoder", "hashing", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_recall_chain_forget_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    code, first_id, _ = _run(
        capsys, store, "add", "Ivy keeps bees on the roof", "--namespace", "users/ivy", "--session", "a"
    )
    assert code == 0 and first_id.strip()
    _run(
        capsys,
        store,
        "add",
        "The honey goes to the farmers market",
        "--namespace",
        "users/ivy",
        "--session",
        "a",
        "--metadata",
        '{"kind": "note"}',
        "--timestamp",
        "2024-05-01T10:00:00Z",
    )
    code, out, _ = _run(capsys, store, "recall", "bees on the roof", "--namespace", "users/ivy", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and hits[0]["text"] == "Ivy keeps bees on the roof"
    code, out, _ = _run(capsys, store, "chain", "Ivy keeps bees", "--hops", "2", "--json")
    assert [h["text"] for h in json.loads(out)["hops"]] == [
        "Ivy keeps bees on the roof",
        "The honey goes to the farmers market",
    ]
    code, out, _ = _run(capsys, store, "stats", "--json")
    assert json.loads(out)["memories"] == 2
    code, out, _ = _run(capsys, store, "forget", first_id.strip())
    assert "forgot 1" in out


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    code, _, err = _run(capsys, store, "forget", "no-such-id")
    assert code == 2 and "no memory with id" in err
    code, _, err = _run(capsys, store, "add", "   ")
    assert code == 2 and "empty" in err


def test_ingest_plain_locomo_and_longmemeval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text(
        json.dumps(
            [
                {"role": "user", "content": "I planted tomatoes today", "timestamp": "2024-04-01T09:00:00Z"},
                {
                    "role": "assistant",
                    "content": "Nice! Water them in the morning.",
                    "timestamp": "2024-04-01T09:01:00Z",
                },
            ]
        )
    )
    locomo = tmp_path / "locomo.json"
    locomo.write_text(
        json.dumps(
            [
                {
                    "sample_id": "conv-x",
                    "conversation": {
                        "speaker_a": "Ann",
                        "speaker_b": "Ben",
                        "session_1_date_time": "1:56 pm on 8 May, 2023",
                        "session_1": [
                            {"speaker": "Ann", "dia_id": "D1:1", "text": "I got a kayak"},
                            {
                                "speaker": "Ben",
                                "dia_id": "D1:2",
                                "text": "Where will you paddle?",
                                "blip_caption": "a red kayak",
                            },
                        ],
                    },
                    "qa": [],
                }
            ]
        )
    )
    lme = tmp_path / "lme.json.gz"
    with gzip.open(lme, "wt") as handle:
        json.dump(
            [
                {
                    "question_id": "q1",
                    "question_type": "single-session-user",
                    "question": "?",
                    "answer": "",
                    "question_date": "2023/05/30 (Tue) 10:00",
                    "haystack_session_ids": ["s1"],
                    "haystack_dates": ["2023/05/20 (Sat) 07:47"],
                    "answer_session_ids": ["s1"],
                    "haystack_sessions": [[{"role": "user", "content": "My bike is blue", "has_answer": True}]],
                }
            ],
            handle,
        )
    store = tmp_path / "s"
    for path, ns in ((plain, "plain"), (locomo, "locomo"), (lme, "lme")):
        code, out, _ = _run(capsys, store, "ingest", str(path), "--namespace", ns, "--quiet")
        assert code == 0, out
    with HippoMemory(store, encoder=HashingEncoder(256)) as memory:
        assert memory.count(("plain",)) == 2
        assert memory.count(("locomo", "conv-x")) == 2
        assert memory.count(("lme", "q1")) == 1
        kayak = memory.recall("kayak paddle", namespace=("locomo",), k=2)
        assert {h.memory.metadata["dia_id"] for h in kayak} == {"D1:1", "D1:2"}
        assert any("[image: a red kayak]" in h.memory.text for h in kayak)
        assert memory.list(("plain",))[0].timestamp is not None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"what": 1}))
    code, _, err = _run(capsys, store, "ingest", str(bad))
    assert code == 2 and "unrecognised" in err


def test_demo_runs_on_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, tmp_path / "demo", "demo")
    assert code == 0
    assert "Single-hop recall" in out and "hop 1" in out
    # rerunning replaces the demo memories instead of duplicating them
    _run(capsys, tmp_path / "demo", "demo")
    with HippoMemory(tmp_path / "demo", encoder=HashingEncoder(256)) as memory:
        assert memory.count(("demo",)) == 8


def test_synthetic_bench_runs_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "synthetic.json"
    code = main(
        [
            "bench",
            "synthetic",
            "--encoder",
            "hashing",
            "--sizes",
            "300",
            "--quality-facts",
            "60",
            "--queries",
            "30",
            "--json",
            str(out_json),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config",
            "ivf_nprobe=8",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0 and "memories" in out
    assert any((tmp_path / "cache").rglob("*.vecs.npy"))  # encodings cached for a rerun
    results = json.loads(out_json.read_text())
    assert results["config_overrides"] == {"ivf_nprobe": 8}
    assert results["ranker"] == "learned" and "ranker: learned" in out  # the latencies include the default ranker
    assert results["quality"]["variants"]["no cue variants"]["exact"] == 1.0
    assert results["chains"][0]["hop_accuracy"] >= 0.9
    assert results["scale"][0]["memories"] == 300 and results["scale"][0]["cue_vectors"] == 900


def test_synthetic_bench_rejects_a_bad_config(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "synthetic", "--encoder", "hashing", "--cache-dir", "none", "--config", "nope=1"])
    assert code == 2 and "nope" in capsys.readouterr().err
