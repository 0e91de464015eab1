"""The MCP tools: listed with descriptions for a model, called in process, over HTTP with keys, and over stdio."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _server_support import small_memory
from fastapi.testclient import TestClient
from mcp import Client

from hippo_memory import HippoMemory
from hippo_memory.server import KeyStore, create_app
from hippo_memory.server._mcp import build_mcp
from hippo_memory.server._service import Service

TOOLS = {
    "recall",
    "recall_chain",
    "remember",
    "remember_many",
    "associate",
    "get_memory",
    "update_memory",
    "forget",
    "supersede",
    "forget_namespace",
    "list_memories",
    "namespaces",
    "stats",
    "consolidate",
}


@pytest.fixture
def memory() -> Iterator[HippoMemory]:
    mem = small_memory()
    yield mem
    mem.close()


async def test_tools_are_listed_with_guidance_for_a_model(memory: HippoMemory) -> None:
    async with Client(build_mcp(Service(memory))) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    assert "before answering" in (tools["recall"].description or "")
    assert "several linked facts" in (tools["recall_chain"].description or "")
    assert "durable" in (tools["remember"].description or "")
    assert not any((t.description or "").startswith(" ") for t in tools.values())
    assert tools["recall"].input_schema["required"] == ["query"]


async def test_tools_called_in_process(memory: HippoMemory) -> None:
    async with Client(build_mcp(Service(memory))) as client:
        ids = (
            await client.call_tool(
                "remember_many",
                {
                    "texts": ["Alice adopted a greyhound", "The greyhound is called Pixel"],
                    "namespace": ["users", "alice"],
                    "session": "s",
                },
            )
        ).structured_content["ids"]
        hits = (
            await client.call_tool("recall", {"query": "greyhound", "namespace": ["users", "alice"]})
        ).structured_content
        assert {h["id"] for h in hits["hits"]} == set(ids)
        chain = (
            await client.call_tool("recall_chain", {"query": "Alice adopted a greyhound", "hops": 1})
        ).structured_content
        assert [h["id"] for h in chain["hops"]] == ids
        assert (await client.call_tool("recall", {"query": "x", "namespace": ["nobody"]})).structured_content == {
            "hits": []
        }
        missing = await client.call_tool("get_memory", {"id": "nope"})
        assert missing.is_error and "MemoryNotFoundError" in missing.content[0].text
        updated = (
            await client.call_tool("update_memory", {"id": ids[1], "text": "The dog is called Pixel"})
        ).structured_content
        assert updated["text"] == "The dog is called Pixel"
        newer = (
            await client.call_tool(
                "remember", {"text": "The greyhound is called Pixie now", "namespace": ["users", "alice"]}
            )
        ).structured_content["id"]
        assert (await client.call_tool("supersede", {"old": ids[1], "new": newer})).structured_content == {"ok": True}
        assert memory.get(ids[1]).superseded_by == newer
        assert (await client.call_tool("forget", {"ids": ids})).structured_content == {"forgotten": 2}
        gone = await client.call_tool("forget_namespace", {"namespace": ["users", "alice"]})
        assert gone.structured_content == {"forgotten": 1} and memory.count() == 0


def _rpc(client: TestClient, method: str, params: dict[str, Any], token: str | None = None) -> Any:
    headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = client.post(
        "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, headers=headers
    )
    return response


def test_mcp_over_http_applies_the_keys(memory: HippoMemory, tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.json")
    alice, _ = keys.create("users/alice", ["read", "write"])
    reader, _ = keys.create("users/alice", ["read"])
    memory.remember("Bob's secret: the vault code is 1234", namespace=("users", "bob"))
    with TestClient(create_app(memory, keys=keys, host="testserver")) as client:
        assert _rpc(client, "tools/list", {}).status_code == 401
        listed = _rpc(client, "tools/list", {}, alice)
        assert listed.status_code == 200 and {t["name"] for t in listed.json()["result"]["tools"]} == TOOLS

        def call(name: str, arguments: dict[str, Any], token: str) -> dict[str, Any]:
            result: dict[str, Any] = _rpc(client, "tools/call", {"name": name, "arguments": arguments}, token).json()[
                "result"
            ]
            return result

        stored = call("remember", {"text": "Alice's code is 42", "namespace": ["users", "alice"]}, alice)
        assert not stored.get("isError") and stored["structuredContent"]["id"]
        hits = call("recall", {"query": "vault code secret", "k": 10}, alice)["structuredContent"]["hits"]
        assert [h["namespace"] for h in hits] == [["users", "alice"]]
        outside = call("recall", {"query": "vault", "namespace": ["users", "bob"]}, alice)
        assert outside["isError"] and "PermissionDeniedError" in outside["content"][0]["text"]
        homed = call("remember", {"text": "no namespace given"}, alice)["structuredContent"]["id"]
        assert memory.get(homed).namespace == ("users", "alice")
        denied = call("remember", {"text": "x", "namespace": ["users", "alice"]}, reader)
        assert denied["isError"] and "PermissionDeniedError" in denied["content"][0]["text"]
        wiped = call("forget_namespace", {"namespace": ["users", "bob"]}, alice)
        assert wiped["isError"] and "PermissionDeniedError" in wiped["content"][0]["text"]
        assert memory.count(("users", "bob")) == 1


async def test_mcp_over_stdio(tmp_path: Path) -> None:
    from mcp import StdioServerParameters

    store = tmp_path / "mem"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hippo_memory._cli", "--encoder", "hashing:128", "mcp", "--store", str(store), "--create"],
    )
    async with Client(params) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools == TOOLS
        stored = await client.call_tool("remember", {"text": "stdio works", "namespace": ["me"]})
        memory_id = stored.structured_content["id"]
        got = await client.call_tool("get_memory", {"id": memory_id})
        assert json.loads(got.content[0].text)["text"] == "stdio works"
