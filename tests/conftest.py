"""Shared fixtures: a deterministic model-free encoder and fresh memories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder(dim=128)


@pytest.fixture
def small_config() -> HippoConfig:
    # A smaller code keeps tests fast; the maths is the same.
    return HippoConfig(code_dim=2048, code_k=32, durable=False)


@pytest.fixture
def mem(encoder: HashingEncoder, small_config: HippoConfig) -> Iterator[HippoMemory]:
    memory = HippoMemory(None, encoder=encoder, config=small_config)
    yield memory
    memory.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store"
