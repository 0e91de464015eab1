"""``ChatModelCueAugmenter``: paraphrase cues written by any LangChain chat model."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage

__all__ = ["DEFAULT_AUGMENT_PROMPT", "ChatModelCueAugmenter", "parse_paraphrases"]

DEFAULT_AUGMENT_PROMPT = (
    "Below is a memory an assistant will store. Write {n} short, different ways "
    "someone might later refer to it or ask about it: paraphrases and questions it "
    "answers. Keep names, dates and numbers. Reply with a JSON array of {n} strings "
    "and nothing else.\n\nMemory:\n{text}"
)

_BULLET = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}[.):]|\(?[a-zA-Z][.)])\s*")


def _text(message: Any) -> str:
    if isinstance(message, BaseMessage):
        return str(message.text)
    return str(message)


def parse_paraphrases(reply: str, n: int, original: str = "") -> list[str]:
    """Extract up to ``n`` paraphrases from a model reply.

    Accepts a JSON array (possibly inside a code fence or surrounded by prose), a
    JSON object holding one array, or a numbered / bulleted / one-per-line list.

    Args:
        reply: The model's text.
        n: Most paraphrases returned.
        original: The source text; an identical paraphrase is dropped.

    Returns:
        Distinct, non-empty strings (possibly fewer than ``n``).
    """
    candidates: list[Any] = []
    start, end = reply.find("["), reply.rfind("]")
    if 0 <= start < end:
        try:
            parsed = json.loads(reply[start : end + 1])
            if isinstance(parsed, list):
                candidates = parsed
        except ValueError:
            pass
    if not candidates:
        try:
            parsed = json.loads(reply.strip())
            if isinstance(parsed, dict):
                candidates = next((v for v in parsed.values() if isinstance(v, list)), [])
        except ValueError:
            pass
    if not candidates:
        lines = [line for line in reply.splitlines() if line.strip()]
        lines = [line for line in lines if not line.strip().startswith("```")]
        if lines and lines[0].rstrip().endswith(":"):
            lines = lines[1:]  # "Here are three paraphrases:"
        candidates = [_BULLET.sub("", line, count=1) for line in lines]
    seen = {original.strip().lower()}
    out: list[str] = []
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        text = candidate.strip().rstrip(",").strip().strip("\"'").strip()
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
        if len(out) == n:
            break
    return out


class ChatModelCueAugmenter:
    """A ``hippo_memory.CueAugmenter`` asking a chat model for paraphrases.

    The engine calls :meth:`augment` once per write batch; the texts are sent to the
    model as one ``batch`` call. A text whose call fails or whose reply cannot be
    parsed gets no paraphrases, and a ``RuntimeWarning`` says why; the memory is
    still stored under its automatic cues.

    Args:
        llm: Any LangChain chat model.
        n: Paraphrases requested per text.
        prompt: Template with ``{n}`` and ``{text}``.
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
            [HumanMessage(content=self.prompt.replace("{n}", str(self.n)).replace("{text}", t))]
            for t in texts
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
                warnings.warn(
                    f"cue augmentation failed for one text, storing it without "
                    f"paraphrases: {reply!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                out.append([])
                continue
            paraphrases = parse_paraphrases(_text(reply), self.n, text)
            if not paraphrases:
                warnings.warn(
                    "cue augmentation reply had no usable paraphrases; storing without them",
                    RuntimeWarning,
                    stacklevel=2,
                )
            out.append(paraphrases)
        return out

    def __repr__(self) -> str:
        return f"ChatModelCueAugmenter({type(self.llm).__name__}, n={self.n})"
