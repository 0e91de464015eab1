"""``HippoStore.from_conn_string``: opened as LangGraph's database stores are, closed on exit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hippo_memory import HashingEncoder, HippoConfig, StoreClosedError

from langchain_hippo_memory import HippoStore

ENCODER = HashingEncoder(dim=64)
CONFIG = HippoConfig(code_dim=1024)
NS = ("users", "alice")


def test_a_directory_store_persists_between_openings(tmp_path: Path) -> None:
    with HippoStore.from_conn_string(tmp_path / "store", encoder=ENCODER, config=CONFIG) as store:
        store.setup()  # nothing to do, as LangGraph code calls it
        store.put(NS, "pet", {"text": "Alice adopted a dog named Biscuit"})
    with pytest.raises(StoreClosedError):
        store.get(NS, "pet")
    with HippoStore.from_conn_string(str(tmp_path / "store"), encoder=ENCODER) as again:
        item = again.get(NS, "pet")
        assert item is not None and item.value == {"text": "Alice adopted a dog named Biscuit"}
        assert [i.key for i in again.search(("users",), query="dog Biscuit")] == ["pet"]


def test_memory_conn_string_keeps_nothing(tmp_path: Path) -> None:
    with HippoStore.from_conn_string(":memory:", encoder=ENCODER, config=CONFIG) as store:
        store.put(NS, "pet", {"text": "Biscuit"})
        assert store.get(NS, "pet") is not None
    with HippoStore.from_conn_string(":memory:", encoder=ENCODER, config=CONFIG) as store:
        assert store.get(NS, "pet") is None


async def test_async_with_opens_and_closes_in_a_thread(tmp_path: Path) -> None:
    async with HippoStore.from_conn_string(tmp_path, encoder=ENCODER, config=CONFIG) as store:
        await store.asetup()
        await store.aput(NS, "pet", {"text": "Biscuit"})
        assert (await store.aget(NS, "pet")) is not None
    with pytest.raises(StoreClosedError):
        await store.aget(NS, "pet")


def test_bad_arguments_open_nothing(tmp_path: Path) -> None:
    opener = HippoStore.from_conn_string(tmp_path, encoder=ENCODER, index={"dims": 3})
    with pytest.raises(ValueError, match="dims"), opener:
        pass
    assert opener._store is None  # nothing to close


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pytest.importorskip(
        "psycopg", reason="needs the postgres extra (pip install 'hippo-memory[postgres]')"
    )
    from hippo_memory.bench._pg_server import start_server, stop_server

    try:
        server = start_server()
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL server for the test: {exc}")
    try:
        yield server.create_database()
    finally:
        stop_server(server)


def test_a_postgres_store_persists_between_openings(postgres_url: str) -> None:
    with HippoStore.from_conn_string(postgres_url, encoder=ENCODER, config=CONFIG) as store:
        store.put(NS, "pet", {"text": "Alice adopted a dog named Biscuit", "year": 2019})
    with HippoStore.from_conn_string(postgres_url, encoder=ENCODER) as again:
        assert again.get(NS, "pet").value["year"] == 2019  # type: ignore[union-attr]
        assert [i.key for i in again.search(NS, filter={"year": {"$gte": 2018}})] == ["pet"]
        assert again.list_namespaces() == [NS]
