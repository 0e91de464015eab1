"""``LLMCueAugmenter``: paraphrase cues written by any LlamaIndex LLM."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, ConfigDict, Field, field_validator
from llama_index.core.llms import LLM

from ._utils import one_line

__all__ = ["DEFAULT_PARAPHRASE_PROMPT", "LLMCueAugmenter", "parse_paraphrases"]

DEFAULT_PARAPHRASE_PROMPT = (
    "Write {n} short paraphrases of the text below: different words someone might use "
    "later to ask about it or refer to it (synonyms, the questions it answers). "
    "Reply with a JSON array of {n} strings and nothing else.\n\n"
    "Text: {text}"
)

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_BULLET = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}[.):]|\(\d{1,2}\))\s*")
_QUOTES = "\"'“”‘’`"


def parse_paraphrases(reply: str, *, n: int, original: str = "", max_chars: int = 300) -> list[str]:
    """Extract up to ``n`` paraphrases from an LLM reply.

    Accepts a JSON array of strings (possibly in a code fence or after a preamble)
    or one paraphrase per line, with or without bullets, numbers and quotes. Lines
    ending in ``:`` (preambles), duplicates and copies of ``original`` are dropped;
    long paraphrases are cut to ``max_chars``.

    Returns:
        The paraphrases in reply order; ``[]`` when none can be read.
    """
    text = _FENCE.sub("", reply.strip())
    parsed: Any = None
    start, end = text.find("["), text.rfind("]")
    if 0 <= start < end:
        try:
            parsed = json.loads(text[start : end + 1])
        except ValueError:
            parsed = None
    candidates: list[str] = []
    if isinstance(parsed, list):  # a JSON answer is taken at its word, strings only
        candidates = [item for item in parsed if isinstance(item, str)]
    else:
        for line in text.splitlines():
            line = _BULLET.sub("", line).strip()
            if line and not line.endswith(":") and line not in ("[", "]", "[]"):
                candidates.append(line.rstrip(","))
    seen = {one_line(original).lower()}
    out: list[str] = []
    for candidate in candidates:
        cleaned = one_line(candidate).strip(_QUOTES).strip()[:max_chars].strip()
        key = cleaned.lower()
        if cleaned and key not in seen:
            seen.add(key)
            out.append(cleaned)
        if len(out) == n:
            break
    return out


class LLMCueAugmenter(BaseModel):
    """A ``hippo_memory.CueAugmenter`` asking a LlamaIndex LLM for paraphrases.

    Each text gets one ``llm.complete`` call (up to ``max_workers`` at a time) and
    its paraphrases become extra cue variants, so a memory can be recalled by words
    it never used. A failed call or an unreadable reply gives that text no
    paraphrases and one ``RuntimeWarning`` per batch: a flaky LLM never blocks a
    write.

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
        description="Prompt template with '{n}' and '{text}' placeholders.",
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
        try:
            reply = self.llm.complete(self.prompt.format(n=self.n, text=text)).text
        except Exception as exc:  # any provider error: store the text without paraphrases
            return [], f"{type(exc).__name__}: {exc}"
        found = parse_paraphrases(reply or "", n=self.n, original=text, max_chars=self.max_chars)
        return (found, None) if found else ([], "no paraphrase could be read from the reply")

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
