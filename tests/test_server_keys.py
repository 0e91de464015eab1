"""API keys: hashed at rest, scopes, and confinement of every request to the key's namespace prefix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _server_support import small_memory
from fastapi.testclient import TestClient

from hippo_memory import HippoMemory
from hippo_memory._cli import main
from hippo_memory._cli_serve import is_loopback
from hippo_memory.server import KeyStore, create_app
from hippo_memory.server._keys import default_keys_path, parse_prefix


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "mem.keys.json")


@pytest.fixture
def memory() -> Iterator[HippoMemory]:
    mem = small_memory()
    mem.remember("Alice keeps a greyhound named Pixel", namespace=("users", "alice"), session="a")
    mem.remember("Alice works on the lighthouse project", namespace=("users", "alice", "work"), session="a")
    mem.remember("Bob keeps a greyhound named Rex", namespace=("users", "bob"), session="b")
    yield mem
    mem.close()


@pytest.fixture
def client(memory: HippoMemory, keys: KeyStore) -> Iterator[TestClient]:
    with TestClient(create_app(memory, keys=keys, mcp=False)) as test_client:
        yield test_client


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _id(memory: HippoMemory, owner: str) -> str:
    return memory.list(("users", owner))[0].id


def test_keys_are_hashed_at_rest(keys: KeyStore) -> None:
    token, record = keys.create("users/alice", ["read", "write"], label="alice")
    text = keys.path.read_text()
    assert token not in text and token.split("_")[-1] not in text
    stored = json.loads(text)["keys"][0]
    assert stored["prefix"] == ["users", "alice"] and stored["scopes"] == ["read", "write"]
    assert keys.path.stat().st_mode & 0o077 == 0
    who = keys.authenticate(token)
    assert who is not None and who.prefix == ("users", "alice") and who.key_id == record.id
    assert keys.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert keys.authenticate("hm_" + record.id) is None and keys.authenticate("garbage") is None


def test_bad_scopes_and_prefixes_are_refused(keys: KeyStore) -> None:
    from hippo_memory import InvalidInputError, InvalidNamespaceError

    with pytest.raises(InvalidInputError):
        keys.create("users", ["root"])
    with pytest.raises(InvalidNamespaceError):
        keys.create("users/a.b", ["read"])
    assert parse_prefix("/") == () and parse_prefix("users//alice/") == ("users", "alice")


def test_missing_unknown_and_revoked_keys_are_401(client: TestClient, keys: KeyStore) -> None:
    token, record = keys.create("users/alice", ["read"])
    assert client.post("/v1/recall", json={"query": "dog"}).json()["error"] == "AuthenticationError"
    assert client.post("/v1/recall", json={"query": "dog"}, headers=_auth("hm_nope_nope")).status_code == 401
    assert client.post("/v1/recall", json={"query": "dog"}, headers=_auth(token)).status_code == 200
    assert client.post("/v1/recall", json={"query": "dog"}, headers={"x-api-key": token}).status_code == 200
    keys.revoke(record.id)  # a running server re-reads the file
    response = client.post("/v1/recall", json={"query": "dog"}, headers=_auth(token))
    assert response.status_code == 401 and response.json()["error"] == "AuthenticationError"
    assert client.get("/healthz").status_code == 200  # probes need no key


def test_scopes(client: TestClient, keys: KeyStore, memory: HippoMemory) -> None:
    reader, _ = keys.create("users/alice", ["read"])
    writer, _ = keys.create("users/alice", ["write"])
    admin, _ = keys.create("/", ["admin"])
    alice_admin, _ = keys.create("users/alice", ["admin"])
    denied = client.post("/v1/memories", json={"text": "x", "namespace": ["users", "alice"]}, headers=_auth(reader))
    assert denied.status_code == 403 and denied.json()["error"] == "PermissionDeniedError"
    assert (
        client.patch(f"/v1/memories/{_id(memory, 'alice')}", json={"text": "y"}, headers=_auth(reader)).status_code
        == 403
    )
    assert client.post("/v1/recall", json={"query": "dog"}, headers=_auth(writer)).status_code == 403
    assert (
        client.post(
            "/v1/memories", json={"text": "x", "namespace": ["users", "alice"]}, headers=_auth(writer)
        ).status_code
        == 201
    )
    assert client.post("/v1/consolidate", json={}, headers=_auth(writer)).status_code == 403
    assert client.post("/v1/consolidate", json={}, headers=_auth(alice_admin)).status_code == 403  # store-wide
    assert client.post("/v1/consolidate", json={}, headers=_auth(admin)).status_code == 200
    assert "engine_bytes" in client.get("/v1/stats", headers=_auth(admin)).json()
    assert client.get("/v1/stats", headers=_auth(reader)).json() == {
        "memories": 3,
        "namespaces": 2,
        "prefix": ["users", "alice"],
    }


def test_namespaces_outside_the_prefix_are_403_and_never_looked_up(
    client: TestClient, keys: KeyStore, memory: HippoMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = keys.create("users/alice", ["read", "write"])
    calls: list[str] = []
    for name in ("remember", "remember_many", "recall", "recall_chain", "list", "namespaces"):
        original = getattr(memory, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(memory, name, spy)
    bob = ["users", "bob"]
    for path, body in (
        ("/v1/memories", {"text": "x", "namespace": bob}),
        ("/v1/memories", {"text": "x", "namespace": ["users"]}),  # a write is never clipped
        (
            "/v1/memories/batch",
            {"items": ["x"], "namespace": ["users", "alice"]} | {"items": [{"text": "x", "namespace": bob}]},
        ),
        ("/v1/recall", {"query": "dog", "namespace": bob}),
        ("/v1/recall_chain", {"query": "dog", "namespace": bob}),
        ("/v1/list", {"namespace": bob}),
        ("/v1/namespaces", {"prefix": ["users", "bobby"]}),
    ):
        response = client.post(path, json=body, headers=_auth(token))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "PermissionDeniedError"
    assert calls == []


def test_reads_are_clipped_to_the_prefix(client: TestClient, keys: KeyStore) -> None:
    token, _ = keys.create("users/alice", ["read"])
    for namespace in (None, ["users"]):
        hits = client.post(
            "/v1/recall", json={"query": "greyhound", "namespace": namespace, "k": 10}, headers=_auth(token)
        ).json()
        assert hits["namespace"] == ["users", "alice"]
        assert {h["memory"]["namespace"][1] for h in hits["hits"]} == {"alice"}
        listed = client.post("/v1/list", json={"namespace": namespace}, headers=_auth(token)).json()
        assert len(listed) == 2 and all(m["namespace"][:2] == ["users", "alice"] for m in listed)
        chain = client.post(
            "/v1/recall_chain", json={"query": "greyhound Rex", "namespace": namespace}, headers=_auth(token)
        ).json()
        assert all(h["memory"]["namespace"][1] == "alice" for h in chain["hops"])
    names = client.post("/v1/namespaces", json={}, headers=_auth(token)).json()
    assert names == {"namespaces": [["users", "alice"], ["users", "alice", "work"]], "counts": [2, 1]}
    deeper = client.post("/v1/list", json={"namespace": ["users", "alice", "work"]}, headers=_auth(token)).json()
    assert [m["text"] for m in deeper] == ["Alice works on the lighthouse project"]


def test_ids_outside_the_prefix_look_absent(client: TestClient, keys: KeyStore, memory: HippoMemory) -> None:
    token, _ = keys.create("users/alice", ["read", "write"])
    bob, alice = _id(memory, "bob"), _id(memory, "alice")
    absent = client.get("/v1/memories/no-such-id", headers=_auth(token)).json()
    for method, path, body in (
        ("GET", f"/v1/memories/{bob}", None),
        ("PATCH", f"/v1/memories/{bob}", {"text": "hijacked"}),
        ("DELETE", f"/v1/memories/{bob}", None),
        ("POST", "/v1/forget", {"ids": [alice, bob]}),
        ("POST", "/v1/associate", {"source": alice, "target": bob}),
        ("POST", "/v1/associate", {"source": bob, "target": alice}),
        ("POST", "/v1/memories", {"text": "x", "namespace": ["users", "alice"], "supersedes": bob}),
    ):
        response = client.request(method, path, json=body, headers=_auth(token))
        assert response.status_code == 404, (method, path, response.text)
        payload = response.json()
        assert payload["error"] == "MemoryNotFoundError"
        assert payload["message"] == absent["message"].replace("no-such-id", bob)
    assert memory.get(bob).text == "Bob keeps a greyhound named Rex" and memory.count() == 3


def test_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "mem"
    assert (
        main(["--store", str(store), "keys", "create", "--prefix", "users/alice", "--scopes", "read,write", "--json"])
        == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert created["key"].startswith("hm_") and "hash" not in created
    assert default_keys_path(store).exists()
    assert main(["keys", "list", "--store", str(store), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["id"], k["prefix"], k["revoked_at"]) for k in listed] == [(created["id"], ["users", "alice"], None)]
    assert main(["keys", "revoke", created["id"], "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["keys", "revoke", "nope", "--store", str(store)]) == 2
    assert main(["keys", "create", "--store", "postgresql://db/x", "--prefix", "a"]) == 2  # needs --keys
    other = tmp_path / "k.json"
    assert main(["keys", "create", "--store", "postgresql://db/x", "--keys", str(other), "--prefix", "a"]) == 0
    assert KeyStore(other).list()[0].prefix == ("a",)


def test_serve_refuses_a_public_host_without_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--store", str(tmp_path / "mem"), "--host", "0.0.0.0"]) == 2
    assert "without API keys" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.org")
