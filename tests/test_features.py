"""The learned ranker's candidate features (hippo_memory._features): one column per stage signal."""

from __future__ import annotations

import numpy as np

from hippo_memory._features import FEATURES, StageOutputs, candidate_features


def _stages(**update: object) -> StageOutputs:
    # Three candidate memories: rows 0, 1 belong to memory 0, row 2 to memory 1, row 3 to memory 2.
    base = StageOutputs(
        sims=np.asarray([0.2, 0.6, 0.4, 0.1], dtype=np.float32),
        inverse=np.asarray([0, 0, 1, 2], dtype=np.int64),
        text_sims=np.asarray([0.5, 0.4, 0.1], dtype=np.float32),
        pooled=np.asarray([0.7, 0.2, 0.1], dtype=np.float32),
        settle_rank=np.asarray([0, 1, 2], dtype=np.int64),
        lexical_rank=np.asarray([-1, 0, 1], dtype=np.int64),
        bm25=np.asarray([0.0, 0.4, 0.1], dtype=np.float32),
        fusion=np.asarray([0.6, 0.8, 0.3], dtype=np.float32),
        speaker=np.asarray([False, True, False]),
        temporal=np.asarray([True, False, False]),
        spread_lift=np.asarray([0.0, 0.0, 0.25], dtype=np.float32),
        neighbours=np.asarray([[1, 2], [2, 1]], dtype=np.int64),
        times=np.asarray([30.0, np.nan, 10.0]),
        lengths=np.asarray([12.0, 0.0, 3.0], dtype=np.float32),
        superseded=np.asarray([False, False, True]),
        handset=np.asarray([0.9, 1.2, 0.3], dtype=np.float32),
    )
    return base._replace(**update)


def _column(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, FEATURES.index(name)]


def test_each_column_reads_its_stage() -> None:
    x = candidate_features(_stages())
    assert x.shape == (3, len(FEATURES)) and x.dtype == np.float32
    np.testing.assert_allclose(_column(x, "sim_max"), [0.6, 0.4, 0.1], rtol=1e-6)
    np.testing.assert_allclose(_column(x, "sim_gap"), [0.0, -0.2, -0.5], atol=1e-6)
    np.testing.assert_allclose(_column(x, "log_cues"), np.log1p([2, 1, 1]), rtol=1e-6)
    np.testing.assert_allclose(_column(x, "bm25_rel"), [0.0, 1.0, 0.25], rtol=1e-6)
    np.testing.assert_allclose(_column(x, "lexical_rr"), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(_column(x, "settle_rr"), [1.0, 0.5, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(_column(x, "speaker"), [0, 1, 0])
    np.testing.assert_allclose(_column(x, "temporal"), [1, 0, 0])
    np.testing.assert_allclose(_column(x, "superseded"), [0, 0, 1])
    np.testing.assert_allclose(_column(x, "handset"), [0.9, 1.2, 0.3], rtol=1e-6)
    # Neighbours: memory 1's neighbour is memory 2 (sim 0.1) and the other way round.
    np.testing.assert_allclose(_column(x, "neighbour_sim"), [0.0, 0.1, 0.4], rtol=1e-6)
    # Recency: ranked among the dated candidates; an undated one sits in the middle.
    np.testing.assert_allclose(_column(x, "recency"), [1.0, 0.5, 0.0])


def test_no_lexical_hit_and_no_candidates() -> None:
    x = candidate_features(_stages(bm25=np.zeros(3, dtype=np.float32), lexical_rank=np.full(3, -1, dtype=np.int64)))
    assert not _column(x, "bm25_rel").any() and not _column(x, "lexical_rr").any()
    assert np.isfinite(x).all()
    empty = _stages(
        sims=np.zeros(0, np.float32),
        inverse=np.zeros(0, np.int64),
        text_sims=np.zeros(0, np.float32),
        pooled=np.zeros(0, np.float32),
        settle_rank=np.zeros(0, np.int64),
        lexical_rank=np.zeros(0, np.int64),
        bm25=np.zeros(0, np.float32),
        fusion=np.zeros(0, np.float32),
        speaker=np.zeros(0, bool),
        temporal=np.zeros(0, bool),
        spread_lift=np.zeros(0, np.float32),
        neighbours=np.zeros((0, 2), np.int64),
        times=np.zeros(0),
        lengths=np.zeros(0, np.float32),
        superseded=np.zeros(0, bool),
        handset=np.zeros(0, np.float32),
    )
    assert candidate_features(empty).shape == (0, len(FEATURES))


def test_feature_names_are_unique() -> None:
    assert len(set(FEATURES)) == len(FEATURES)
