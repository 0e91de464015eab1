"""``ChatModelCueAugmenter``: paraphrase cues written by any LangChain chat model."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from hippo_memory.integration import fill_prompt, parse_paraphrases
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage

__all__ = ["DEFAULT_AUGMENT_PROMPT", "ChatModelCueAugmenter"]

logger = logging.getLogger(__name__)

DEFAULT_AUGMENT_PROMPT = (
    "Below is a memory an assistant will store. Write {n} short, different ways "
    "someone might later refer to it or ask about it: paraphrases and questions it "
    "answers. Keep names, dates and numbers. Reply with a JSON array of {n} strings "
    "and nothing else.\n\nMemory:\n{text}"
)


def _text(message: Any) -> str:
    if isinstance(message, BaseMessage):
        return str(message.text)
    return str(message)


class ChatModelCueAugmenter:
    """A ``hippo_memory.CueAugmenter`` asking a chat model for paraphrases.

    The engine calls :meth:`augment` once per write batch; the texts are sent to the
    model as one ``batch`` call. A text whose call fails or whose reply cannot be
    parsed gets no paraphrases, and a ``RuntimeWarning`` and a log warning (logger
    ``langchain_hippo_memory._augmenter``) say why; the memory is still stored under
    its automatic cues.

    Args:
        llm: Any LangChain chat model.
        n: Paraphrases requested per text.
        prompt: Template with ``{n}`` and ``{text}``; other braces (a JSON example)
            are kept as they are.
        max_concurrency: Parallel model calls per batch.

    Example:
        >>> augmenter = ChatModelCueAugmenter(llm, n=3)          # doctest: +SKIP
        >>> memory = HippoMemory("./mem", augmenter=augmenter)   # doctest: +SKIP
    """

    def __init__(
        self,
        llm: BaseChatModel,
        n: int = 3,
        *,
        prompt: str = DEFAULT_AUGMENT_PROMPT,
        max_concurrency: int = 4,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        if "{text}" not in prompt:
            raise ValueError("prompt must contain the '{text}' placeholder")
        self.llm = llm
        self.n = n
        self.prompt = prompt
        self.max_concurrency = max_concurrency

    def augment(self, texts: Sequence[str]) -> list[list[str]]:
        """Paraphrases for each text, in input order (``[]`` where the model failed)."""
        texts = list(texts)
        if not texts:
            return []
        prompts = [
            [HumanMessage(content=fill_prompt(self.prompt, n=self.n, text=text))] for text in texts
        ]
        try:
            replies: list[Any] = self.llm.batch(
                prompts,  # type: ignore[arg-type]
                config={"max_concurrency": self.max_concurrency},
                return_exceptions=True,
            )
        except Exception:  # some models ignore return_exceptions: isolate the failures
            replies = []
            for prompt in prompts:
                try:
                    replies.append(self.llm.invoke(prompt))
                except Exception as exc:  # any provider error means "no paraphrases"
                    replies.append(exc)
        out: list[list[str]] = []
        for text, reply in zip(texts, replies, strict=True):
            if isinstance(reply, Exception):
                self._warn(
                    "cue augmentation failed for one text, storing it without "
                    f"paraphrases: {reply!r}"
                )
                out.append([])
                continue
            paraphrases = parse_paraphrases(_text(reply), self.n, original=text)
            if not paraphrases:
                self._warn("cue augmentation reply had no usable paraphrases; storing without them")
            out.append(paraphrases)
        return out

    @staticmethod
    def _warn(message: str) -> None:
        # A warning may be filtered or shown once per place; the log records each text.
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def __repr__(self) -> str:
        return f"ChatModelCueAugmenter({type(self.llm).__name__}, n={self.n})"
