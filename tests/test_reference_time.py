"""``reference_time``: the "now" a query's relative dates ("last Saturday") count from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, InvalidInputError
from hippo_memory._temporal import query_time

QUERY = "What did I do last Saturday?"
ASKED = datetime(2023, 5, 30, 9, 0, tzinfo=UTC)  # a Tuesday: last Saturday is 27 May 2023
TEXT = "Spent the whole day out with Sam."  # the same words every day: only the date tells them apart
DAYS = {
    "thursday": datetime(2023, 5, 25, 15, 0, tzinfo=UTC),
    "friday": datetime(2023, 5, 26, 15, 0, tzinfo=UTC),
    "saturday": datetime(2023, 5, 27, 15, 0, tzinfo=UTC),
    "sunday": datetime(2023, 5, 28, 15, 0, tzinfo=UTC),
}


def _memory(ranker: str = "learned") -> HippoMemory:
    mem = HippoMemory(encoder=HashingEncoder(256), config=HippoConfig(durable=False, ranker=ranker))
    for name, when in DAYS.items():
        mem.remember(TEXT, namespace=("me",), timestamp=when, id=name, metadata={"day": name})
    return mem


@pytest.mark.parametrize("ranker", ["learned", "fusion"])
def test_last_saturday_is_the_saturday_before_the_reference_time(ranker: str) -> None:
    with _memory(ranker) as mem:
        dated = mem.recall(QUERY, namespace=("me",), k=4, reference_time=ASKED)
        undated = mem.recall(QUERY, namespace=("me",), k=4)  # now (2026 or later): no memory of that week
        assert dated.hits[0].memory.id == "saturday"
        by_id = {hit.memory.id: hit for hit in undated.hits}
        saturday = next(hit for hit in dated.hits if hit.memory.id == "saturday")
        # without the reference "last Saturday" is a week of 2026 or later: no memory matches,
        # and the same words leave Saturday's memory behind the first one written
        assert undated.hits[0].memory.id == "thursday"
        assert saturday.score > by_id["saturday"].score
        assert all(hit.score < saturday.score for hit in dated.hits[1:])
        now_window = query_time(QUERY).windows
        assert now_window.shape == (1, 2) and now_window[0, 0] > DAYS["sunday"].timestamp()


def test_every_form_of_the_reference_time_means_the_same_instant() -> None:
    naive = ASKED.replace(tzinfo=None)  # naive datetimes are UTC
    lisbon = ASKED.astimezone(timezone(timedelta(hours=1)))
    forms: list[Any] = [ASKED, naive, lisbon, ASKED.timestamp(), int(ASKED.timestamp()), "2023-05-30T09:00:00Z"]
    with _memory() as mem:
        vector = mem.encoder.encode([QUERY])[0]
        results = [[(h.memory.id, h.score) for h in mem.recall(QUERY, k=4, reference_time=form).hits] for form in forms]
        results.append(
            [(h.memory.id, h.score) for h in mem.recall_vector(vector, query=QUERY, k=4, reference_time=ASKED).hits]
        )
        assert all(r == results[0] for r in results)
        assert results[0][0][0] == "saturday"


def test_recall_groups_chain_and_the_async_twins_take_it() -> None:
    with _memory() as mem:
        groups = mem.recall_groups(QUERY, group_by="day", k=1, reference_time=ASKED)
        assert groups[0].key == "saturday"
        assert mem.recall_chain(QUERY, hops=0, reference_time=ASKED).hops[0].memory.id == "saturday"
        vector = mem.encoder.encode([QUERY])[0]

        async def run() -> list[str]:
            return [
                (await mem.arecall(QUERY, k=1, reference_time=ASKED)).hits[0].memory.id,
                (await mem.arecall_vector(vector, query=QUERY, k=1, reference_time=ASKED)).hits[0].memory.id,
                (await mem.arecall_groups(QUERY, group_by="day", k=1, reference_time=ASKED))[0].key,
                (await mem.arecall_chain(QUERY, hops=0, reference_time=ASKED)).hops[0].memory.id,
            ]

        assert asyncio.run(run()) == ["saturday"] * 4


@pytest.mark.parametrize(
    "bad", [True, float("nan"), float("inf"), 1e20, "last Saturday", "2023-13-01", object(), [2023, 5, 30]]
)
def test_a_bad_reference_time_is_refused(bad: Any) -> None:
    with _memory() as mem:
        vector = mem.encoder.encode([QUERY])[0]
        for call in (
            lambda: mem.recall(QUERY, reference_time=bad),
            lambda: mem.recall_vector(vector, query=QUERY, reference_time=bad),
            lambda: mem.recall_groups(QUERY, group_by="day", reference_time=bad),
            lambda: mem.recall_chain(QUERY, reference_time=bad),
        ):
            with pytest.raises(InvalidInputError, match="reference_time"):
                call()


def test_query_time_reads_last_saturday_from_the_reference() -> None:
    window = query_time(QUERY, ASKED.timestamp()).windows
    assert window.shape == (1, 2)
    assert datetime.fromtimestamp(float(window[0, 0]), UTC).date().isoformat() == "2023-05-27"
    assert np.isfinite(window).all()


def test_the_server_and_its_clients_pass_it_through(tmp_path: Path) -> None:
    from _server_support import live_server

    from hippo_memory import AsyncHippoClient, HippoClient
    from hippo_memory.server import KeyStore, create_app

    def day(hit: Any) -> str:
        return str(hit.memory.metadata["day"])

    with _memory() as mem:
        keys = KeyStore(tmp_path / "keys.json")
        token, _ = keys.create("me", ["read"])
        vector = mem.encoder.encode([QUERY])[0]
        with live_server(create_app(mem, keys=keys, mcp=False)) as url:
            with HippoClient(url, api_key=token) as client:
                assert day(client.recall(QUERY, namespace=("me",), k=1).hits[0]) == "thursday"
                assert day(client.recall(QUERY, namespace=("me",), k=1, reference_time=ASKED).hits[0]) == "saturday"
                naive = ASKED.replace(tzinfo=None)  # sent without an offset: UTC on the server too
                assert day(client.recall(QUERY, namespace=("me",), k=1, reference_time=naive).hits[0]) == "saturday"
                found = client.recall_vector(vector, query=QUERY, namespace=("me",), k=1, reference_time=ASKED)
                assert day(found.hits[0]) == "saturday"
                groups = client.recall_groups(QUERY, group_by="day", namespace=("me",), k=1, reference_time=ASKED)
                assert groups[0].key == "saturday"
                chain = client.recall_chain(QUERY, namespace=("me",), hops=0, reference_time=ASKED.timestamp())
                assert chain.hops[0].memory.metadata["day"] == "saturday"
                with pytest.raises(InvalidInputError, match="reference_time"):
                    client.recall(QUERY, namespace=("me",), reference_time="last Saturday")

            async def run() -> list[str]:
                async with AsyncHippoClient(url, api_key=token) as client:
                    recalled = await client.arecall(QUERY, namespace=("me",), k=1, reference_time=ASKED)
                    by_vector = await client.arecall_vector(
                        vector, query=QUERY, namespace=("me",), k=1, reference_time=ASKED
                    )
                    return [day(recalled.hits[0]), day(by_vector.hits[0])]

            assert asyncio.run(run()) == ["saturday", "saturday"]


async def test_the_mcp_recall_tool_takes_the_users_now() -> None:
    from mcp import Client

    from hippo_memory.server._mcp import build_mcp
    from hippo_memory.server._service import Service

    with _memory() as mem:
        async with Client(build_mcp(Service(mem))) as client:
            at = "2023-05-30T11:00:00+02:00"  # the user's local time, with its offset
            hits = (await client.call_tool("recall", {"query": QUERY, "k": 1, "reference_time": at})).structured_content
            assert hits["hits"][0]["metadata"] == {"day": "saturday"}
