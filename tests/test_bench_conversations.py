"""Conversation benchmarks: metric definitions, data loading, the harness, the cache.

Everything runs on small LoCoMo- and LongMemEval-shaped fixtures written here,
with the model-free HashingEncoder; nothing reads ../shared.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig
from hippo_memory.bench._baselines import dedupe_to_parents, rrf_fuse
from hippo_memory.bench._conversations import main, register_commands, run_benchmark
from hippo_memory.bench._datasets import (
    Unit,
    load_json,
    load_locomo,
    load_longmemeval,
    parse_evidence,
)
from hippo_memory.bench._enc_cache import CachedEncoder
from hippo_memory.bench._metrics import (
    QuestionScore,
    aggregate,
    all_at_k,
    any_at_k,
    recall_at_k,
    score_question,
)

# --------------------------------------------------------------------------- fixtures


def _turn(speaker: str, dia_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"speaker": speaker, "dia_id": dia_id, "text": text, **extra}


LOCOMO = [
    {
        "sample_id": "conv-t",
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Bob",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                _turn("Ann", "D1:1", "I adopted a grey kitten named Pixel yesterday."),
                _turn("Bob", "D1:2", "Congratulations! I am training for the Boston marathon."),
                _turn("Ann", "D1:3", "Look at this.", blip_caption="a photo of a sailboat on a lake"),
            ],
            "session_2_date_time": "10:00 am on 9 June, 2023",
            "session_2": [
                _turn("Bob", "D2:1", "My sister Clara moved to Lisbon for work."),
                _turn("Ann", "D2:2", "Pixel knocked over my violin case again."),
                _turn("Bob", "D2:3", "I finished the marathon in under four hours."),
            ],
        },
        "qa": [
            {"question": "What is the kitten called?", "evidence": ["D1:1"], "category": 4},
            {
                "question": "Which marathon did Bob train for and finish?",
                "evidence": ["D1:2; D2:3"],
                "category": 1,
            },
            {"question": "Where did Clara move?", "evidence": ["D2:1"], "category": 2},
            {"question": "What did Ann see on the lake?", "evidence": ["D1:3"], "category": 3},
            {"question": "What did Bob adopt?", "evidence": ["D1:1"], "category": 5},
            {"question": "No evidence here", "evidence": [], "category": 4},
        ],
    }
]


def _session(*turns: tuple[str, str, bool]) -> list[dict[str, Any]]:
    out = []
    for role, content, has_answer in turns:
        turn: dict[str, Any] = {"role": role, "content": content}
        if has_answer:
            turn["has_answer"] = True
        out.append(turn)
    return out


def _lme_item(qid: str, qtype: str, question: str, answer_ids: list[str]) -> dict[str, Any]:
    sessions = {
        "s-cat": _session(
            ("user", "My cat Miso loves tuna treats.", True),
            ("assistant", "Cats often enjoy fish flavours.", False),
        ),
        "s-car": _session(
            ("user", "I bought a red bicycle for commuting.", True),
            ("assistant", "Red bicycles are very visible in traffic.", False),
        ),
        "s-food": _session(
            ("user", "Give me a pasta recipe.", False),
            ("assistant", "Boil spaghetti and add garlic and olive oil.", False),
        ),
    }
    return {
        "question_id": qid,
        "question_type": qtype,
        "question": question,
        "answer": "x",
        "question_date": "2023/05/30 (Tue) 10:18",
        "haystack_session_ids": list(sessions),
        "haystack_dates": ["2023/05/20 (Sat) 07:47", "2023/05/21 (Sun) 08:00", "2023/05/22 (Mon) 09:00"],
        "haystack_sessions": list(sessions.values()),
        "answer_session_ids": answer_ids,
    }


LONGMEMEVAL = [
    _lme_item("q1", "single-session-user", "What treats does my cat Miso love?", ["s-cat"]),
    _lme_item("q2", "multi-session", "What did I buy, a bicycle, and what does Miso eat?", ["s-car", "s-cat"]),
    _lme_item("q3_abs", "single-session-user", "What is my dog's name?", ["s-cat"]),
]


@pytest.fixture()
def locomo_path(tmp_path: Path) -> Path:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(LOCOMO))
    return path


@pytest.fixture()
def lme_path(tmp_path: Path) -> Path:
    path = tmp_path / "lme.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(LONGMEMEVAL, handle)
    return path


def _run(command: str) -> int:
    """Run the module's CLI quietly with the hashing encoder (paths without spaces)."""
    return main([*command.split(), "--encoder", "hashing:64", "--quiet"])


class CountingEncoder(HashingEncoder):
    """HashingEncoder that counts the texts it encodes."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls = 0
        self.texts = 0

    def encode(self, texts: Sequence[str]) -> Any:
        self.calls += 1
        self.texts += len(texts)
        return super().encode(texts)


# --------------------------------------------------------------------------- metrics


def test_recall_at_k_is_share_of_gold_in_top_k() -> None:
    ranking = ["a", "b", "c", "d"]
    assert recall_at_k(ranking, {"a", "c", "x"}, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranking, {"a", "c", "x"}, 3) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, {"d"}, 3) == 0.0
    assert recall_at_k(ranking, set(), 3) == 0.0


def test_all_and_any_at_k() -> None:
    ranking = ["a", "b", "c"]
    assert all_at_k(ranking, {"a", "c"}, 2) == 0.0
    assert all_at_k(ranking, {"a", "c"}, 3) == 1.0
    assert any_at_k(ranking, {"c", "z"}, 2) == 0.0
    assert any_at_k(ranking, {"c", "z"}, 3) == 1.0
    assert all_at_k(ranking, {"c", "z"}, 3) == 0.0


def test_score_question_names_per_dataset() -> None:
    assert score_question("locomo", ["a", "b"], {"b"}, [1, 2]) == {
        "recall@1": 0.0,
        "recall@2": 1.0,
        "all@1": 0.0,
        "all@2": 1.0,
    }
    assert score_question("longmemeval", ["a", "b"], {"a", "b"}, [1]) == {
        "recall_any@1": 1.0,
        "recall_all@1": 0.0,
    }


def test_locomo_overall_is_mean_of_categories_1_to_4() -> None:
    names = ["recall@1"]
    results = [
        QuestionScore("a", "1", {"recall@1": 1.0}),
        QuestionScore("b", "1", {"recall@1": 0.0}),
        QuestionScore("c", "2", {"recall@1": 1.0}),
        QuestionScore("d", "4", {"recall@1": 0.0}),
        QuestionScore("e", "5", {"recall@1": 1.0}),
    ]
    overall, by_category = aggregate("locomo", results, names)
    assert by_category["1"]["recall@1"] == 0.5
    assert by_category["5"] == {"n": 1.0, "recall@1": 1.0}
    assert overall["recall@1"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)  # 5 left out
    assert overall["n"] == 4
    overall_lme, _ = aggregate("longmemeval", results, names)
    assert overall_lme["recall@1"] == pytest.approx(3 / 5)  # a mean over questions


def test_rrf_and_parent_dedupe() -> None:
    # item 1 is 2nd then 1st: 1/(60+2) + 1/(60+1) beats 1/(60+1) + 1/(60+3) of item 0
    assert rrf_fuse([[0, 1, 2], [1, 2, 0]], 3) == [1, 0, 2]
    assert rrf_fuse([[2]], 3) == [2, 0, 1]  # absent items keep index order
    units = [
        Unit("s1#0", "x", "s1", parent="s1"),
        Unit("s2#1", "y", "s2", parent="s2"),
        Unit("s1#1", "z", "s1", parent="s1"),
    ]
    assert dedupe_to_parents(units) == ["s1", "s2"]


# --------------------------------------------------------------------------- loading


def test_parse_evidence_splits_and_trims() -> None:
    assert parse_evidence(["D8:6; D9:17", " D1:3 ", "D2:1,D2:2"]) == {"D8:6", "D9:17", "D1:3", "D2:1", "D2:2"}
    assert parse_evidence([]) == frozenset()
    assert parse_evidence(None) == frozenset()


def test_load_locomo(locomo_path: Path) -> None:
    (haystack,) = load_locomo(load_json(locomo_path))
    assert [u.uid for u in haystack.units] == ["D1:1", "D1:2", "D1:3", "D2:1", "D2:2", "D2:3"]
    assert haystack.units[0].text == "Ann: I adopted a grey kitten named Pixel yesterday."
    assert "sailboat" in haystack.units[2].text  # the image caption is part of the turn
    assert haystack.units[0].timestamp != haystack.units[3].timestamp
    assert len(haystack.questions) == 5  # the one without evidence is skipped
    assert haystack.questions[1].gold == {"D1:2", "D2:3"}
    assert len(load_locomo(load_json(locomo_path), limit=2)[0].questions) == 2


def test_load_longmemeval_levels_and_gzip(lme_path: Path, tmp_path: Path) -> None:
    data = load_json(lme_path)
    plain = tmp_path / "lme.json"
    plain.write_text(json.dumps(LONGMEMEVAL))
    assert load_json(plain) == data
    sessions = load_longmemeval(data, level="session")
    assert [h.key for h in sessions] == ["q1", "q2"]  # the abstention question is excluded
    assert [u.uid for u in sessions[0].units] == ["s-cat", "s-car", "s-food"]
    assert sessions[1].questions[0].gold == {"s-car", "s-cat"}
    assert sessions[0].parts[0].parent == "s-cat"
    turns = load_longmemeval(data, level="turn")
    assert turns[0].questions[0].gold == {"s-cat#0", "s-car#0"}
    assert all(u.parent is None for u in turns[0].units)  # ranked as turns, not sessions
    assert turns[0].units[0].text == "user: My cat Miso loves tuna treats."
    asked = datetime(2023, 5, 30, 10, 18, tzinfo=UTC).timestamp()  # question_date: the reference of "last ..."
    assert sessions[0].questions[0].asked_at == turns[0].questions[0].asked_at == asked


@pytest.mark.parametrize("granularity", ["unit", "part"])
def test_hippo_ranks_with_the_question_date_as_reference_time(granularity: Literal["unit", "part"]) -> None:
    from hippo_memory.bench._conv_hippo import HippoSystem
    from hippo_memory.bench._datasets import Haystack, Question, Unit

    days = {"thu": 25, "fri": 26, "sat": 27, "sun": 28}  # May 2023; the question comes on Tuesday the 30th
    sessions = [
        Unit(uid=name, text="Spent the whole day out with Sam.", session=name, timestamp=_may(day))
        for name, day in days.items()
    ]
    parts = [
        Unit(uid=f"{u.uid}#0", text=u.text, session=u.session, timestamp=u.timestamp, parent=u.uid) for u in sessions
    ]
    question = Question("q", "What did I do last Saturday?", "temporal-reasoning", frozenset({"sat"}), _may(30))
    haystack = Haystack(key="q", units=sessions, questions=[question], parts=parts if granularity == "part" else [])
    system = HippoSystem(HashingEncoder(128), HippoConfig(), name="hippo", granularity=granularity)
    system.ingest(haystack)
    vector = system.encoder.encode([question.text])[0]
    try:
        assert system.rank(question, vector, 4)[0] == "sat"
        undated = Question("q", question.text, question.category, question.gold)  # asked "now": no such week
        assert system.rank(undated, vector, 4)[0] != "sat"
    finally:
        system.close()


def _may(day: int) -> float:
    return datetime(2023, 5, day, 15, 0, tzinfo=UTC).timestamp()


# --------------------------------------------------------------------------- harness


def test_locomo_command_writes_schema_and_plot(locomo_path: Path, tmp_path: Path) -> None:
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    code = _run(
        f"locomo {locomo_path} --cache-dir {tmp_path / 'c'} --systems dense,bm25,rrf "
        f"--k 1,3,5 --json {out} --plot {plot}"
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["dataset"] == "locomo" and report["level"] == "turn"
    assert report["n_questions"] == 5
    assert report["encoder"] == "hashing-64-0-bi"
    assert "CPUs" in report["machine"]
    assert list(report["systems"]) == ["dense", "bm25", "rrf"]
    for result in report["systems"].values():
        assert {"overall", "by_category", "ingest_units_per_s", "recall_p50_ms"} <= set(result)
        assert {"recall@5", "all@5"} <= set(result["overall"])
        assert set(result["by_category"]) == {"1", "2", "3", "4", "5"}
        cats = result["by_category"]
        mean = sum(cats[c]["recall@3"] for c in "1234") / 4
        assert result["overall"]["recall@3"] == pytest.approx(mean)
    # six turns and k=5: every single-gold question is found at 5 unless ranked 6th
    bm25 = report["systems"]["bm25"]["by_category"]
    assert bm25["2"]["recall@1"] == 1.0  # "Clara"/"move" only match D2:1
    assert plot.stat().st_size > 1000


def test_longmemeval_session_and_turn_levels(lme_path: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "c")
    for level in ("session", "turn"):
        out = tmp_path / f"{level}.json"
        extra = ",dense-turns,rrf-turns" if level == "session" else ""
        code = _run(
            f"longmemeval {lme_path} --level {level} --cache-dir {cache} --json {out} --systems dense,bm25,rrf{extra}"
        )
        assert code == 0
        report = json.loads(out.read_text())
        assert report["n_questions"] == 2
        assert report["level"] == level
        for result in report["systems"].values():
            assert {"recall_any@5", "recall_all@5", "recall_any@10"} <= set(result["overall"])
            assert set(result["by_category"]) == {"single-session-user", "multi-session"}
            # three sessions (six turns): at k=10 everything is retrieved
            assert result["overall"]["recall_all@10"] == 1.0
        bm25 = report["systems"]["bm25"]["overall"]
        assert bm25["recall_any@1"] == 1.0  # both questions name words of a gold unit


def test_unknown_system_is_an_error(locomo_path: Path, tmp_path: Path) -> None:
    code = _run(f"locomo {locomo_path} --cache-dir {tmp_path} --systems dense,nope")
    assert code == 2


def test_config_overrides_reach_every_hippo_system(locomo_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    command = f"locomo {locomo_path} --cache-dir {tmp_path} --systems hippo,hippo-nolexical --json {out}"
    assert _run(f"{command} --config lexical_candidates=3 --config spread=0") == 0
    report = json.loads(out.read_text())
    assert report["config_overrides"] == {"lexical_candidates": 3, "spread": 0}
    assert set(report["systems"]) == {"hippo", "hippo-nolexical"}
    assert _run(f"{command} --config lexical_candidates=0") == 2  # out of range: an error, not a traceback
    assert _run(f"{command} --config nonsense=1") == 2


def test_register_commands_on_a_foreign_parser(locomo_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="hippo-memory")
    bench = parser.add_subparsers(dest="command").add_parser("bench")
    register_commands(bench.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(["bench", "locomo", str(locomo_path), "--k", "10,1"])
    assert callable(args.func) and args.k == [1, 10]
    args = parser.parse_args(["bench", "longmemeval", "x.json.gz", "--level", "turn"])
    assert args.level == "turn" and args.conv_benchmark == "longmemeval"


def test_hippo_systems_run_on_the_fixture(locomo_path: Path, lme_path: Path, tmp_path: Path) -> None:
    encoder = CachedEncoder(HashingEncoder(64), tmp_path / "c")
    systems = ["hippo", "hippo-nocues", "hippo-chain", "proto-fusion", "proto-speaker"]
    report = run_benchmark(
        load_locomo(load_json(locomo_path)),
        benchmark="locomo",
        level="turn",
        systems=systems,
        encoder=encoder,
        quiet=True,
    )
    for name in systems:
        result = report["systems"][name]
        assert result["overall"]["recall@10"] == 1.0  # six turns: all found within 10
        assert result["recall_p50_ms"] is not None
    session = run_benchmark(
        load_longmemeval(load_json(lme_path), level="session"),
        benchmark="longmemeval",
        level="session",
        systems=["hippo"],
        encoder=encoder,
        quiet=True,
    )
    assert session["systems"]["hippo"]["overall"]["recall_all@3"] == 1.0


# --------------------------------------------------------------------------- cache


def test_cached_encoder_encodes_each_text_once(tmp_path: Path) -> None:
    inner = CountingEncoder()
    cached = CachedEncoder(inner, tmp_path)
    first = cached.encode(["alpha beta", "gamma", "alpha beta"])
    assert inner.texts == 2  # the repeat is encoded once
    np.testing.assert_allclose(first[0], first[2])
    np.testing.assert_allclose(first, inner.__class__().encode(["alpha beta", "gamma", "alpha beta"]), atol=1e-6)
    cached.encode(["gamma", "alpha beta"])
    assert inner.texts == 2
    assert cached.encode([]).shape == (0, 64)
    cached.flush()

    again_inner = CountingEncoder()
    again = CachedEncoder(again_inner, tmp_path)
    np.testing.assert_allclose(again.encode(["alpha beta", "gamma", "alpha beta"]), first)
    assert again_inner.calls == 0
    assert again.dim == 64 and again.name == inner.name


def test_cache_survives_digests_ending_in_nul(tmp_path: Path) -> None:
    # numpy's fixed-width bytes drop trailing NULs; keys must still round-trip
    texts = [t for t in (f"text {i}" for i in range(5000)) if hashlib.sha1(t.encode()).digest().endswith(b"\x00")][:3]
    assert texts
    cached = CachedEncoder(CountingEncoder(), tmp_path)
    cached.encode(texts)
    cached.flush()
    inner = CountingEncoder()
    assert CachedEncoder(inner, tmp_path).missing(texts) == []


def test_rerun_encodes_nothing(locomo_path: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "c")
    reports = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.json"
        assert _run(f"locomo {locomo_path} --cache-dir {cache} --systems dense,hippo --json {out}") == 0
        reports.append(json.loads(out.read_text()))
    assert reports[0]["encoding"]["encoded_now"] > 0
    assert reports[1]["encoding"]["encoded_now"] == 0
    assert reports[1]["systems"]["hippo"]["encoded_during_run"] == 0  # cue variants cached too
    assert reports[0]["systems"]["dense"]["overall"] == reports[1]["systems"]["dense"]["overall"]


def test_ranker_cv_ranks_each_question_with_weights_that_never_saw_it(tmp_path: Path) -> None:
    from hippo_memory._learned import load_model
    from hippo_memory.bench._conversations import _fold_weights
    from hippo_memory.bench._datasets import load_longmemeval
    from hippo_memory.bench._train import question_fold

    items = [
        _lme_item(f"lme-{i}", "single-session-user", "What treats does my cat Miso love?", ["s-cat"]) for i in range(8)
    ]
    path = tmp_path / "train.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(items, handle)
    parser = argparse.ArgumentParser()
    register_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "longmemeval",
            str(path),
            "--ranker-cv",
            str(path),
            "--ranker-cv-folds",
            "2",
            "--ranker-cv-pool",
            "1",
            "--quiet",
        ]
    )
    haystacks = load_longmemeval(load_json(path), level="turn")
    folds = {h.key: question_fold(h.questions[0].qid, 2) for h in haystacks}
    assert set(folds.values()) == {0, 1}  # the fixture's ids fall in both folds
    weights = _fold_weights(args, haystacks, CachedEncoder(HashingEncoder(64), tmp_path / "c"), str(tmp_path / "w"))
    for key, fold in folds.items():
        provenance = load_model(weights[key]).provenance
        assert provenance["held_out_fold"] == fold
        assert provenance["questions"] == sum(1 for f in folds.values() if f != fold)
    # and the command runs end to end, reporting the cross-validation
    out = tmp_path / "cv.json"
    code = _run(
        f"longmemeval {path} --level turn --cache-dir {tmp_path / 'c'} --json {out} --systems hippo "
        f"--ranker-cv {path} --ranker-cv-folds 2 --ranker-cv-pool 1"
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["ranker_cv"] == {"train": ["train.json.gz"], "folds": 2, "pool": 1}
    assert report["ranker_weights"] == "per fold (--ranker-cv)"
