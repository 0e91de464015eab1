"""HippoClient and AsyncHippoClient against a live uvicorn server; tenant isolation under concurrency."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server_support import live_server, small_memory

from hippo_memory import (
    AsyncHippoClient,
    Chain,
    EmptyTextError,
    HippoClient,
    HippoMemory,
    InvalidInputError,
    InvalidNamespaceError,
    Memory,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    RecallResult,
)
from hippo_memory.client import ServiceUnavailableError
from hippo_memory.server import AuthenticationError, KeyStore, PermissionDeniedError, create_app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, HippoMemory, KeyStore]]:
    memory = small_memory()
    keys = KeyStore(tmp_path_factory.mktemp("keys") / "keys.json")
    with live_server(create_app(memory, keys=keys)) as url:
        yield url, memory, keys
    memory.close()


def test_client_mirrors_the_embedded_memory(served: tuple[str, HippoMemory, KeyStore]) -> None:
    url, memory, keys = served
    token, _ = keys.create("users/carol", ["read", "write"])
    ns = ("users", "carol")
    with HippoClient(url, api_key=token) as client:
        first = client.remember(
            "Carol moved to Lisbon", namespace=ns, metadata={"k": 1}, timestamp=datetime(2024, 3, 2), session="s"
        )
        second, third = client.remember_many(
            ["Carol found a flat in Alfama", {"text": "Carol's flat has a blue door", "metadata": {"k": 2}}],
            namespace=ns,
            session="s",
        )
        got = client.get(first)
        assert isinstance(got, Memory)
        embedded = memory.get(first)
        assert (got.id, got.text, got.namespace, dict(got.metadata), got.timestamp, got.created_at, got.cues) == (
            embedded.id,
            embedded.text,
            embedded.namespace,
            dict(embedded.metadata),
            embedded.timestamp,
            embedded.created_at,
            embedded.cues,
        )
        result = client.recall("Where did Carol move?", namespace=ns, k=2)
        assert isinstance(result, RecallResult) and result.namespace == ns and result.hits[0].memory.id == first
        assert result.hits[0].diagnostics.best_cue.text and result[0] is result.hits[0]
        assert result.hits[0].diagnostics.fused is not None  # the hand-set score travels with the hit
        top = result.hits[0].score
        assert [h.memory.id for h in client.recall("Where did Carol move?", namespace=ns, k=2, min_score=top)] == [
            first
        ]
        assert client.recall("Where did Carol move?", namespace=ns, min_score=1.01).hits == ()
        chain = client.recall_chain("Carol moved to Lisbon", hops=2, namespace=ns)
        assert (
            isinstance(chain, Chain)
            and chain.memories[0].id == first
            and chain.stop_reason in ("hops", "no_link", "faded")
        )
        client.associate(third, first, strength=0.5)
        assert client.update(second, metadata={"k": 3}).metadata == {"k": 3}
        assert [m.id for m in client.list(ns, filter={"k": {"$gte": 2}})] == [second, third]
        assert client.namespaces() == [ns]
        assert client.stats()["memories"] == 3
        assert client.forget([second, third]) == 2
        with pytest.raises(MemoryNotFoundError) as missing:
            client.get(second)
        assert isinstance(missing.value, KeyError)
        with pytest.raises(EmptyTextError):
            client.remember(" ", namespace=ns)
        with pytest.raises(InvalidNamespaceError):
            client.recall("x", namespace=("a.b",))
        with pytest.raises(NamespaceNotFoundError):
            client.recall("x", namespace=(*ns, "nothing"))
        with pytest.raises(PermissionDeniedError):
            client.remember("x", namespace=("users", "dave"))
        client.forget(first)
    with HippoClient(url) as anonymous, pytest.raises(AuthenticationError):
        anonymous.stats()


async def test_async_client(served: tuple[str, HippoMemory, KeyStore]) -> None:
    url, _, keys = served
    token, _ = keys.create("users/erin", ["read", "write"])
    ns = ("users", "erin")
    async with AsyncHippoClient(url, api_key=token) as client:
        memory_id = await client.aremember("Erin plays the oboe", namespace=ns)
        hits = await client.recall("What does Erin play?", namespace=ns)
        assert hits.memories[0].id == memory_id
        assert (await client.aget(memory_id)).text == "Erin plays the oboe"
        assert await client.namespaces() == [ns]
        with pytest.raises(MemoryNotFoundError):
            await client.get("nope")
        assert await client.forget(memory_id) == 1


def test_reads_retry_connection_errors_and_writes_do_not() -> None:
    attempts: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        if len(attempts) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"namespaces": [["a"]]})

    with HippoClient("http://x", transport=httpx.MockTransport(flaky), backoff=0.001) as client:
        assert client.namespaces() == [("a",)]
        assert len(attempts) == 3
        attempts.clear()
        with pytest.raises(ServiceUnavailableError):
            client.remember("x")
        assert attempts == ["/v1/memories"]


def test_unreachable_server_is_a_store_error(tmp_path: Path) -> None:
    from hippo_memory import StoreError

    with HippoClient("http://127.0.0.1:9", retries=1, backoff=0.001, timeout=2) as client, pytest.raises(StoreError):
        client.stats()


def test_tenants_never_see_each_other_under_concurrency(tmp_path: Path) -> None:
    """20 keys for 20 tenants issue random operations from 20 threads; no answer holds another tenant's memory.

    Nor does an error: every tenant chooses ids from one shared pool of names, and an id
    another tenant holds reads, updates and forgets exactly as an id nobody holds.
    """
    memory = small_memory(tmp_path / "store")
    keys = KeyStore(tmp_path / "keys.json")
    tenants = [("tenants", f"t{i:02d}") for i in range(20)]
    tokens = [keys.create("/".join(ns), ["read", "write"])[0] for ns in tenants]
    # The same words for everyone: an unconfined recall would surely return other tenants' memories.
    words = "dog cat lisbon porto cello oboe beach flat door garden".split()
    seeded: dict[int, list[str]] = {}
    for i, ns in enumerate(tenants):
        texts = [f"tenant {ns[1]} note {w} {words[(j + i) % len(words)]}" for j, w in enumerate(words)]
        seeded[i] = memory.remember_many(texts, namespace=ns, session="seed")
    failures: list[str] = []
    rng_seed = random.randrange(1 << 30)

    def check(i: int, found: list[Memory], what: str) -> None:
        for m in found:
            if m.namespace[:2] != tenants[i] or f"tenant {tenants[i][1]}" not in m.text:
                failures.append(f"seed {rng_seed}: tenant {i} {what} saw {m.namespace} {m.text!r}")

    shared_names = [f"note-{n}" for n in range(6)]  # every tenant picks its ids from these

    def absent(exc: Exception, memory_id: str) -> bool:
        return type(exc) is MemoryNotFoundError and str(exc) == f"no memory with id {memory_id!r}"

    def work(i: int, url: str) -> None:
        rng = random.Random(rng_seed + i)
        own = list(seeded[i])
        claimed: set[str] = set()
        with HippoClient(url, api_key=tokens[i]) as client:
            for _ in range(12):
                op = rng.choice(
                    [
                        *("recall", "recall_all", "chain", "list", "namespaces", "get", "steal", "remember"),
                        *("update", "claim", "claim", "probe"),
                    ]
                )
                other = rng.choice([j for j in range(20) if j != i])
                try:
                    if op == "recall":
                        check(i, client.recall(rng.choice(words), namespace=tenants[i], k=10).memories, op)
                    elif op == "recall_all":
                        check(
                            i,
                            client.recall(rng.choice(words), namespace=rng.choice([None, ("tenants",)]), k=20).memories,
                            op,
                        )
                    elif op == "chain":
                        check(i, client.recall_chain(rng.choice(words), hops=3).memories, op)
                    elif op == "list":
                        check(i, client.list(rng.choice([None, ("tenants",)]), limit=50), op)
                    elif op == "namespaces":
                        if client.namespaces() != [tenants[i]]:
                            failures.append(f"tenant {i} namespaces leaked")
                    elif op == "get":
                        check(i, [client.get(rng.choice(own))], op)
                    elif op == "steal":
                        try:
                            stolen = client.get(rng.choice(seeded[other]))
                            failures.append(f"tenant {i} read {stolen.namespace}")
                        except MemoryNotFoundError:
                            pass
                        try:
                            client.recall("dog", namespace=tenants[other])
                            failures.append(f"tenant {i} recalled in {tenants[other]}")
                        except PermissionDeniedError:
                            pass
                    elif op == "remember":
                        own.append(
                            client.remember(f"tenant {tenants[i][1]} new {rng.choice(words)}", namespace=tenants[i])
                        )
                    elif op == "claim":
                        name = rng.choice(shared_names)
                        try:
                            got = client.remember(f"tenant {tenants[i][1]} {name}", namespace=tenants[i], id=name)
                        except InvalidInputError as exc:  # only ever because this tenant holds it
                            if (
                                name not in claimed
                                or str(exc) != f"a memory with id {name!r} already exists; use update()"
                            ):
                                failures.append(f"seed {rng_seed}: tenant {i} claim {name}: {exc}")
                        else:
                            if name in claimed or got != name:
                                failures.append(f"seed {rng_seed}: tenant {i} claimed {name} twice or got {got}")
                            claimed.add(name)
                            own.append(name)
                    elif op == "probe":  # a name only others may hold looks absent, in every operation
                        name = rng.choice([n for n in shared_names if n not in claimed] or ["none"])
                        stolen = rng.choice(seeded[other])
                        attempts: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
                            (client.get, (name,), {}),
                            (client.update, (name,), {"text": "hijacked"}),
                            (client.forget, (name,), {}),
                            (client.associations, (name,), {}),
                            (client.associate, (own[0], name), {}),
                            (client.get, (stolen,), {}),
                        ]
                        for method, args, kwargs in attempts:
                            try:
                                method(*args, **kwargs)
                                failures.append(f"seed {rng_seed}: tenant {i} reached {args} by {method.__name__}")
                            except MemoryNotFoundError as exc:
                                if not (absent(exc, name) or absent(exc, stolen)):
                                    failures.append(f"seed {rng_seed}: tenant {i} probe said {exc}")
                    elif op == "update":
                        check(i, [client.update(rng.choice(own), metadata={"n": rng.random()})], op)
                except Exception as exc:
                    failures.append(f"seed {rng_seed}: tenant {i} {op}: {type(exc).__name__}: {exc}")

    with live_server(create_app(memory, keys=keys, mcp=False)) as url:
        threads = [threading.Thread(target=work, args=(i, url)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    holders = {m.id: m.namespace for m in memory.list(("tenants",)) if "note-" in m.id}
    memory.close()
    assert failures == []
    assert all(holders[memory_id][:2] == ("tenants", memory_id.split(".")[1]) for memory_id in holders)
