"""The REST server in process (FastAPI's TestClient): every endpoint, error bodies, limits, logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from _server_support import small_memory
from fastapi.testclient import TestClient

from hippo_memory import (
    HippoMemory,
    HippoMemoryError,
    InvalidInputError,
    MemoryNotFoundError,
    StoreClosedError,
    StoreCorruptedError,
    StoreLockedError,
)
from hippo_memory.server import AuthenticationError, PayloadTooLargeError, PermissionDeniedError, create_app
from hippo_memory.server._errors import status_for

ALICE = ["users", "alice"]


@pytest.fixture
def memory() -> Iterator[HippoMemory]:
    mem = small_memory()
    yield mem
    mem.close()


@pytest.fixture
def client(memory: HippoMemory) -> Iterator[TestClient]:
    with TestClient(create_app(memory, mcp=False, max_body_bytes=64 * 1024)) as test_client:
        yield test_client


def _remember(client: TestClient, text: str, namespace: list[str] = ALICE, **extra: object) -> str:
    response = client.post("/v1/memories", json={"text": text, "namespace": namespace, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_every_endpoint(client: TestClient) -> None:
    first = _remember(client, "Alice adopted a greyhound named Pixel", metadata={"kind": "pet"}, session="s1")
    batch = client.post(
        "/v1/memories/batch",
        json={
            "items": [
                "Pixel loves the beach at Cascais",
                {"text": "Bob plays the cello", "namespace": ["users", "bob"], "metadata": {"kind": "hobby"}},
            ],
            "namespace": ALICE,
            "session": "s1",
        },
    )
    assert batch.status_code == 201, batch.text
    beach, cello = batch.json()["ids"]

    recall = client.post("/v1/recall", json={"query": "What dog did Alice adopt?", "namespace": ALICE, "k": 2})
    assert recall.status_code == 200, recall.text
    body = recall.json()
    assert body["namespace"] == ALICE and body["hits"][0]["memory"]["id"] == first
    assert body["hits"][0]["diagnostics"]["best_cue"]["kind"]
    assert set(body["timings_ms"]) >= {"encode", "total"}

    filtered = client.post("/v1/recall", json={"query": "cello", "filter": {"kind": "hobby"}}).json()
    assert [h["memory"]["id"] for h in filtered["hits"]] == [cello]

    chain = client.post("/v1/recall_chain", json={"query": "greyhound named Pixel", "namespace": ALICE, "hops": 2})
    assert chain.status_code == 200, chain.text
    assert [h["memory"]["id"] for h in chain.json()["hops"]][:2] == [first, beach]

    assert client.post("/v1/associate", json={"source": beach, "target": first, "strength": 0.5}).json() == {"ok": True}

    got = client.get(f"/v1/memories/{first}").json()
    assert got["text"].startswith("Alice") and got["metadata"] == {"kind": "pet"} and got["namespace"] == ALICE

    updated = client.patch(f"/v1/memories/{first}", json={"text": "Alice adopted a greyhound called Pixel"})
    assert updated.status_code == 200 and updated.json()["text"].endswith("called Pixel")

    listed = client.post("/v1/list", json={"namespace": ALICE, "newest_first": True, "limit": 1}).json()
    assert [m["id"] for m in listed] == [beach]
    assert len(client.post("/v1/list", json={}).json()) == 3

    names = client.post("/v1/namespaces", json={}).json()
    assert names == {"namespaces": [["users", "alice"], ["users", "bob"]], "counts": [2, 1]}
    assert client.post("/v1/namespaces", json={"max_depth": 1}).json() == {"namespaces": [["users"]], "counts": [3]}

    assert client.get("/v1/stats").json()["memories"] == 3
    report = client.post("/v1/consolidate", json={"merge": False})
    assert report.status_code == 200 and report.json()["memories_after"] == 3

    assert client.delete(f"/v1/memories/{cello}").json() == {"forgotten": 1}
    assert client.post("/v1/forget", json={"ids": [first, beach]}).json() == {"forgotten": 2}
    assert client.get(f"/v1/memories/{first}").status_code == 404


def test_ids_with_slashes_and_spaces_round_trip(client: TestClient) -> None:
    own = _remember(client, "an id with a slash", id="notes/2024 march")
    assert client.get("/v1/memories/notes%2F2024%20march").json()["id"] == own


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("post", "/v1/memories", {"text": "   "}, 422, "EmptyTextError"),
        ("post", "/v1/memories", {"text": "x", "namespace": ["a.b"]}, 422, "InvalidNamespaceError"),
        ("post", "/v1/memories", {"text": "x", "namespace": []}, 422, "InvalidNamespaceError"),
        ("post", "/v1/memories", {"text": "x", "colour": "red"}, 422, "InvalidInputError"),
        ("post", "/v1/memories", {"text": "x", "timestamp": "not a date"}, 422, None),
        ("post", "/v1/recall", {"query": "x", "k": 0}, 422, "InvalidInputError"),
        ("post", "/v1/recall", {"query": "x", "filter": {"a": {"$regex": "."}}}, 422, "InvalidFilterError"),
        ("post", "/v1/recall", {"query": "x", "namespace": ["nobody"]}, 404, "NamespaceNotFoundError"),
        ("get", "/v1/memories/nope", None, 404, "MemoryNotFoundError"),
        ("patch", "/v1/memories/nope", {"text": "y"}, 404, "MemoryNotFoundError"),
        ("delete", "/v1/memories/nope", None, 404, "MemoryNotFoundError"),
        ("post", "/v1/associate", {"source": "nope", "target": "nada"}, 404, "MemoryNotFoundError"),
        ("post", "/v1/forget", {"ids": []}, 422, "InvalidInputError"),
        ("get", "/v1/nowhere", None, 404, "NotFound"),
    ],
)
def test_error_bodies(client: TestClient, method: str, path: str, body: object, status: int, error: str | None) -> None:
    _remember(client, "something stored")
    response = client.request(method.upper(), path, json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) <= {"error", "message", "details"} and payload["message"]
    if error is not None:
        assert payload["error"] == error
    else:
        assert issubclass(getattr(__import__("hippo_memory"), payload["error"]), InvalidInputError)


def test_schema_errors_carry_details(client: TestClient) -> None:
    payload = client.post("/v1/recall", json={"k": "many"}).json()
    assert payload["error"] == "InvalidInputError"
    assert {tuple(d["loc"]) for d in payload["details"]} >= {("body", "query"), ("body", "k")}


def test_body_size_limit(client: TestClient) -> None:
    big = {"text": "x" * (70 * 1024)}
    response = client.post("/v1/memories", json=big)
    assert response.status_code == 413 and response.json()["error"] == "PayloadTooLargeError"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"text": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}'

    streamed = client.post("/v1/memories", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"] == "PayloadTooLargeError"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInputError("x"), 422),
        (MemoryNotFoundError("x"), 404),
        (StoreLockedError("x"), 409),
        (StoreClosedError("x"), 503),
        (StoreCorruptedError("x"), 500),
        (AuthenticationError("x"), 401),
        (PermissionDeniedError("x"), 403),
        (PayloadTooLargeError("x"), 413),
        (HippoMemoryError("x"), 500),
    ],
)
def test_status_map(error: HippoMemoryError, status: int) -> None:
    assert status_for(error) == status


def test_store_locked_is_409(client: TestClient, memory: HippoMemory, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(*args: object, **kwargs: object) -> None:
        raise StoreLockedError("another process holds the store")

    monkeypatch.setattr(memory, "remember", locked)
    response = client.post("/v1/memories", json={"text": "x"})
    assert response.status_code == 409
    assert response.json() == {"error": "StoreLockedError", "message": "another process holds the store"}


def test_unexpected_errors_are_a_bare_500(
    client: TestClient, memory: HippoMemory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(memory, "get", broken)
    with (
        caplog.at_level(logging.INFO, logger="hippo_memory.server"),
        TestClient(client.app, raise_server_exceptions=False) as quiet,
    ):
        response = quiet.get("/v1/memories/x")
    assert response.status_code == 500
    access = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hippo_memory.server.access"]
    assert [line["status"] for line in access] == [500]
    assert response.json() == {"error": "InternalServerError", "message": "internal server error"}


def test_health_readiness_and_close_on_shutdown(tmp_path: object) -> None:
    app = create_app(None, encoder="hashing:128", mcp=False)
    memory = app.state.service.memory
    with TestClient(app) as test_client:
        assert test_client.get("/healthz").json() == {"status": "ok"}
        assert test_client.get("/readyz").json() == {"status": "ready"}
    with pytest.raises(StoreClosedError):  # the app opened it, the lifespan closed it
        memory.count()


def test_readyz_after_the_memory_closed(client: TestClient, memory: HippoMemory) -> None:
    memory.close()
    assert client.get("/readyz").status_code == 503
    response = client.post("/v1/recall", json={"query": "x"})
    assert response.status_code == 503 and response.json()["error"] == "StoreClosedError"


def test_access_log_is_one_json_line_per_request(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hippo_memory.server.access"):
        client.get("/healthz", headers={"x-request-id": "abc123"})
        client.get("/v1/memories/nope")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hippo_memory.server.access"]
    assert [(line["path"], line["status"]) for line in lines] == [("/healthz", 200), ("/v1/memories/nope", 404)]
    assert lines[0]["request_id"] == "abc123" and lines[0]["method"] == "GET" and lines[0]["ms"] >= 0


def test_openapi_schema_lists_every_operation(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert operations >= {
        ("post", "/v1/memories"),
        ("post", "/v1/memories/batch"),
        ("post", "/v1/recall"),
        ("post", "/v1/recall_chain"),
        ("post", "/v1/associate"),
        ("get", "/v1/memories/{memory_id}"),
        ("patch", "/v1/memories/{memory_id}"),
        ("delete", "/v1/memories/{memory_id}"),
        ("post", "/v1/forget"),
        ("post", "/v1/list"),
        ("post", "/v1/namespaces"),
        ("get", "/v1/stats"),
        ("post", "/v1/consolidate"),
        ("post", "/v1/recall_vector"),
        ("post", "/v1/recall_groups"),
        ("post", "/v1/supersede"),
        ("post", "/v1/associations"),
        ("post", "/v1/forget_namespace"),
        ("post", "/v1/forget_before"),
        ("post", "/v1/count"),
        ("post", "/v1/export"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    }
    assert "ErrorOut" in schema["components"]["schemas"]
