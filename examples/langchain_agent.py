"""A LangChain agent with hippo-memory: recall tools, multi-hop chains, middleware.

The agent gets two tools, ``recall_memory`` (single hop) and ``recall_chain``
(a chain of linked memories, hop by hop), and ``HippoMemoryMiddleware``, which puts
relevant memories into the system message before each model call and stores every
exchange afterwards, linked by thread for later chains.

Offline (no API key, no network)::

    python examples/langchain_agent.py                     # default encoder, scripted model
    python examples/langchain_agent.py --offline-encoder   # hashing encoder: no model at all

With a real chat model (any provider ``langchain.chat_models.init_chat_model`` knows)::

    pip install langchain-openai
    OPENAI_API_KEY=... python examples/langchain_agent.py --model openai:gpt-4o-mini
    HIPPO_EXAMPLE_MODEL=anthropic:claude-3-5-haiku-latest python examples/langchain_agent.py

``--path DIR`` keeps the memory on disk between runs.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_hippo_memory import HippoMemoryMiddleware, create_memory_tools
from langgraph.checkpoint.memory import InMemorySaver

from hippo_memory import HashingEncoder, HippoMemory

NAMESPACE = ("users", "{user_id}")
USER = "caroline"

PAST_CONVERSATIONS = {
    "2024-05-02": [
        "I finally adopted a golden retriever! His name is Biscuit.",
        "Biscuit already chewed through my red leather sofa.",
        "I replaced the sofa with a blue velvet couch from a little shop in Porto.",
        "The Porto shop belongs to Rui, the uncle of my friend Dana.",
    ],
    "2024-06-10": [
        "I painted a sunrise over the lake for my sister's birthday.",
        "My sister loved the painting and hung it in her kitchen in Lisbon.",
    ],
}

QUESTIONS = [
    "Who owns the shop where I bought my new couch?",
    "Where did the sunrise painting end up?",
]

SYSTEM_PROMPT = (
    "You are a helpful assistant with a long-term memory of earlier conversations with "
    "the user. Use recall_chain for questions that need several linked facts and "
    "recall_memory for single facts. Answer briefly from what you recall."
)


class OfflineMemoryModel(BaseChatModel):
    """A scripted tool-calling model so the example runs without any API.

    To a user message it answers with a ``recall_chain`` call; to the tool's
    result it answers with the chain it received. It does not reason: the point is
    to show the memory, not the model.
    """

    hops: int = 3

    @property
    def _llm_type(self) -> str:
        return "offline-memory-demo"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> OfflineMemoryModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        last = messages[-1]
        if isinstance(last, HumanMessage):
            call = {
                "name": "recall_chain",
                "args": {"query": last.text, "hops": self.hops},
                "id": f"call-{uuid.uuid4().hex[:8]}",
            }
            reply = AIMessage(content="", tool_calls=[call])
        elif isinstance(last, ToolMessage):
            hops = [line.split("] ", 1)[-1] for line in last.text.splitlines() if line.startswith("hop ")]
            if hops:
                reply = AIMessage(content="Following my memories: " + " -> ".join(hops))
            else:
                reply = AIMessage(content="I don't remember anything about that.")
        else:
            reply = AIMessage(content="How can I help?")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def load_model(name: str | None) -> BaseChatModel:
    """The chat model named on the command line or in HIPPO_EXAMPLE_MODEL, else the offline one."""
    if not name:
        return OfflineMemoryModel()
    from langchain.chat_models import init_chat_model

    return init_chat_model(name)


def seed(memory: HippoMemory) -> None:
    """Store two past conversations (once), each a session whose messages are linked."""
    namespace = ("users", USER)
    if memory.count(namespace):
        return
    for day, messages in PAST_CONVERSATIONS.items():
        memory.remember_many(
            [{"text": text, "metadata": {"role": "user"}, "timestamp": day} for text in messages],
            namespace=namespace,
            session=f"chat-{day}",
        )


def show(messages: Sequence[BaseMessage]) -> None:
    for message in messages:
        if isinstance(message, HumanMessage):
            print(f"\nuser> {message.text}")
        elif isinstance(message, AIMessage) and message.tool_calls:
            for call in message.tool_calls:
                print(f"  [tool call] {call['name']}({call['args']})")
        elif isinstance(message, ToolMessage):
            for line in message.text.splitlines():
                print(f"  [{message.name}] {line}")
        elif isinstance(message, AIMessage):
            print(f"assistant> {message.text}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=os.environ.get("HIPPO_EXAMPLE_MODEL"),
        help="chat model for init_chat_model, e.g. openai:gpt-4o-mini (default: offline script)",
    )
    parser.add_argument(
        "--offline-encoder",
        action="store_true",
        help="use the hashing test encoder instead of the default sentence model",
    )
    parser.add_argument("--path", help="memory directory (default: in memory)")
    parser.add_argument("--question", action="append", help="ask this instead of the demo questions")
    args = parser.parse_args(argv)

    encoder = HashingEncoder() if args.offline_encoder else None
    with HippoMemory(args.path, encoder=encoder) as memory:
        seed(memory)
        agent = create_agent(
            load_model(args.model),
            tools=create_memory_tools(memory, namespace=NAMESPACE),
            system_prompt=SYSTEM_PROMPT,
            middleware=[HippoMemoryMiddleware(memory, namespace=NAMESPACE, k=3)],
            checkpointer=InMemorySaver(),
        )
        config: RunnableConfig = {"configurable": {"thread_id": f"demo-{uuid.uuid4()}", "user_id": USER}}
        for question in args.question or QUESTIONS:
            before = len(agent.get_state(config).values.get("messages", []))
            result = agent.invoke({"messages": [HumanMessage(question)]}, config)
            show(result["messages"][before:])
        print(f"\n{memory.count(('users', USER))} memories stored for {USER!r}.")


if __name__ == "__main__":
    main()
