"""HippoClient / AsyncHippoClient have HippoMemory's methods, signatures and answers; ids stay per tenant."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from _server_support import live_server, small_memory

from hippo_memory import (
    AsyncHippoClient,
    HippoClient,
    HippoMemory,
    InvalidInputError,
    MemoryNotFoundError,
    RecallResult,
)
from hippo_memory.server import KeyStore, PermissionDeniedError, create_app

# The engine methods a client deliberately lacks, and why (also in hippo_memory.client's docstring).
NOT_SERVED = {
    "partition_key": "how the server's store is partitioned is the server's business",
}
# Client methods the engine lacks: the async client's way to close its connection pool
# and to fetch the server's HippoConfig (the sync client's ``config`` is a property, as the engine's).
CLIENT_ONLY = {"aclose", "get_config"}
# Parameters a client method has beyond the engine's: the engine's arecall_chain lacks the
# ``vector`` of its recall_chain, while the client's a-names are its very coroutines.
EXTRA_PARAMS = {("AsyncHippoClient", "arecall_chain"): {"vector"}}


def _public(cls: type) -> dict[str, Callable[..., Any]]:
    return {n: getattr(cls, n) for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


def _shape(fn: Callable[..., Any], drop: set[str] | None = None) -> tuple[Any, ...]:
    """Parameter names, kinds and defaults, and the annotations (``builtins.list`` is ``list``)."""
    sig = inspect.signature(fn)
    sig = sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in (drop or set())])

    def ann(a: Any) -> str:
        return str(a).replace("builtins.", "")

    params = tuple((p.name, p.kind, p.default, ann(p.annotation)) for p in sig.parameters.values())
    return params, ann(sig.return_annotation)


def test_the_sync_client_has_the_engines_signatures() -> None:
    """Every engine method, the ``a*`` twins included (the same worker-thread twins), so adapters take either."""
    engine, client = _public(HippoMemory), _public(HippoClient)
    wanted = set(engine)
    assert set(NOT_SERVED) <= wanted
    missing = wanted - set(client) - set(NOT_SERVED)
    assert missing == set()
    assert set(client) - wanted == set()
    for name in sorted(wanted - set(NOT_SERVED)):
        assert _shape(client[name]) == _shape(engine[name]), name


def test_the_async_client_has_the_engines_async_twins() -> None:
    engine, client = _public(HippoMemory), _public(AsyncHippoClient)
    twins = {n for n in engine if n.startswith("a") and n not in ("associate", "associations")}
    sync = {n for n in engine if n not in twins} - set(NOT_SERVED)
    assert twins - set(client) == set()
    assert set(client) - twins - sync - CLIENT_ONLY == set()
    for name in sorted(twins):
        assert inspect.iscoroutinefunction(client[name]), name
        extra = EXTRA_PARAMS.get(("AsyncHippoClient", name), set())
        assert extra <= set(inspect.signature(client[name]).parameters), name
        assert _shape(client[name], extra) == _shape(engine[name]), name
    for name in sorted(sync - {"close"}):  # the unprefixed names are the same coroutines
        assert inspect.iscoroutinefunction(client[name]), name
        assert _shape(client[name]) == _shape(engine[name]), name


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, HippoMemory, KeyStore]]:
    memory = small_memory()
    keys = KeyStore(tmp_path_factory.mktemp("keys") / "keys.json")
    with live_server(create_app(memory, keys=keys, mcp=False)) as url:
        yield url, memory, keys
    memory.close()


def test_the_methods_added_for_parity_answer_as_the_engine(
    served: tuple[str, HippoMemory, KeyStore], tmp_path: Path
) -> None:
    url, memory, keys = served
    token, _ = keys.create("parity/erin", ["read", "write"])
    ns = ("parity", "erin")
    with HippoClient(url, api_key=token) as client:
        old = client.remember("Erin lived in Porto", namespace=ns, timestamp=datetime(2020, 1, 1, tzinfo=UTC))
        new = client.remember("Erin lives in Lisbon now", namespace=ns, timestamp=datetime(2024, 1, 1, tzinfo=UTC))
        dog = client.remember("Erin has a dog named Biscuit", namespace=(*ns, "pets"))
        assert client.count() == client.count(ns) == memory.count(ns) == 3
        assert client.count((*ns, "pets")) == 1

        client.supersede(old, new)
        assert memory.get(old).superseded_by == new and client.get(old).superseded_by == new
        client.associate(new, old, strength=0.7)
        assert client.associations(new) == memory.associations(new)
        assert client.associations(new)[0][0] == old

        vector = memory.encoder.encode(["Where does Erin live?"])[0]
        served_hits = client.recall_vector(vector, query="Where does Erin live?", namespace=ns, k=3)
        local_hits = memory.recall_vector(vector, query="Where does Erin live?", namespace=ns, k=3)
        assert isinstance(served_hits, RecallResult)
        assert [h.memory.id for h in served_hits] == [h.memory.id for h in local_hits]
        assert [h.score for h in served_hits] == pytest.approx([h.score for h in local_hits], rel=1e-5)
        chain = client.recall_chain("ignored", hops=1, namespace=ns, vector=vector)
        local_chain = memory.recall_chain("ignored", hops=1, namespace=ns, vector=vector)
        assert [m.id for m in chain.memories] == [m.id for m in local_chain.memories] != []

        for bad in ([1e39] * len(vector), [0.5] * (len(vector) + 1)):  # beyond float32; the wrong dimension
            response = httpx.post(
                f"{url}/v1/recall_vector", json={"vector": bad}, headers={"authorization": f"Bearer {token}"}
            )
            assert response.status_code == 422 and response.json()["error"].endswith("Error"), response.text
        with pytest.raises(InvalidInputError):
            client.recall_vector(np.zeros(3, dtype=np.float32))

        out = tmp_path / "sub" / "erin.jsonl"
        assert client.export_jsonl(out, include_superseded=True) == 3
        memory.export_jsonl(tmp_path / "engine.jsonl", ns, include_superseded=True)
        exported = [json.loads(line) for line in out.read_text().splitlines()]
        engine_side = [json.loads(line) for line in (tmp_path / "engine.jsonl").read_text().splitlines()]
        assert sorted(r["id"] for r in exported) == sorted(r["id"] for r in engine_side) == sorted([old, new, dog])

        with pytest.raises(PermissionDeniedError):
            client.forget_namespace(("parity", "frank"))
        with pytest.raises(PermissionDeniedError):
            client.forget_before(datetime(2030, 1, 1), namespace=("parity",))
        assert client.forget_before(datetime(2021, 1, 1, tzinfo=UTC)) == 1  # the Porto memory only
        assert client.forget_namespace((*ns, "pets")) == 1
        assert [m.id for m in client.list(ns)] == [new]


def test_recall_groups_over_the_client(served: tuple[str, HippoMemory, KeyStore]) -> None:
    url, memory, keys = served
    token, _ = keys.create("groups/hal", ["read", "write"])
    ns = ("groups", "hal")
    with HippoClient(url, api_key=token) as client:
        client.remember_many(
            [
                {"text": "Hal adopted a greyhound", "metadata": {"conv": "a"}, "id": "a1"},
                {"text": "The greyhound is called Pixel", "metadata": {"conv": "a"}, "id": "a2"},
                {"text": "Hal plays the cello", "metadata": {"conv": 7}, "id": "b1"},
            ],
            namespace=ns,
        )
        served_groups = client.recall_groups("Hal's greyhound", group_by="conv", namespace=ns, method="top_mean")
        local = memory.recall_groups("Hal's greyhound", group_by="conv", namespace=ns, method="top_mean")
        assert [(g.key, g.rank) for g in served_groups] == [(g.key, g.rank) for g in local]
        assert {type(g.key) for g in served_groups} == {str, int}  # JSON scalars keep their type
        assert [g.score for g in served_groups] == pytest.approx([g.score for g in local], rel=1e-5)
        assert [[h.memory.id for h in g.hits] for g in served_groups] == [
            [h.memory.id.removeprefix("groups.hal.") for h in g.hits] for g in local
        ]
        assert served_groups[0].hits[0].memory.id in ("a1", "a2")
        with pytest.raises(InvalidInputError):
            client.recall_groups("x", group_by="conv", method="bogus")  # type: ignore[arg-type]


async def test_the_async_client_methods_added_for_parity(served: tuple[str, HippoMemory, KeyStore]) -> None:
    url, memory, keys = served
    token, _ = keys.create("parity/gina", ["read", "write"])
    ns = ("parity", "gina")
    async with AsyncHippoClient(url, api_key=token) as client:
        first = await client.aremember("Gina plays the cello", namespace=ns)
        second = await client.aremember("Gina plays the oboe too", namespace=ns)
        assert await client.acount(ns) == 2
        await client.asupersede(first, second)
        await client.associate(second, first)
        assert (await client.associations(second))[0][0] == first
        vector = memory.encoder.encode(["What does Gina play?"])[0]
        hits = await client.recall_vector(vector, namespace=ns, include_superseded=True)
        assert {h.memory.id for h in hits} == {first, second}
        assert await client.aforget_namespace(ns) == 2


def test_chosen_ids_are_per_tenant(served: tuple[str, HippoMemory, KeyStore]) -> None:
    """Two tenants choose the same id; neither learns of the other, a wider key sees both under its own ids."""
    url, memory, keys = served
    alice, _ = keys.create("ids/alice", ["read", "write"])
    bob, _ = keys.create("ids/bob", ["read", "write"])
    wide, _ = keys.create("ids", ["read", "write"])
    with HippoClient(url, api_key=alice) as a, HippoClient(url, api_key=bob) as b, HippoClient(url, api_key=wide) as w:
        assert a.remember("Alice's note", namespace=("ids", "alice"), id="note") == "note"
        assert b.remember("Bob's note", namespace=("ids", "bob"), id="note") == "note"  # no "already exists"
        assert a.get("note").text == "Alice's note" and b.get("note").text == "Bob's note"
        assert memory.get("ids.alice.note").text == "Alice's note"  # as stored

        with pytest.raises(InvalidInputError) as taken:  # within one tenant an id is still unique
            a.remember("again", namespace=("ids", "alice"), id="note")
        assert "'note'" in str(taken.value) and "ids.alice" not in str(taken.value)

        assert sorted(m.id for m in w.list()) == ["alice.note", "bob.note"]
        assert w.get("alice.note").text == "Alice's note"
        assert w.remember("Wide note", namespace=("ids", "bob"), id="w1") == "w1"
        assert b.get("ids.w1").text == "Wide note"  # a wider key's id, as the narrower key sees it

        a.remember_many([{"text": "Alice's other note", "id": "other"}], namespace=("ids", "alice"))
        a.associate("note", "other")
        assert a.associations("note") == [("other", 1.0)]
        a.supersede("note", "other")
        assert a.get("note").superseded_by == "other"
        assert [h.memory.id for h in a.recall("note", include_superseded=True, k=5)] != []
        assert {h.memory.id for h in a.recall("note", include_superseded=True, k=5)} <= {"note", "other"}

        absent = _error(lambda: a.get("nobody-has-this"))
        for attempt in (
            lambda: a.get("bob.note"),
            lambda: a.get("ids.bob.note"),
            lambda: a.update("ids.bob.note", text="hijacked"),
            lambda: a.forget("ids.bob.note"),
            lambda: a.associations("ids.bob.note"),
            lambda: a.supersede("note", "ids.bob.note"),
        ):
            error = _error(attempt)
            assert type(error) is type(absent) is MemoryNotFoundError
            assert str(error).replace("bob.note", "?").replace("ids.?", "?") == str(absent).replace(
                "nobody-has-this", "?"
            )
        assert b.get("note").text == "Bob's note" and memory.count(("ids",)) == 4


def _error(fn: Callable[[], object]) -> Exception:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no error")


async def test_both_clients_serve_the_engines_config(served: tuple[str, HippoMemory, KeyStore]) -> None:
    """``GET /v1/config``: any key that may read gets the engine's HippoConfig (adapters read its limits)."""
    url, memory, keys = served
    reader, _ = keys.create("parity/config", ["read"])
    writer, _ = keys.create("parity/config", ["write"])
    with HippoClient(url, api_key=reader) as client:
        assert client.config == memory.config and client.config is client.config  # fetched once
    async with AsyncHippoClient(url, api_key=reader) as aclient:
        assert await aclient.get_config() == memory.config
    with HippoClient(url, api_key=writer) as client, pytest.raises(PermissionDeniedError):
        _ = client.config
