"""A LlamaIndex agent answering a multi-hop question from hippo-memory, offline.

Run:
    pip install -e . -e integrations/llama_index
    python examples/llamaindex_agent.py

The memory holds a conversation whose facts connect only through each other
(Caroline -> her puppy Biscuit -> its hip problem -> the vet). A single-hop
search for "Who treats the puppy Caroline adopted?" finds the adoption, not the
vet; the ``recall_chain`` tool follows the Hebbian associations hop by hop.

No model and no network are needed: the encoder is ``HashingEncoder`` and the LLM
is ``ScriptedToolLLM`` below, a stand-in for a function-calling model that calls
``recall_chain`` with the user's question and then answers with what the tool
returned. For real use, open ``HippoMemory("./memory")`` (the default encoder)
and pass any LlamaIndex function-calling LLM instead.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent, ToolCall, ToolCallResult
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.tools import BaseTool
from llama_index.memory.hippo import create_chain_tool

from hippo_memory import HashingEncoder, HippoMemory

NAMESPACE = ("users", "caroline")
QUESTION = "Who treats the puppy Caroline adopted?"
CONVERSATIONS = {
    "2024-05-02": [
        "Caroline adopted a puppy named Biscuit from the shelter.",
        "Biscuit was diagnosed with a hip problem last spring.",
        "The vet who treats that hip problem is Dr. Okafor in Porto.",
    ],
    "2024-06-11": [
        "Caroline started a pottery class on Tuesday evenings.",
        "Her pottery teacher used to work in a bakery in Lisbon.",
    ],
}


class ScriptedToolLLM(FunctionCallingLLM):
    """A scripted function-calling LLM: one tool call, then an answer from its result.

    When the latest message is a user question it calls ``tool_name`` with
    ``{"query": question}``; when the latest message is a tool result it answers
    with that result. Enough to drive ``FunctionAgent`` without a model.
    """

    tool_name: str = "recall_chain"

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex serialisation."""
        return "ScriptedToolLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """A chat model that supports function calling."""
        return LLMMetadata(model_name="scripted-tool-llm", is_chat_model=True, is_function_calling_model=True)

    def _reply(self, messages: Sequence[ChatMessage]) -> ChatMessage:
        last = messages[-1]
        if last.role == MessageRole.TOOL:
            return ChatMessage(role=MessageRole.ASSISTANT, content=f"From memory:\n{last.content}")
        question = next((m.content for m in reversed(messages) if m.role == MessageRole.USER and m.content), "")
        call = ToolCallBlock(
            tool_call_id=f"call_{uuid.uuid4().hex[:12]}",
            tool_name=self.tool_name,
            tool_kwargs={"query": question},
        )
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Reply to the conversation (a tool call or the final answer)."""
        message = self._reply(messages)
        return ChatResponse(message=message, delta=message.content or "")

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async twin of :meth:`chat`."""
        message = self._reply(messages)
        return ChatResponse(message=message, delta=message.content or "")

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """The whole reply as a single chunk."""
        message = self._reply(messages)

        def gen() -> Generator[ChatResponse, None, None]:
            yield ChatResponse(message=message, delta=message.content or "")

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        """Async twin of :meth:`stream_chat` (what ``FunctionAgent`` calls)."""
        message = self._reply(messages)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield ChatResponse(message=message, delta=message.content or "")

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Echo the prompt (completion is not used by the agent)."""
        return CompletionResponse(text=prompt)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Async twin of :meth:`complete`."""
        return CompletionResponse(text=prompt)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """The echoed prompt as a single chunk."""

        def gen() -> Generator[CompletionResponse, None, None]:
            yield CompletionResponse(text=prompt, delta=prompt)

        return gen()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        """Async twin of :meth:`stream_complete`."""

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            yield CompletionResponse(text=prompt, delta=prompt)

        return gen()

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        return {"messages": messages}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The tool calls of a reply, read from its ``ToolCallBlock``s."""
        calls = [block for block in response.message.blocks if isinstance(block, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError("the reply holds no tool call")
        return [
            ToolSelection(
                tool_id=call.tool_call_id or "",
                tool_name=call.tool_name,
                tool_kwargs=call.tool_kwargs
                if isinstance(call.tool_kwargs, dict)
                else json.loads(call.tool_kwargs or "{}"),
            )
            for call in calls
        ]


async def main(question: str = QUESTION) -> str:
    """Fill a memory and let the agent answer ``question`` through the chain tool."""
    memory = HippoMemory(encoder=HashingEncoder())  # in RAM, no model download
    try:
        for session, texts in CONVERSATIONS.items():
            # One session per conversation: consecutive memories get linked.
            memory.remember_many(texts, namespace=NAMESPACE, session=session, timestamp=session)
        single = memory.recall(question, namespace=NAMESPACE, k=1)[0].memory.text
        print(f"Single-hop recall alone finds: {single}\n")
        agent = FunctionAgent(
            tools=[create_chain_tool(memory, namespace=NAMESPACE, hops=2)],
            llm=ScriptedToolLLM(),
            system_prompt="Answer from memory; use recall_chain for questions that connect facts.",
        )
        handler = agent.run(user_msg=question)
        async for event in handler.stream_events():
            if isinstance(event, ToolCallResult):
                print(f"<- {event.tool_name} returned:\n{event.tool_output.content}\n")
            elif isinstance(event, ToolCall):
                print(f"-> agent calls {event.tool_name}({event.tool_kwargs})")
        response = await handler
        answer = str(response)
        print(f"Agent: {answer}")
        return answer
    finally:
        memory.close()


if __name__ == "__main__":
    asyncio.run(main())
