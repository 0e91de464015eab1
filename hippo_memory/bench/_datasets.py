"""Loading LoCoMo and LongMemEval into one shape: haystacks of units, with questions.

A *haystack* is what one fresh memory holds: a LoCoMo conversation (all of its
questions share it) or one LongMemEval question's haystack sessions. A *unit* is
what gets ranked: a dialogue turn, or at LongMemEval session level a whole
session. Session-level haystacks also keep their turns (``parts``), so a system
may store turns and rank sessions by their best turn.

The definitions follow ``shared/README.md`` exactly:

* LoCoMo: one unit per turn, text ``"Speaker: text"`` plus the image caption when
  present; gold = evidence ids split on ``,`` and ``;`` and trimmed; questions
  without evidence are skipped. Evidence ids that name no turn are kept (they can
  never be retrieved, for any system).
* LongMemEval: abstention questions (id ending ``_abs``) are skipped; a session
  id repeated within one haystack (4 dev haystacks repeat a distractor session
  verbatim) is kept once; session
  level gold = ``answer_session_ids``; turn level gold = turns with
  ``has_answer: true`` (questions without any are skipped at turn level).
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Haystack",
    "Level",
    "Question",
    "Unit",
    "load_json",
    "load_locomo",
    "load_longmemeval",
    "locomo_turn_text",
    "longmemeval_session_text",
    "longmemeval_turn_text",
    "parse_evidence",
]

Level = Literal["turn", "session"]

LOCOMO_CATEGORIES: dict[str, str] = {
    "1": "multi-hop",
    "2": "temporal",
    "3": "open-domain",
    "4": "single-hop",
    "5": "adversarial",
}
"""LoCoMo category numbers and their names."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One rankable item of a haystack.

    Attributes:
        uid: Identifier the gold labels use (a LoCoMo ``dia_id``, a LongMemEval
            session id, or ``"<session id>#<turn index>"`` for a LongMemEval turn).
        text: What is stored and encoded.
        session: The session it belongs to (its own id for a session unit).
        timestamp: When it happened, as UTC epoch seconds, if known.
        parent: For a part (a turn of a session unit), the uid of its unit.
        speaker: The named participant who said it (LoCoMo), if any.
    """

    uid: str
    text: str
    session: str
    timestamp: float | None = None
    parent: str | None = None
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class Question:
    """A query with its gold units.

    Attributes:
        qid: Identifier (``"<conversation>:<index>"`` for LoCoMo).
        text: The question, used as the query.
        category: LoCoMo category number as a string, or LongMemEval question_type.
        gold: uids of the units that answer it.
        asked_at: When it was asked, as UTC epoch seconds, if known (LongMemEval's
            ``question_date``): the reference time of its relative dates ("last Saturday").
    """

    qid: str
    text: str
    category: str
    gold: frozenset[str]
    asked_at: float | None = None


@dataclass(slots=True)
class Haystack:
    """Everything one fresh memory holds, and the questions asked of it.

    Attributes:
        key: Identifier (LoCoMo sample_id or LongMemEval question_id).
        units: Ranked items, in conversation order.
        questions: Questions asked of this haystack.
        parts: Turns of session units (session level only), in order; empty
            when units are turns already.
    """

    key: str
    units: list[Unit]
    questions: list[Question]
    parts: list[Unit] = field(default_factory=list)


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a ``.json`` or ``.json.gz`` file (gzip detected by its magic bytes)."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def parse_evidence(evidence: Sequence[str] | str | None) -> frozenset[str]:
    """Split LoCoMo evidence entries on ``,`` and ``;`` and trim them.

    >>> sorted(parse_evidence(["D8:6; D9:17", " D1:3"]))
    ['D1:3', 'D8:6', 'D9:17']
    """
    if not evidence:
        return frozenset()
    entries = [evidence] if isinstance(evidence, str) else list(evidence)
    ids = set()
    for entry in entries:
        for part in re.split(r"[,;]", str(entry)):
            part = part.strip()
            if part:
                ids.add(part)
    return frozenset(ids)


_LOCOMO_DATE = re.compile(r"(\d{1,2}):(\d{2})\s*([ap]m)\s+on\s+(\d{1,2})\s+(\w+),?\s+(\d{4})", re.I)
_LME_DATE = re.compile(r"(\d{4})/(\d{2})/(\d{2})\D*?(\d{1,2}):(\d{2})")


def _parse_locomo_date(text: str | None) -> float | None:
    """``"1:56 pm on 8 May, 2023"`` -> epoch seconds (UTC), or None."""
    match = _LOCOMO_DATE.search(text or "")
    if match is None:
        return None
    hour, minute, half, day, month, year = match.groups()
    try:
        parsed = datetime.strptime(f"{day} {month[:3]} {year}", "%d %b %Y")
    except ValueError:
        return None
    hour_24 = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
    return parsed.replace(hour=hour_24, minute=int(minute), tzinfo=UTC).timestamp()


def _parse_lme_date(text: str | None) -> float | None:
    """``"2023/05/20 (Sat) 07:47"`` -> epoch seconds (UTC), or None."""
    match = _LME_DATE.search(text or "")
    if match is None:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups())
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def locomo_turn_text(turn: dict[str, Any]) -> str:
    """``"Speaker: text"``, plus ``" [image: caption]"`` when the turn shares a photo."""
    text = f"{turn.get('speaker', '')}: {str(turn.get('text', '')).strip()}"
    caption = turn.get("blip_caption")
    if caption:
        text += f" [image: {str(caption).strip()}]"
    return text


def _locomo_sessions(conversation: dict[str, Any]) -> Iterator[tuple[int, list[Any], str | None]]:
    numbers = sorted(
        int(key.split("_")[1])
        for key, value in conversation.items()
        if re.fullmatch(r"session_\d+", key) and isinstance(value, list)
    )
    for number in numbers:
        yield (
            number,
            conversation[f"session_{number}"],
            conversation.get(f"session_{number}_date_time"),
        )


def load_locomo(data: Sequence[dict[str, Any]], *, limit: int | None = None) -> list[Haystack]:
    """Turn LoCoMo samples into one turn-level haystack per conversation.

    Args:
        data: The parsed LoCoMo JSON list.
        limit: Keep at most this many questions in total (in file order).

    Returns:
        Haystacks with at least one question each.
    """
    haystacks: list[Haystack] = []
    budget = limit if limit is not None else -1
    for index, sample in enumerate(data):
        if budget == 0:
            break
        key = str(sample.get("sample_id", f"conv-{index}"))
        units: list[Unit] = []
        for number, turns, date in _locomo_sessions(sample["conversation"]):
            timestamp = _parse_locomo_date(date)
            for turn in turns:
                units.append(
                    Unit(
                        uid=str(turn["dia_id"]),
                        text=locomo_turn_text(turn),
                        session=f"session_{number}",
                        timestamp=timestamp,
                        speaker=str(turn.get("speaker", "")) or None,
                    )
                )
        questions: list[Question] = []
        for q_index, qa in enumerate(sample.get("qa", [])):
            if budget == 0:
                break
            gold = parse_evidence(qa.get("evidence"))
            if not gold:
                continue
            questions.append(
                Question(
                    qid=f"{key}:{q_index}",
                    text=str(qa["question"]),
                    category=str(qa.get("category", "")),
                    gold=gold,
                )
            )
            budget -= 1
        if questions:
            haystacks.append(Haystack(key=key, units=units, questions=questions))
    return haystacks


def longmemeval_turn_text(turn: dict[str, Any]) -> str:
    """``"role: content"`` of one LongMemEval turn."""
    return f"{turn.get('role', 'user')}: {str(turn.get('content', '')).strip()}"


def longmemeval_session_text(turns: Sequence[dict[str, Any]]) -> str:
    """A whole session as one text: its turn texts joined by newlines."""
    return "\n".join(longmemeval_turn_text(turn) for turn in turns if str(turn.get("content", "")).strip())


def load_longmemeval(data: Sequence[dict[str, Any]], *, level: Level, limit: int | None = None) -> list[Haystack]:
    """Turn LongMemEval questions into one haystack each.

    Args:
        data: The parsed LongMemEval JSON list.
        level: ``"session"`` ranks sessions (units) and keeps their turns as
            ``parts``; ``"turn"`` ranks turns.
        limit: Keep at most this many (non-skipped) questions, in file order.

    Returns:
        One haystack per kept question.
    """
    haystacks: list[Haystack] = []
    for item in data:
        if limit is not None and len(haystacks) >= limit:
            break
        qid = str(item["question_id"])
        if qid.endswith("_abs"):
            continue
        sessions: list[Unit] = []
        turns: list[Unit] = []
        gold_turns: set[str] = set()
        seen_sessions: set[str] = set()
        dates = item.get("haystack_dates") or []
        for s_index, (sid, session) in enumerate(
            zip(item["haystack_session_ids"], item["haystack_sessions"], strict=True)
        ):
            sid = str(sid)
            if sid in seen_sessions:  # a few haystacks repeat a distractor session verbatim
                continue
            seen_sessions.add(sid)
            timestamp = _parse_lme_date(dates[s_index]) if s_index < len(dates) else None
            text = longmemeval_session_text(session)
            if text:
                sessions.append(Unit(uid=sid, text=text, session=sid, timestamp=timestamp))
            for t_index, turn in enumerate(session):
                if not str(turn.get("content", "")).strip():
                    continue
                uid = f"{sid}#{t_index}"
                turns.append(
                    Unit(
                        uid=uid,
                        text=longmemeval_turn_text(turn),
                        session=sid,
                        timestamp=timestamp,
                        parent=sid,
                    )
                )
                if turn.get("has_answer"):
                    gold_turns.add(uid)
        category = str(item.get("question_type", ""))
        asked_at = _parse_lme_date(item.get("question_date"))
        if level == "session":
            gold = frozenset(str(s) for s in item.get("answer_session_ids", []))
            question = Question(qid=qid, text=str(item["question"]), category=category, gold=gold, asked_at=asked_at)
            haystacks.append(Haystack(key=qid, units=sessions, questions=[question], parts=turns))
        else:
            if not gold_turns:
                continue
            question = Question(
                qid=qid, text=str(item["question"]), category=category, gold=frozenset(gold_turns), asked_at=asked_at
            )
            units = [replace(turn, parent=None) for turn in turns]  # turns are the units
            haystacks.append(Haystack(key=qid, units=units, questions=[question]))
    return haystacks


def dataset_path_name(path: str | os.PathLike[str]) -> str:
    """File name without ``.json``/``.json.gz``, for labels."""
    name = Path(path).name
    for suffix in (".gz", ".json"):
        name = name.removesuffix(suffix)
    return name
