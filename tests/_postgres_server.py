"""A throwaway PostgreSQL server for tests (the server itself is :mod:`hippo_memory.bench._pg_server`).

The server lives for the test session (:func:`postgres_server`); each test gets a
fresh database of its own (:func:`postgres_url`). Tests are skipped, with the
reason, only when no server can be started at all.

Also runnable on its own (``python tests/_postgres_server.py``): starts a server,
prints its URL and waits for Ctrl-C (used by ``scripts/bench_postgres_vectors.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from hippo_memory.bench._pg_server import (
    PASSWORD,
    SUPERUSER,
    PostgresServer,
    find_bin_dir,
    start_server,
    stop_server,
)

__all__ = [
    "PASSWORD",
    "SUPERUSER",
    "PostgresServer",
    "find_bin_dir",
    "postgres_server",
    "postgres_url",
    "start_server",
    "stop_server",
]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the test session, stopped and deleted at its end."""
    pytest.importorskip("psycopg", reason="the postgres extra is not installed (pip install 'hippo-memory[postgres]')")
    try:
        server = start_server()
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database (dropped after the test)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


if __name__ == "__main__":
    server = start_server()
    print(server.url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop_server(server)
