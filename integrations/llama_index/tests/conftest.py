"""Fixtures: engines on the deterministic HashingEncoder, nothing downloaded."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hippo_memory import HashingEncoder, HippoMemory


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder(dim=256, seed=0)


@pytest.fixture
def engine(encoder: HashingEncoder) -> Iterator[HippoMemory]:
    memory = HippoMemory(encoder=encoder, device="cpu")
    yield memory
    memory.close()


@pytest_asyncio.fixture
async def new_chat_store() -> AsyncIterator[Callable[[], SQLAlchemyChatStore]]:
    """Factory of in-memory chat stores for ``llama_index.core.memory.Memory``.

    Every ``Memory`` a test builds gets one of these instead of its default store:
    the default opens an aiosqlite connection nobody closes, and when garbage
    collection finalises it just as an event loop shuts down, its worker thread
    fails with "Event loop is closed" (a PytestUnhandledThreadExceptionWarning in
    whichever test runs then). These are disposed on the test's own loop.
    """
    engines: list[AsyncEngine] = []

    def new_store() -> SQLAlchemyChatStore:
        engine = create_async_engine("sqlite+aiosqlite:///:memory:")
        engines.append(engine)
        return SQLAlchemyChatStore(table_name="llama_index_memory", async_engine=engine)

    yield new_store
    for engine in engines:
        await engine.dispose()


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
