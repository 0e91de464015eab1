"""``LLMCueAugmenter``: paraphrase cues written by any LlamaIndex LLM."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, ConfigDict, Field, field_validator
from llama_index.core.llms import LLM

from hippo_memory.integration import fill_prompt, parse_paraphrases

# parse_paraphrases is re-exported from hippo_memory.integration, where it lives.
__all__ = ["DEFAULT_PARAPHRASE_PROMPT", "LLMCueAugmenter", "parse_paraphrases"]

logger = logging.getLogger(__name__)

DEFAULT_PARAPHRASE_PROMPT = (
    "Write {n} short paraphrases of the text below: different words someone might use "
    "later to ask about it or refer to it (synonyms, the questions it answers). "
    "Reply with a JSON array of {n} strings and nothing else.\n\n"
    "Text: {text}"
)


class LLMCueAugmenter(BaseModel):
    """A ``hippo_memory.CueAugmenter`` asking a LlamaIndex LLM for paraphrases.

    Each text gets one ``llm.complete`` call (up to ``max_workers`` at a time) and
    its paraphrases become extra cue variants, so a memory can be recalled by words
    it never used. A failed call or an unreadable reply gives that text no
    paraphrases, a log warning (logger ``llama_index.memory.hippo.cues``) and one
    ``RuntimeWarning`` per batch: a flaky LLM never blocks a write, and never
    silently. The prompt is filled by replacing ``{n}`` and ``{text}`` only, so it
    may contain a JSON example with braces.

    Args:
        llm: Any LlamaIndex LLM.
        n: Paraphrases wanted per text.

    Example:
        >>> from hippo_memory import HashingEncoder, HippoMemory
        >>> from llama_index.core.llms import MockLLM
        >>> augmenter = LLMCueAugmenter(MockLLM(), n=3)
        >>> engine = HippoMemory(encoder=HashingEncoder(), augmenter=augmenter)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: LLM = Field(description="The LLM that writes the paraphrases.")
    n: int = Field(default=3, ge=1, le=16, description="Paraphrases wanted per text.")
    prompt: str = Field(
        default=DEFAULT_PARAPHRASE_PROMPT,
        description="Prompt template with '{n}' and '{text}' placeholders; other braces are kept.",
    )
    max_chars: int = Field(default=300, ge=16, description="Longest paraphrase kept (characters).")
    max_workers: int = Field(default=4, ge=1, le=64, description="Concurrent LLM calls per batch.")

    def __init__(self, llm: LLM | None = None, n: int = 3, **data: Any) -> None:
        if llm is not None:
            data["llm"] = llm
        super().__init__(n=n, **data)

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if "{text}" not in value:
            raise ValueError("prompt must contain the '{text}' placeholder")
        return value

    def _paraphrase(self, text: str) -> tuple[list[str], str | None]:
        prompt = fill_prompt(self.prompt, n=self.n, text=text)
        try:
            reply = self.llm.complete(prompt).text
        except Exception as exc:  # any provider error: store the text without paraphrases
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("LLMCueAugmenter: the LLM call failed (%s); storing the text without paraphrases", error)
            return [], error
        found = parse_paraphrases(reply or "", n=self.n, original=text, max_chars=self.max_chars)
        if not found:
            logger.warning("LLMCueAugmenter: no paraphrase could be read from the reply %r", (reply or "")[:200])
            return [], "no paraphrase could be read from the reply"
        return found, None

    def augment(self, texts: Sequence[str]) -> list[list[str]]:
        """Paraphrases for each text, in input order (``[]`` for a text whose call failed)."""
        if not texts:
            return []
        workers = min(self.max_workers, len(texts))
        if workers == 1:
            results = [self._paraphrase(text) for text in texts]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(self._paraphrase, texts))
        errors = [error for _, error in results if error is not None]
        if errors:
            warnings.warn(
                f"LLMCueAugmenter: {len(errors)} of {len(texts)} texts got no paraphrases "
                f"({errors[0]}); they are stored with their automatic cues only",
                RuntimeWarning,
                stacklevel=2,
            )
        return [found for found, _ in results]
