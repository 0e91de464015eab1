"""The learned ranker: calibrated scores, the weights file, training (hippo_memory._learned, bench train-ranker)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, InvalidConfigError, InvalidInputError
from hippo_memory._features import FEATURES
from hippo_memory._learned import fit_logistic, load_model, model_from_dict, reliability_table

FACTS = [
    "Bob adopted a grey cat named Miso from the shelter.",
    "Alice plays the cello in a string quartet on Sundays.",
    "The quarterly report is due on the first Friday of March.",
    "Carol moved to Lisbon and now works at a bakery.",
    "Dan's favourite hiking trail runs along the river.",
    "The wifi password for the office is written on the fridge.",
]


def _config(**update: object) -> HippoConfig:
    return HippoConfig(code_dim=2048, code_k=32, durable=False, ranker="learned").model_copy(update=update)


def test_the_shipped_weights_load_and_name_known_features() -> None:
    model = load_model(None)
    assert set(model.features) <= set(FEATURES)
    assert model.provenance.get("trained_on")  # says what it was trained on
    assert not any("locomo" in str(source).lower() for source in model.provenance["trained_on"])
    p = model.probability(np.zeros((4, len(FEATURES)), dtype=np.float32))
    assert p.shape == (4,) and ((p >= 0) & (p <= 1)).all()


def test_learned_scores_are_probabilities_and_rank_the_hits() -> None:
    with HippoMemory(None, encoder=HashingEncoder(128), config=_config()) as memory:
        memory.remember_many(FACTS)
        hits = memory.recall("Which cat did Bob adopt from the shelter?", k=4)
        scores = [hit.score for hit in hits]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
        assert hits[0].memory.text == FACTS[0]
        assert all(hit.diagnostics.fused is not None for hit in hits)
        unrelated = memory.recall("quantum chromodynamics lattice gauge", k=1)
        # An unrelated query is not confident the way a matching one is (the fusion scored both 1.0).
        assert unrelated[0].score < hits[0].score


def test_min_score_drops_hits_below_it_before_they_count_as_accessed(tmp_path: Path) -> None:
    with HippoMemory(None, encoder=HashingEncoder(128), config=_config()) as memory:
        ids = memory.remember_many(FACTS)
        query = "Which cat did Bob adopt from the shelter?"
        every = memory.recall(query, k=6)
        cut = (every[0].score + every[1].score) / 2  # between the first hit and the rest
        kept = memory.recall(query, k=6, min_score=cut)
        assert [hit.memory.id for hit in kept] == [every[0].memory.id]
        assert [hit.rank for hit in kept] == [0]
        assert memory.recall(query, k=6, min_score=1.01).hits == ()
        # only returned hits count as accesses: one full recall, one that returned one hit, one none
        accessed = {m: memory.get(m).access_count for m in ids}
        assert accessed[every[0].memory.id] == 2 and accessed[every[1].memory.id] == 1
        for bad in (float("nan"), float("inf"), "0.5", True):
            with pytest.raises(InvalidInputError):
                memory.recall(query, min_score=bad)  # type: ignore[arg-type]


def test_the_fusion_ranker_keeps_its_scores() -> None:
    with HippoMemory(None, encoder=HashingEncoder(128), config=_config(ranker="fusion")) as memory:
        memory.remember_many(FACTS)
        hits = memory.recall("Which cat did Bob adopt from the shelter?", k=3)
        assert hits[0].score == pytest.approx(1.0)
        assert all(hit.score == hit.diagnostics.fused for hit in hits)


def _weights(tmp_path: Path, **update: object) -> Path:
    model = load_model(None).to_dict()
    model.update(update)
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(model))
    return path


def test_a_weights_file_named_in_the_config_ranks(tmp_path: Path) -> None:
    # A model that reads the speaker match only: the memory of the named speaker comes first.
    path = _weights(tmp_path, features=["speaker"], mean=[0.0], scale=[1.0], coef=[4.0], intercept=-2.0)
    with HippoMemory(None, encoder=HashingEncoder(128), config=_config(ranker_weights=str(path))) as memory:
        memory.remember("I love painting sunsets by the lake.", metadata={"speaker": "Caroline"})
        melanie = memory.remember("Painting sunsets by the lake is what I love.", metadata={"speaker": "Melanie"})
        hits = memory.recall("What does Melanie love painting?", k=2)
        assert hits[0].memory.id == melanie
        assert hits[0].score == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-5)
        assert hits[1].score == pytest.approx(1 / (1 + np.exp(2.0)), rel=1e-5)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"features": ["no_such_feature"], "mean": [0.0], "scale": [1.0], "coef": [1.0]}, "unknown feature"),
        ({"features": ["sim_max"], "mean": [0.0, 1.0], "scale": [1.0], "coef": [1.0]}, "'mean' must hold 1"),
        ({"features": ["sim_max"], "mean": [0.0], "scale": [0.0], "coef": [1.0]}, "'scale' must be positive"),
        ({"format": "something-else"}, "not a hippo-memory-ranker"),
        ({"version": 99}, "version"),
        ({"intercept": True}, "intercept"),
    ],
)
def test_bad_weights_are_refused_when_the_config_is_built(
    tmp_path: Path, update: dict[str, object], message: str
) -> None:
    path = _weights(tmp_path, **update)
    with pytest.raises(InvalidConfigError, match=message):
        _config(ranker_weights=str(path))


def test_a_missing_weights_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match="ranker weights"):
        _config(ranker_weights=str(tmp_path / "absent.json"))
    with pytest.raises(InvalidConfigError):
        model_from_dict([1, 2, 3])


def test_the_fit_recovers_a_known_model_and_is_calibrated() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, len(FEATURES))).astype(np.float32)
    truth = -3.0 + 1.5 * x[:, FEATURES.index("sim_max")] - 1.0 * x[:, FEATURES.index("recency")]
    y = (rng.random(x.shape[0]) < 1 / (1 + np.exp(-truth))).astype(np.int8)
    model = fit_logistic(x, y, l2=1.0)
    coef = dict(zip(model.features, model.coef, strict=True))
    assert coef["sim_max"] == pytest.approx(1.5, abs=0.1)
    assert coef["recency"] == pytest.approx(-1.0, abs=0.1)
    assert max(abs(v) for k, v in coef.items() if k not in ("sim_max", "recency")) < 0.1
    p = model.probability(x)
    bins, ece = reliability_table(p, y)
    assert ece < 0.02 and sum(b.n for b in bins) == x.shape[0]
    # Round trip through the weights file format.
    again = model_from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(again.probability(x), p, rtol=1e-5)


def test_train_ranker_writes_weights_the_engine_reads(tmp_path: Path) -> None:
    from hippo_memory._cli import main

    rng = np.random.default_rng(0)
    topics = ["cello", "garden", "lisbon", "bees", "chess", "bread", "river", "kites", "pottery", "tango"]
    data = []
    for h in range(4):
        memories = [
            {"id": f"h{h}m{i}", "text": f"Note {i}: we talked about {t} and {topics[(i + 3) % 10]}.", "session": "s"}
            for i, t in enumerate(topics)
        ]
        picks = rng.choice(10, size=3, replace=False)
        questions = [{"query": f"What did we say about {topics[i]}?", "relevant": [f"h{h}m{i}"]} for i in picks]
        data.append({"memories": memories, "questions": questions})
    source = tmp_path / "train.json"
    source.write_text(json.dumps(data))
    out = tmp_path / "weights.json"
    report = tmp_path / "report.json"
    args = ["bench", "train-ranker", str(source), "--out", str(out), "--json", str(report)]
    args += ["--encoder", "hashing:64", "--cache-dir", str(tmp_path / "cache"), "--folds", "2", "--quiet"]
    assert main(args) == 0
    written = json.loads(report.read_text())
    assert written["questions"] == 12 and 0 <= written["ece"] <= 1
    model = load_model(str(out))
    assert model.provenance["trained_on"] == ["train.json"]
    config = _config(ranker_weights=str(out))
    with HippoMemory(None, encoder=HashingEncoder(64), config=config) as memory:
        memory.remember_many(data[0]["memories"])  # type: ignore[arg-type]
        hits = memory.recall("What did we say about pottery?", k=3)
        assert all(0 <= hit.score <= 1 for hit in hits)
