"""Fixtures: engines on the deterministic HashingEncoder, nothing downloaded."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from hippo_memory import HashingEncoder, HippoMemory


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder(dim=256, seed=0)


@pytest.fixture
def engine(encoder: HashingEncoder) -> Iterator[HippoMemory]:
    memory = HippoMemory(encoder=encoder, device="cpu")
    yield memory
    memory.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "hippo-store"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this directory's coroutine tests for pytest-asyncio, so that the suite also
    runs outside the repository (whose pyproject sets ``asyncio_mode = "auto"``)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.asyncio)
