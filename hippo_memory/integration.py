"""Support for framework adapters (LangChain, LlamaIndex, ...): the parts they share.

An adapter should contain only framework glue; what does not depend on the
framework lives here, once:

* **Engine or client.** :class:`MemoryBackend` is what an adapter calls, and both
  :class:`~hippo_memory.HippoMemory` and :class:`~hippo_memory.HippoClient` have it;
  :func:`as_memory_backend` (or a :data:`MemoryBackendField` pydantic field) checks
  what an adapter was given and names the accepted types when it is neither.
* **Missing namespaces are empty.** The engine raises
  :class:`~hippo_memory.NamespaceNotFoundError` when nothing is stored under a
  namespace; for an agent that simply means "no memories yet".
  :func:`recall_or_empty` and :func:`recall_chain_or_empty` (and their async
  twins) return an empty result instead.
* **Text for models.** :func:`format_hits` renders hits or memories one line each
  (with their ids for tools, so a model can forget one), :func:`format_chain`
  renders a chain hop by hop and says why it stopped (:data:`STOP_REASONS`);
  :data:`NO_MEMORIES` is what a tool answers when nothing was found.
* **One set of tools.** :data:`TOOLS` holds the name, description and argument
  descriptions of ``recall_memory``, ``recall_chain``, ``remember`` and ``forget``,
  and :func:`format_remembered` / :func:`format_forgotten` their replies, so a
  model reads the same tools whichever adapter built them.
* **Paraphrase replies.** :func:`parse_paraphrases` reads the paraphrases a model
  wrote for a cue augmenter, whatever shape the reply has.
* **Prompts.** :func:`fill_prompt` fills ``{placeholders}`` without ``str.format``,
  so prompts may hold JSON examples with braces.

JSON for programs comes from the records themselves: :meth:`Memory.to_dict`,
:meth:`RecallHit.to_dict`, :meth:`ChainHop.to_dict` and :meth:`Chain.to_dict`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

# The package's public names, not its private modules: the engine's internals may
# move, and this module is imported only after the package has initialised.
from hippo_memory import (
    Chain,
    InvalidInputError,
    Memory,
    NamespaceNotFoundError,
    RecallHit,
    RecallResult,
    validate_namespace,
)
from hippo_memory._memory_backend import (
    ACCEPTED_MEMORIES,
    MemoryBackend,
    MemoryBackendField,
    NotAMemoryBackendError,
    as_memory_backend,
)

__all__ = [
    "ACCEPTED_MEMORIES",
    "NO_MEMORIES",
    "STOP_REASONS",
    "TOOLS",
    "MemoryBackend",
    "MemoryBackendField",
    "NotAMemoryBackendError",
    "StopReason",
    "ToolText",
    "arecall_chain_or_empty",
    "arecall_or_empty",
    "as_memory_backend",
    "fill_prompt",
    "format_chain",
    "format_forgotten",
    "format_hit",
    "format_hits",
    "format_remembered",
    "parse_paraphrases",
    "recall_chain_or_empty",
    "recall_or_empty",
]

NO_MEMORIES: Final = "No memories found."
"""What a recall tool answers when nothing was found."""

_EMPTY_BACKEND: Final = "none"


class StopReason(NamedTuple):
    """How a chain's ``stop_reason`` reads to a model.

    Attributes:
        label: A few words for the chain's header, e.g. ``"hop limit reached"``.
        explanation: A sentence for its last line, saying what the stop means.
    """

    label: str
    explanation: str


STOP_REASONS: Final[Mapping[str, StopReason]] = {
    "hops": StopReason("hop limit reached", "the requested number of hops was followed; more associations may exist"),
    "faded": StopReason("association too weak", "the next association was too weak to follow"),
    "no_link": StopReason("no further association", "the last memory has no outgoing association"),
    "no_start": StopReason("nothing recalled", "no memory matched the query"),
}
"""Every :attr:`Chain.stop_reason`, as a model should read it."""


class ToolText(NamedTuple):
    """What a model reads of one memory tool, the same in every adapter.

    Attributes:
        name: The tool's name.
        description: Its description: the first line says what it does, the rest
            when to use it.
        arguments: Argument name -> description, in the order of the signature.
    """

    name: str
    description: str
    arguments: Mapping[str, str]


TOOLS: Final[Mapping[str, ToolText]] = {
    "recall_memory": ToolText(
        "recall_memory",
        "Recall the stored memories most relevant to a query, best first.\n\n"
        "Each line starts with the memory's id, which `forget` takes.",
        {
            "query": "What to recall: a question or a partial cue.",
            "k": "How many memories to return; omit for the default.",
        },
    ),
    "recall_chain": ToolText(
        "recall_chain",
        "Multi-hop recall: the memory best matching the query, then its associations.\n\n"
        "Follows the associations hop by hop (what came next, what it led to); use it "
        "for questions that need several connected facts.",
        {
            "query": "A question or cue for the first memory of the chain.",
            "hops": "How many associations to follow; omit for the default.",
        },
    ),
    "remember": ToolText(
        "remember",
        "Store a fact in long-term memory so that it can be recalled later.",
        {"text": "The fact to remember, as a full sentence."},
    ),
    "forget": ToolText(
        "forget",
        "Forget one stored memory, given its id (as `remember` replied or a recall listed it).\n\n"
        "Use it when the user asks to forget something or a remembered fact turned out wrong.",
        {"memory_id": "The id of the memory to forget, as `remember` replied or a recall listed it."},
    ),
}
"""The four memory tools as a model reads them, keyed by name; adapters use these texts verbatim."""


def format_remembered(memory_id: str) -> str:
    """The ``remember`` tool's reply: ``"Remembered (id ...)."``."""
    return f"Remembered (id {memory_id})."


def format_forgotten(memory_id: str, found: bool) -> str:
    """The ``forget`` tool's reply, saying whether the memory was there to forget."""
    return f"Forgot memory {memory_id}." if found else f"No memory with id {memory_id} to forget."


# ---------------------------------------------------------------------- missing namespace = empty
def recall_or_empty(
    memory: MemoryBackend,
    query: str,
    /,
    *,
    namespace: Sequence[str] | None = None,
    k: int = 5,
    filter: Mapping[str, Any] | None = None,
    since: datetime | float | str | None = None,
    until: datetime | float | str | None = None,
    include_superseded: bool = False,
    min_similarity: float | None = None,
) -> RecallResult:
    """:meth:`HippoMemory.recall`, with a namespace holding nothing read as no hits.

    Args:
        memory: The engine or a client.
        query: A question or partial cue.
        namespace: Search this namespace and those below it; ``None`` for all.
        k: Memories wanted.
        filter: Metadata conditions.
        since: Only memories whose ``timestamp`` is at or after this.
        until: Only memories whose ``timestamp`` is at or before this.
        include_superseded: Also return memories replaced by a newer version.
        min_similarity: Relevance floor on the best cue's cosine similarity.

    Returns:
        The engine's result; when nothing is stored under ``namespace``, an empty
        result (no hits, ``n_candidates`` 0, ``backend`` ``"none"``).

    Raises:
        InvalidNamespaceError: ``namespace`` is malformed (a malformed namespace is
            a bug, not an empty one).
        EmptyTextError, TextTooLongError, InvalidFilterError, InvalidInputError:
            as :meth:`HippoMemory.recall`.
    """
    try:
        return memory.recall(
            query,
            namespace=namespace,
            k=k,
            filter=filter,
            since=since,
            until=until,
            include_superseded=include_superseded,
            min_similarity=min_similarity,
        )
    except NamespaceNotFoundError:
        prefix = None if namespace is None else validate_namespace(namespace)
        return RecallResult(query, prefix, (), 0, _EMPTY_BACKEND)


async def arecall_or_empty(
    memory: MemoryBackend,
    query: str,
    /,
    *,
    namespace: Sequence[str] | None = None,
    k: int = 5,
    filter: Mapping[str, Any] | None = None,
    since: datetime | float | str | None = None,
    until: datetime | float | str | None = None,
    include_superseded: bool = False,
    min_similarity: float | None = None,
) -> RecallResult:
    """Async twin of :func:`recall_or_empty` (runs in a worker thread)."""
    return await asyncio.to_thread(
        recall_or_empty,
        memory,
        query,
        namespace=namespace,
        k=k,
        filter=filter,
        since=since,
        until=until,
        include_superseded=include_superseded,
        min_similarity=min_similarity,
    )


def recall_chain_or_empty(
    memory: MemoryBackend,
    query: str,
    /,
    *,
    hops: int = 3,
    namespace: Sequence[str] | None = None,
    min_strength: float | None = None,
    filter: Mapping[str, Any] | None = None,
) -> Chain:
    """:meth:`HippoMemory.recall_chain`, with a namespace holding nothing read as no chain.

    Args:
        memory: The engine or a client.
        query: A question or cue for the first memory.
        hops: Associations to follow after the first memory.
        namespace: Restrict every hop to this namespace and below.
        min_strength: Stop when an association is weaker (engine default if ``None``).
        filter: Metadata conditions for the starting memory.

    Returns:
        The engine's chain; when nothing is stored under ``namespace``, an empty
        chain whose ``stop_reason`` is ``"no_start"`` (as when nothing matches).
    """
    try:
        return memory.recall_chain(query, hops=hops, namespace=namespace, min_strength=min_strength, filter=filter)
    except NamespaceNotFoundError:
        return Chain(query, (), "no_start")


async def arecall_chain_or_empty(
    memory: MemoryBackend,
    query: str,
    /,
    *,
    hops: int = 3,
    namespace: Sequence[str] | None = None,
    min_strength: float | None = None,
    filter: Mapping[str, Any] | None = None,
) -> Chain:
    """Async twin of :func:`recall_chain_or_empty` (runs in a worker thread)."""
    return await asyncio.to_thread(
        recall_chain_or_empty,
        memory,
        query,
        hops=hops,
        namespace=namespace,
        min_strength=min_strength,
        filter=filter,
    )


# ---------------------------------------------------------------------- text for models
def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tags(memory: Memory, score: float | None, ids: bool = False) -> str:
    when = (memory.timestamp or memory.created_at).strftime("%Y-%m-%d")
    role = memory.metadata.get("role")
    tags = [f"id {memory.id}", when] if ids else [when]
    if isinstance(role, str) and role:
        tags.append(role)
    if score is not None:
        tags.append(f"score {score:.2f}")
    return ", ".join(tags)


def format_hit(hit: RecallHit | Memory, *, ids: bool = False) -> str:
    """One hit (or memory) as one line: ``- [2024-05-02, user, score 0.93] text``.

    The date is the memory's ``timestamp`` (else when it was stored), the role its
    ``metadata["role"]`` when there is one, the score only for a :class:`RecallHit`;
    newlines in the text are folded, so one memory is always one line. With ``ids``
    the line starts with the memory's id (``- [id m-42, 2024-05-02, ...]``), for a
    tool whose model may forget or update the memory by id.
    """
    if isinstance(hit, RecallHit):
        memory, score = hit.memory, hit.score
    else:
        memory, score = hit, None
    return f"- [{_tags(memory, score, ids)}] {_one_line(memory.text)}"


def format_hits(hits: Iterable[RecallHit | Memory], *, empty: str = "", ids: bool = False) -> str:
    """Hits (or memories) one line each, in the given order (best first).

    Args:
        hits: A :class:`RecallResult`, hits or memories.
        empty: Returned when there is nothing, e.g. :data:`NO_MEMORIES` for a tool.
        ids: Start each line with the memory's id (tools: so a model can name a
            memory to ``forget``); off for prompt context, where ids only cost tokens.

    Returns:
        One :func:`format_hit` line per item, so dropping trailing lines drops the
        lowest-ranked memories.
    """
    lines = [format_hit(hit, ids=ids) for hit in hits]
    return "\n".join(lines) if lines else empty


def format_chain(chain: Chain, *, ids: bool = False) -> str:
    """A chain hop by hop, for a model: a header, one line per hop, why it stopped.

    With ``ids`` each hop's tags start with its memory's id, as in :func:`format_hit`.

    Example output::

        Association chain for 'Who treats the puppy?' (3 memories; stopped: hop limit reached):
        hop 0 (recalled from the query, score 0.93) [2024-05-02] Caroline adopted a puppy.
        hop 1 (associated with the previous hop, score 0.61) [2024-05-02] The puppy has a hip problem.
        hop 2 (associated with the previous hop, score 0.58) [2024-05-02] Dr. Okafor treats it.
        Stopped: the requested number of hops was followed; more associations may exist.

    Returns:
        :data:`NO_MEMORIES` when the chain is empty.
    """
    if not chain.hops:
        return NO_MEMORIES
    reason = STOP_REASONS.get(chain.stop_reason, StopReason(chain.stop_reason, chain.stop_reason))
    n = len(chain.hops)
    lines = [f"Association chain for {chain.query!r} ({n} memor{'y' if n == 1 else 'ies'}; stopped: {reason.label}):"]
    for hop in chain.hops:
        how = "recalled from the query" if hop.hop == 0 else "associated with the previous hop"
        lines.append(
            f"hop {hop.hop} ({how}, score {hop.score:.2f}) [{_tags(hop.memory, None, ids)}] "
            f"{_one_line(hop.memory.text)}"
        )
    lines.append(f"Stopped: {reason.explanation}.")
    return "\n".join(lines)


# ---------------------------------------------------------------------- cue augmenters
def fill_prompt(template: str, /, **values: object) -> str:
    """Replace the ``{name}`` placeholders of a prompt for the names given.

    Unlike ``str.format``, every other brace is left alone, so a prompt may show a
    JSON example such as ``{"paraphrases": ["..."]}``; and placeholders are replaced
    in one pass, so braces inside a value are never read as placeholders.

    Example:
        >>> fill_prompt('Reply like {"a": [...]} about: {text}', text="x {n}", n=3)
        'Reply like {"a": [...]} about: x {n}'
    """
    if not values:
        return template
    names = "|".join(re.escape(name) for name in values)
    return re.sub(r"\{(" + names + r")\}", lambda match: str(values[match.group(1)]), template)


_BULLET = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}[.):]|\(?[a-zA-Z][.)](?=\s))\s*")
_QUOTES = "\"'“”‘’`"


def _json_list(reply: str) -> list[Any] | None:
    """The JSON array in a reply (bare, fenced, after prose, or the one list of an object)."""
    start, end = reply.find("["), reply.rfind("]")
    if 0 <= start < end:
        try:
            parsed = json.loads(reply[start : end + 1])
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    try:
        parsed = json.loads(reply.strip())
    except ValueError:
        return None
    if isinstance(parsed, dict):
        return next((value for value in parsed.values() if isinstance(value, list)), None)
    return None


def _listed_lines(reply: str) -> list[str]:
    """One candidate per line, without bullets, numbers, code fences and preambles."""
    out: list[str] = []
    for line in reply.splitlines():
        if line.strip().startswith("```"):
            continue
        line = _BULLET.sub("", line, count=1).strip()
        if line and not line.endswith(":") and line not in ("[", "]", "[]"):
            out.append(line)
    return out


def parse_paraphrases(reply: str, n: int, *, original: str = "", max_chars: int | None = None) -> list[str]:
    """Extract up to ``n`` paraphrases from a model's reply.

    Accepts a JSON array of strings (bare, in a code fence, after a preamble, or the
    one array of a JSON object such as ``{"paraphrases": [...]}``); a JSON answer is
    taken at its word, so its non-strings are dropped. Otherwise every line is a
    paraphrase, with bullets, numbers, quotes and trailing commas removed and lines
    ending in ``:`` (preambles such as "Here are three:") skipped.

    Args:
        reply: The model's text.
        n: Most paraphrases returned.
        original: The paraphrased text; a copy of it is dropped.
        max_chars: Longer paraphrases are cut to this many characters.

    Returns:
        Distinct paraphrases (case-insensitively, whitespace folded), in reply
        order; ``[]`` when none can be read.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInputError(f"n must be a positive integer, not {n!r}")
    parsed = _json_list(reply)
    candidates = parsed if parsed is not None else _listed_lines(reply)
    seen = {_one_line(original).lower()}
    out: list[str] = []
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        text = _one_line(candidate).rstrip(",").strip().strip(_QUOTES).strip()
        if max_chars is not None:
            text = text[:max_chars].strip()
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
        if len(out) == n:
            break
    return out
