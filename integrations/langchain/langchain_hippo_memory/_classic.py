"""``HippoConversationMemory``: hippo-memory behind the classic ``BaseMemory`` interface.

Each ``save_context`` stores one exchange ("Human: ... / AI: ...") as one memory;
exchanges of the same ``session`` are linked, so multi-hop recall can walk a
conversation. ``load_memory_variables`` recalls the exchanges most relevant to
the new input.
"""

from __future__ import annotations

import uuid
from typing import Any

from hippo_memory import RecallResult
from hippo_memory.integration import MemoryBackendField, arecall_or_empty, recall_or_empty
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import Field

try:
    from langchain_classic.base_memory import BaseMemory
    from langchain_classic.memory.utils import get_prompt_input_key
except ImportError as exc:  # pragma: no cover - exercised without the extra
    from hippo_memory import MissingDependencyError

    raise MissingDependencyError(
        "HippoConversationMemory needs langchain-classic: "
        "pip install 'langchain-hippo-memory[classic]'"
    ) from exc

__all__ = ["HippoConversationMemory"]


class HippoConversationMemory(BaseMemory):
    """Conversation memory for classic LangChain chains, recalled by relevance.

    ``load_memory_variables`` returns ``{memory_key: text}`` (one "Human:/AI:" block
    per recalled exchange, most relevant first) or, with ``return_messages=True``, a
    list of ``HumanMessage``/``AIMessage`` pairs.

    Example:
        >>> from hippo_memory import HippoMemory, HashingEncoder
        >>> engine = HippoMemory(encoder=HashingEncoder())
        >>> convo = HippoConversationMemory(memory=engine)  # doctest: +SKIP
        >>> convo.save_context({"input": "My dog is Bo"}, {"output": "Nice!"})  # doctest: +SKIP
        >>> convo.load_memory_variables({"input": "my dog"})["history"]  # doctest: +SKIP
        'Human: My dog is Bo\\nAI: Nice!'
    """

    memory: MemoryBackendField = Field(
        exclude=True, description="The memory to read and write: an engine or a HippoClient."
    )
    namespace: tuple[str, ...] = Field(
        default=("conversation",), description="Where exchanges are stored and recalled."
    )
    k: int = Field(default=4, ge=1, description="Exchanges recalled per call.")
    memory_key: str = Field(default="history", description="Key of the recalled history.")
    input_key: str | None = Field(
        default=None, description="Input key holding the user message (inferred when None)."
    )
    output_key: str | None = Field(
        default=None, description="Output key holding the answer (inferred when None)."
    )
    return_messages: bool = Field(
        default=False, description="Return messages instead of one string."
    )
    session: str = Field(
        default_factory=lambda: f"conversation-{uuid.uuid4()}",
        description="Session id linking consecutive exchanges.",
    )
    human_prefix: str = Field(default="Human", description="Label of user turns.")
    ai_prefix: str = Field(default="AI", description="Label of assistant turns.")

    @property
    def memory_variables(self) -> list[str]:
        """The single key this memory adds to chain inputs."""
        return [self.memory_key]

    def _input(self, inputs: dict[str, Any]) -> str:
        key = self.input_key or get_prompt_input_key(inputs, self.memory_variables)
        return str(inputs[key])

    def _output(self, outputs: dict[str, Any]) -> str:
        if self.output_key is not None:
            return str(outputs[self.output_key])
        if len(outputs) != 1:
            raise ValueError(f"one output key expected, got {sorted(outputs)}; set output_key")
        return str(next(iter(outputs.values())))

    def _variables(self, result: RecallResult | None) -> dict[str, Any]:
        hits = list(result or ())
        if not self.return_messages:
            return {self.memory_key: "\n".join(hit.memory.text for hit in hits)}
        messages: list[BaseMessage] = []
        for hit in hits:
            meta = hit.memory.metadata
            messages.append(HumanMessage(content=str(meta.get("input", ""))))
            messages.append(AIMessage(content=str(meta.get("output", ""))))
        return {self.memory_key: messages}

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Recall the exchanges most relevant to the current input."""
        query = self._input(inputs)
        if not query.strip():
            return self._variables(None)
        result = recall_or_empty(self.memory, query, namespace=self.namespace, k=self.k)
        return self._variables(result)

    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Async twin of :meth:`load_memory_variables`."""
        query = self._input(inputs)
        if not query.strip():
            return self._variables(None)
        result = await arecall_or_empty(self.memory, query, namespace=self.namespace, k=self.k)
        return self._variables(result)

    def _exchange(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        user, answer = self._input(inputs), self._output(outputs)
        return {
            "text": f"{self.human_prefix}: {user}\n{self.ai_prefix}: {answer}",
            "namespace": self.namespace,
            "session": self.session,
            "metadata": {"input": user, "output": answer},
        }

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Store this exchange, linked to the previous one of the session."""
        self.memory.remember(**self._exchange(inputs, outputs))

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Async twin of :meth:`save_context`."""
        await self.memory.aremember(**self._exchange(inputs, outputs))

    def clear(self) -> None:
        """Forget every exchange stored under ``namespace``."""
        ids = [m.id for m in self.memory.list(self.namespace)]
        if ids:
            self.memory.forget(ids)
