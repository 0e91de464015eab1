"""Shared fixtures: a deterministic encoder, fresh memories, a scripted chat model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hippo_memory import HashingEncoder, HippoMemory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

from langchain_hippo_memory import HippoStore


class ScriptedChatModel(GenericFakeChatModel):
    """A fake tool-calling chat model: replies from a script, records every input."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


@pytest.fixture(scope="session")
def encoder() -> HashingEncoder:
    return HashingEncoder(dim=256)


@pytest.fixture
def memory(encoder: HashingEncoder) -> Iterator[HippoMemory]:
    mem = HippoMemory(encoder=encoder)
    yield mem
    mem.close()


@pytest.fixture
def store(memory: HippoMemory) -> HippoStore:
    return HippoStore(memory)


@pytest.fixture
def scripted_model() -> type[ScriptedChatModel]:
    return ScriptedChatModel
