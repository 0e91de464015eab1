"""The four tools under langchain-tests' standard suites, and the same tools as LlamaIndex's.

Each tool runs ``ToolsUnitTests`` and ``ToolsIntegrationTests`` (invocation with and
without a tool call, sync and async, output as declared).

``recall_memory``, ``recall_chain``, ``remember`` and ``forget`` must read alike in
both adapters: names, descriptions, argument names and descriptions, and replies.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hippo_memory import HashingEncoder, HippoMemory
from hippo_memory.integration import TOOLS
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_hippo_memory import (
    create_chain_tool,
    create_forget_tool,
    create_memory_tools,
    create_recall_tool,
    create_remember_tool,
)

NAMESPACE = ("users", "caroline")


def _memory() -> HippoMemory:
    memory = HippoMemory(encoder=HashingEncoder(dim=64), device="cpu")
    memory.remember("Caroline adopted a dog named Biscuit.", namespace=NAMESPACE, id="dog")
    return memory


class _RecallTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return create_recall_tool(_memory(), namespace=NAMESPACE)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "What is the dog called?", "k": 2}


class _ChainTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return create_chain_tool(_memory(), namespace=NAMESPACE)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "What is the dog called?", "hops": 1}


class _RememberTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return create_remember_tool(_memory(), namespace=NAMESPACE)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"text": "Biscuit likes the beach."}


class _ForgetTool:
    @property
    def tool_constructor(self) -> BaseTool:
        return create_forget_tool(_memory(), namespace=NAMESPACE)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"memory_id": "dog"}


class TestRecallToolStandard(_RecallTool, ToolsUnitTests):
    pass


class TestRecallToolIntegration(_RecallTool, ToolsIntegrationTests):
    pass


class TestChainToolStandard(_ChainTool, ToolsUnitTests):
    pass


class TestChainToolIntegration(_ChainTool, ToolsIntegrationTests):
    pass


class TestRememberToolStandard(_RememberTool, ToolsUnitTests):
    pass


class TestRememberToolIntegration(_RememberTool, ToolsIntegrationTests):
    pass


class TestForgetToolStandard(_ForgetTool, ToolsUnitTests):
    pass


class TestForgetToolIntegration(_ForgetTool, ToolsIntegrationTests):
    pass


def test_every_tool_runs_both_suites() -> None:
    names = {
        c().tool_constructor.name for c in (_RecallTool, _ChainTool, _RememberTool, _ForgetTool)
    }
    assert names == set(TOOLS) == {t.name for t in create_memory_tools(_memory(), writable=True)}


# ---------------------------------------------------------------------- one set of tools
def _words(text: str) -> str:
    return " ".join(text.split())


def _llama_tools(memory: HippoMemory) -> dict[str, Any]:
    pytest.importorskip("llama_index.memory.hippo")
    from llama_index.memory.hippo import HippoToolSpec

    return {t.metadata.name: t for t in HippoToolSpec(memory, namespace=NAMESPACE).to_tool_list()}


def test_both_adapters_offer_the_same_tools(memory: HippoMemory) -> None:
    theirs = _llama_tools(memory)
    ours = {t.name: t for t in create_memory_tools(memory, namespace=NAMESPACE, writable=True)}
    assert list(ours) == list(theirs) == ["recall_memory", "recall_chain", "remember", "forget"]
    for name, tool in ours.items():
        other = theirs[name]
        # LlamaIndex's description is "signature\n" + the docstring, indentation kept.
        signature, _, docstring = other.metadata.description.partition("\n")
        assert signature.startswith(f"{name}(")
        assert _words(docstring) == _words(tool.description)
        assert inspect.cleandoc(docstring).splitlines()[0] == tool.description.splitlines()[0]
        their_args = other.metadata.get_parameters_dict()["properties"]
        our_args = tool.get_input_schema().model_json_schema()["properties"]
        assert list(our_args) == list(their_args)
        for arg, schema in our_args.items():
            assert schema["description"] == their_args[arg]["description"], (name, arg)


def test_both_adapters_reply_alike(memory: HippoMemory) -> None:
    theirs = _llama_tools(memory)
    ours = {t.name: t for t in create_memory_tools(memory, namespace=NAMESPACE, writable=True)}
    assert ours["recall_memory"].invoke({"query": "dog"}) == "No memories found."
    assert theirs["recall_memory"].call(query="dog").content == "No memories found."
    ours_reply = ours["remember"].invoke({"text": "Biscuit likes the beach."})
    memory_id = ours_reply.removeprefix("Remembered (id ").removesuffix(").")
    assert ours_reply == f"Remembered (id {memory_id})."
    their_reply = theirs["remember"].call(text="Pepper is a cat.").content
    assert their_reply.startswith("Remembered (id ") and their_reply.endswith(").")
    assert (
        ours["forget"].invoke({"memory_id": "nope"})
        == theirs["forget"].call(memory_id="nope").content
    )
    assert ours["forget"].invoke({"memory_id": memory_id}) == f"Forgot memory {memory_id}."


def test_the_texts_are_the_shared_ones(memory: HippoMemory) -> None:
    for tool in create_memory_tools(memory, namespace=NAMESPACE, writable=True):
        text = TOOLS[tool.name]
        assert tool.description == text.description
        args = tool.get_input_schema().model_json_schema()["properties"]
        assert {a: s["description"] for a, s in args.items()} == dict(text.arguments)


def test_a_recalled_id_is_what_forget_takes(memory: HippoMemory) -> None:
    theirs = _llama_tools(memory)
    ours = {t.name: t for t in create_memory_tools(memory, namespace=NAMESPACE, writable=True)}
    first = ours["remember"].invoke({"text": "Biscuit likes the beach."})
    second = theirs["remember"].call(text="Pepper is a cat who sleeps all day.").content
    for recall in (
        ours["recall_memory"].invoke({"query": "Biscuit beach"}),
        theirs["recall_memory"].call(query="Biscuit beach").content,
        ours["recall_chain"].invoke({"query": "Biscuit beach", "hops": 1}),
    ):
        assert "[id " in recall
    line = ours["recall_memory"].invoke({"query": "Pepper the cat"}).splitlines()[0]
    listed = line.removeprefix("- [id ").split(",")[0]
    assert f"Remembered (id {listed})." == second and listed not in first
    assert ours["forget"].invoke({"memory_id": listed}) == f"Forgot memory {listed}."
    assert theirs["recall_memory"].call(query="Pepper the cat").content.count("Pepper") == 0
