"""Cue augmentation: the variants a memory is stored under.

Without any LLM each memory gets its own text, the sentences of a long text, the
text joined with its conversational predecessor, and its key phrases. A
:class:`CueAugmenter` (for example an LLM asked for paraphrases) can add more.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._types import Cue

__all__ = [
    "CueAugmenter",
    "asks_question",
    "build_cues",
    "key_phrases",
    "split_sentences",
]


@runtime_checkable
class CueAugmenter(Protocol):
    """Adds cue variants, typically paraphrases written by an LLM.

    Implementations must be deterministic enough for their use and may be slow; the
    engine calls them once per write batch, never at recall time.
    """

    def augment(self, texts: Sequence[str]) -> Sequence[Sequence[str]]:
        """Return extra cue texts for each input text (same length and order)."""
        ...


_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
    i'm i've if in into is isn't it it's its itself just let's like me more most mustn't my myself
    no nor not now of off on once only or other ought our ours ourselves out over own really same
    shan't she she'd she'll she's should shouldn't so some such than that that's the their theirs
    them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up us very was wasn't we we'd we'll we're we've were weren't what
    what's when when's where where's which while who who's whom why why's will with won't would
    wouldn't yeah yes you you'd you'll you're you've your yours yourself yourselves also got get
    gets getting go going gone went oh ok okay well thanks thank hey hi hello lot lots much many
    one thing things something anything really sure maybe actually pretty quite yet still even
    though since via per etc""".split()
)


def split_sentences(text: str, *, min_chars: int = 16) -> list[str]:
    """Split text into sentences on terminal punctuation followed by a capital.

    Args:
        text: Any text.
        min_chars: Fragments shorter than this are merged into the previous one.

    Returns:
        The sentences in order; ``[text]`` when there is only one.
    """
    parts = [p.strip() for p in _SENTENCE.split(text.strip()) if p.strip()]
    merged: list[str] = []
    for part in parts:
        if merged and len(part) < min_chars:
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return merged or [text.strip()]


_TRAILING_ATTACHMENT = re.compile(r"(\s*\[[^\[\]]*\])+\s*$")


def asks_question(text: str, *, tail_chars: int = 100) -> bool:
    """Whether a conversational turn ends by asking something.

    A turn that asks is the first half of an adjacency pair: the next turn of the
    conversation answers it, so the engine links the two more strongly (see
    ``HippoConfig.answer_strength``).

    Args:
        text: A memory's text.
        tail_chars: How far from the end a question mark may be (a turn often asks,
            then adds a short remark). Bracketed attachments at the end
            (``[image: ...]``) are ignored.

    Returns:
        ``True`` when a ``?`` occurs in the last ``tail_chars`` characters.
    """
    body = _TRAILING_ATTACHMENT.sub("", text).rstrip()
    return "?" in body[-tail_chars:]


def key_phrases(text: str, *, limit: int = 6) -> list[str]:
    """Extract key phrases with RAKE (Rose et al., 2010): runs of content words scored
    by word degree over frequency.

    Args:
        text: Any text.
        limit: Most phrases returned.

    Returns:
        Lower-cased phrases, best first, without duplicates.
    """
    phrases: list[list[str]] = []
    current: list[str] = []
    for token in re.findall(r"[A-Za-z0-9][A-Za-z0-9'\-]*|[^\sA-Za-z0-9]", text):
        word = token.lower()
        if not _WORD.fullmatch(token) or word in _STOPWORDS or len(word) < 2:
            if current:
                phrases.append(current)
                current = []
            continue
        current.append(word)
        if len(current) == 4:
            phrases.append(current)
            current = []
    if current:
        phrases.append(current)
    if not phrases:
        return []
    frequency: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for phrase in phrases:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    scored: dict[str, float] = {}
    for phrase in phrases:
        key = " ".join(phrase)
        score = sum(degree[w] / frequency[w] for w in phrase)
        scored[key] = max(scored.get(key, 0.0), score)
    ranked = sorted(scored.items(), key=lambda item: (-item[1], item[0]))
    return [phrase for phrase, _ in ranked[:limit]]


def build_cues(
    text: str,
    *,
    previous: str | None = None,
    explicit: Sequence[str] = (),
    paraphrases: Sequence[str] = (),
    sentences: bool = True,
    context: bool = True,
    keyphrases: bool = True,
    max_cues: int = 8,
    context_max_chars: int | None = None,
) -> list[Cue]:
    """Assemble a memory's cue variants, without duplicates.

    The text itself always comes first and explicit cues are always kept; the
    automatic variants fill the remaining ``max_cues`` slots in the order
    paraphrases, context, key phrases, sentences (longest first).

    Args:
        text: The memory's content.
        previous: The preceding memory of the same conversation, if any.
        explicit: Cues given by the caller.
        paraphrases: Cues written by a :class:`CueAugmenter`.
        sentences: Add sentence splits of multi-sentence texts.
        context: Add ``previous`` joined with ``text``.
        context_max_chars: Only when ``text`` is at most this long (``None``: always).
        keyphrases: Add the key phrases joined by commas.
        max_cues: Upper bound on automatic variants plus the text.

    Returns:
        The cues, the ``text`` cue first.
    """
    cues = [Cue(text, "text")]
    seen = {text.strip().lower()}

    def push(candidate: str, kind: str) -> None:
        key = candidate.strip().lower()
        if key and key not in seen:
            seen.add(key)
            cues.append(Cue(candidate.strip(), kind))  # type: ignore[arg-type]

    for cue in explicit:
        push(cue, "explicit")
    budget = max_cues + (len(cues) - 1)
    automatic: list[tuple[str, str]] = [(p, "paraphrase") for p in paraphrases]
    if context and previous and (context_max_chars is None or len(text) <= context_max_chars):
        automatic.append((f"{previous[-400:]}\n{text}", "context"))
    if keyphrases:
        phrases = key_phrases(text)
        if len(phrases) >= 2:
            automatic.append((", ".join(phrases), "keyphrase"))
    if sentences:
        parts = split_sentences(text)
        if len(parts) > 1:
            automatic.extend((p, "sentence") for p in sorted(parts, key=len, reverse=True))
    for candidate, kind in automatic:
        if len(cues) >= budget:
            break
        push(candidate, kind)
    return cues
