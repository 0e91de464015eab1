"""The real default encoder (marked ``model``: run with ``pytest -m model``)."""

from __future__ import annotations

import numpy as np
import pytest

from hippo_memory import HippoMemory, SentenceTransformerEncoder

pytestmark = pytest.mark.model


def test_default_encoder_loads_offline_and_normalises() -> None:
    encoder = SentenceTransformerEncoder()
    vectors = encoder.encode(["The cat sat on the mat.", "A feline rested on the rug.", "Quarterly tax filing"])
    assert encoder.dim == 384 and vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_paraphrased_question_recalls_with_the_default_model() -> None:
    memory = HippoMemory()
    ids = memory.remember_many(
        [
            "I adopted a rescue greyhound named Pixel.",
            "My sister is training for the Lisbon marathon.",
            "Pottery classes are on Thursdays.",
        ]
    )
    assert memory.recall("What kind of dog did I get?", k=1)[0].memory.id == ids[0]
