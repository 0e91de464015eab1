"""langmem's memory tools running against HippoStore."""

from __future__ import annotations

import json
import warnings
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langchain_hippo_memory import HippoStore

with warnings.catch_warnings():  # langmem's dependency trustcall imports a deprecated name
    warnings.simplefilter("ignore", DeprecationWarning)
    from langmem import create_manage_memory_tool, create_search_memory_tool

CONFIG = {"configurable": {"langgraph_user_id": "u-42"}}
NAMESPACE = ("memories", "{langgraph_user_id}")


def test_manage_and_search_tools_against_hippo_store(store: HippoStore) -> None:
    manage = create_manage_memory_tool(namespace=NAMESPACE, store=store)
    search = create_search_memory_tool(namespace=NAMESPACE, store=store)

    created = manage.invoke({"content": "User prefers dark roast coffee"}, CONFIG)
    manage.invoke({"content": "User's daughter is called Ines"}, CONFIG)
    manage.invoke({"content": "User is training for the Lisbon marathon"}, CONFIG)
    assert created.startswith("created memory ")
    memory_id = created.split()[-1]

    items = store.search(("memories", "u-42"))
    assert len(items) == 3
    assert {"content": "User prefers dark roast coffee"} in [i.value for i in items]

    found = json.loads(search.invoke({"query": "dark roast coffee", "limit": 2}, CONFIG))
    assert len(found) == 2
    assert found[0]["value"] == {"content": "User prefers dark roast coffee"}
    assert found[0]["key"] == memory_id and found[0]["score"] is not None

    manage.invoke(
        {"action": "update", "id": memory_id, "content": "User switched to green tea"}, CONFIG
    )
    found = json.loads(search.invoke({"query": "green tea"}, CONFIG))
    assert found[0]["key"] == memory_id
    assert found[0]["value"] == {"content": "User switched to green tea"}
    assert len(found) == 3

    manage.invoke({"action": "delete", "id": memory_id}, CONFIG)
    assert store.get(("memories", "u-42"), memory_id) is None
    assert len(json.loads(search.invoke({"query": "green tea"}, CONFIG))) == 2
    other_user = {"configurable": {"langgraph_user_id": "someone-else"}}
    assert json.loads(search.invoke({"query": "coffee"}, other_user)) == []


async def test_langmem_tools_async_inside_an_agent(store: HippoStore, scripted_model: Any) -> None:
    manage = create_manage_memory_tool(namespace=NAMESPACE)  # store comes from the graph
    search = create_search_memory_tool(namespace=NAMESPACE)
    model = scripted_model(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[
                        {
                            "name": "manage_memory",
                            "id": "1",
                            "args": {"content": "User's cat is Miso"},
                        }
                    ],
                ),
                AIMessage(
                    content="",
                    tool_calls=[{"name": "search_memory", "id": "2", "args": {"query": "cat"}}],
                ),
                AIMessage(content="Your cat is Miso."),
            ]
        )
    )
    agent = create_agent(model, tools=[manage, search], store=store)
    result = await agent.ainvoke({"messages": [HumanMessage("Remember my cat is Miso")]}, CONFIG)
    tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert tool_messages[0].content.startswith("created memory")
    found = json.loads(tool_messages[1].content)
    assert found[0]["value"] == {"content": "User's cat is Miso"}
    assert await store.alist_namespaces() == [("memories", "u-42")]
