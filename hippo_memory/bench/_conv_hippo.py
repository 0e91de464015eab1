"""hippo-memory configurations as benchmark systems.

Each haystack goes into a fresh in-memory :class:`~hippo_memory.HippoMemory`
(``path=None``), one memory per stored item, with the item's uid as memory id, its
session as ``session`` (so consecutive turns are linked), its date as
``timestamp`` and its speaker, when the data names one, as ``metadata["speaker"]``
(what a conversation memory knows of every turn it stores). Recall uses :meth:`HippoMemory.recall_vector` with the question's
precomputed vector, so recall timing excludes query encoding, and with the question's
date (:attr:`Question.asked_at`, LongMemEval's ``question_date``) as ``reference_time``, so
"last Saturday" is the Saturday before the question, not before the run. At LongMemEval
session level the turns are stored with their session id in
``metadata["session_id"]`` and sessions are ranked by
:meth:`HippoMemory.recall_groups` (the turns' evidence aggregated per session).

Systems:

* ``hippo``: the default :class:`~hippo_memory.HippoConfig`.
* ``hippo-fusion``: ``ranker="fusion"``, the hand-set fusion and priors instead of
  the learned ranker.
* ``hippo-settle``: the prototype's settle, ``steps=3`` at ``beta=16`` (the default
  is ``steps=0``: the query attends directly, no Hopfield update).
* ``hippo-nolexical``: ``lexical_weight=0`` (no BM25 channel: cue vectors only).
* ``hippo-nocues``: ``cue_variants=False`` (each memory stored under its text only).
* ``hippo-nospread``: ``spread=0`` (no spreading activation along associations).
* ``hippo-nopriors``: no speaker prior and no temporal prior.
* ``hippo-softor`` / ``hippo-topmean``: default config; at session level the turns'
  evidence is aggregated per session by soft-OR / the mean of the best 3 turns
  (``hippo`` ranks a session where its best turn ranks, ``method="max"``).
* ``hippo-chain``: default config; the best hit's Hebbian chain
  (:meth:`HippoMemory.recall_chain`) is spliced in right after it, ahead of the
  other single-hop hits. Applied to every question: the benchmark does not tell a
  system which questions are multi-hop.

Prototypes of mechanisms the engine lacks (built here from the public API plus
the BM25 baseline, to measure what they would bring; not engine features):

* ``proto-fusion``: reciprocal-rank fusion (k=60) of hippo's ranking (top 100)
  with BM25 over the same items: a lexical channel inside recall.
* ``proto-speaker``: ``proto-fusion``, then, when the question names exactly one
  participant of the conversation, that participant's turns first (stable).
  Only LoCoMo turns carry a named speaker; elsewhere it equals ``proto-fusion``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._config import HippoConfig
from .._encoder import Encoder
from .._grouping import GroupMethod
from .._memory import HippoMemory, MemoryInput
from ._baselines import BM25System, Granularity, RankingSystem, dedupe_to_parents, rrf_fuse, stored_items
from ._datasets import Haystack, Question, Unit

if TYPE_CHECKING:
    from ._conversations import BenchContext

__all__ = ["FusionSystem", "HippoSystem", "hippo_factories"]

FloatArray = npt.NDArray[np.float32]
NAMESPACE = ("bench",)
SESSION_KEY = "session_id"
"""The metadata key holding a stored turn's session, which session-level recall groups by."""
DEFAULT_GROUP_METHOD: GroupMethod = "max"


class HippoSystem:
    """A :class:`~hippo_memory.HippoMemory` under test.

    Args:
        encoder: Shared (cached) encoder.
        config: Engine settings; ``durable`` is switched off (nothing is on disk).
        name: Label.
        granularity: Store units, or (LongMemEval session level) their turns, a
            session then ranking where its best turn ranks.
        chain_hops: When positive, splice the best hit's chain of this many hops
            in after it.
        group_method: How ``recall_groups`` aggregates turns into sessions
            (``granularity="part"`` only).
        fold_weights: Haystack key -> ranker weights file for that haystack's memory
            (cross-validated runs); haystacks not named use ``config``'s.
    """

    def __init__(
        self,
        encoder: Encoder,
        config: HippoConfig,
        *,
        name: str,
        granularity: Granularity = "unit",
        chain_hops: int = 0,
        group_method: GroupMethod = DEFAULT_GROUP_METHOD,
        fold_weights: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.fold_weights = dict(fold_weights or {})
        self.encoder = encoder
        self.config = config.model_copy(update={"durable": False})
        self.granularity: Granularity = granularity
        self.chain_hops = chain_hops
        self.group_method: GroupMethod = group_method
        self._grouped = False
        self._memory: HippoMemory | None = None
        self._parent: dict[str, str] = {}
        self._n_items = 0

    def ingest(self, haystack: Haystack) -> int:
        self.close()
        items = stored_items(haystack, self.granularity)
        self._parent = {item.uid: item.parent or item.uid for item in items}
        self._n_items = len(items)
        self._grouped = any(item.parent is not None for item in items)
        config = self.config
        if haystack.key in self.fold_weights:
            config = config.model_copy(update={"ranker_weights": self.fold_weights[haystack.key]})
        memory = HippoMemory(None, encoder=self.encoder, config=config, device="cpu")
        inputs: list[MemoryInput] = []
        for item in items:
            spec: MemoryInput = {"id": item.uid, "text": item.text, "session": item.session}
            if item.timestamp is not None:
                spec["timestamp"] = item.timestamp
            metadata: dict[str, str] = {}
            if item.speaker:
                metadata["speaker"] = item.speaker
            if item.parent is not None:
                metadata[SESSION_KEY] = item.parent
            if metadata:
                spec["metadata"] = metadata
            inputs.append(spec)
        memory.remember_many(inputs, namespace=NAMESPACE)
        self._memory = memory
        return len(items)

    def _ranked_ids(self, question: Question, query_vector: FloatArray, k: int) -> list[str]:
        assert self._memory is not None
        result = self._memory.recall_vector(
            query_vector, query=question.text, namespace=NAMESPACE, k=k, reference_time=question.asked_at
        )
        ids = [hit.memory.id for hit in result]
        if self.chain_hops > 0 and ids:
            chain = self._memory.recall_chain(
                question.text, hops=self.chain_hops, namespace=NAMESPACE, reference_time=question.asked_at
            )
            linked = [hop.memory.id for hop in chain.hops]
            ids = linked + ids  # hop 0 is the best hit; duplicates drop below
        return ids

    def _ranked_groups(self, question: Question, query_vector: FloatArray, depth: int) -> list[str]:
        """Sessions best first by :meth:`HippoMemory.recall_groups`, recalling more turns until ``depth`` are ranked."""
        assert self._memory is not None
        turns = min(self._n_items, max(50, 10 * depth))
        while True:
            groups = self._memory.recall_groups(
                question.text,
                group_by=SESSION_KEY,
                k=depth,
                namespace=NAMESPACE,
                depth=turns,
                method=self.group_method,
                vector=query_vector,
                reference_time=question.asked_at,
            )
            if len(groups) >= depth or turns >= self._n_items:
                return [str(group.key) for group in groups]
            turns = min(self._n_items, turns * 4)

    def rank(self, question: Question, query_vector: FloatArray, depth: int) -> list[str]:
        if self._grouped and self.chain_hops == 0:
            return self._ranked_groups(question, query_vector, depth)
        k = min(depth, self._n_items)
        while True:
            out: list[str] = []
            seen: set[str] = set()
            ids = self._ranked_ids(question, query_vector, k)
            for memory_id in ids:
                uid = self._parent.get(memory_id, memory_id)
                if uid not in seen:
                    seen.add(uid)
                    out.append(uid)
            if len(out) >= depth or k >= self._n_items:
                return out
            k = min(self._n_items, k * 4)

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None


class FusionSystem:
    """Prototype: hippo fused with BM25 by RRF, optionally with a speaker prior.

    Args:
        hippo: The hippo system whose ranking is fused.
        name: Label.
        speaker_prior: Put the turns of the one participant a question names first.
        fuse_depth: How many hippo hits enter the fusion.
    """

    def __init__(self, hippo: HippoSystem, *, name: str, speaker_prior: bool = False, fuse_depth: int = 100) -> None:
        self.name = name
        self.hippo = hippo
        self.bm25 = BM25System(granularity=hippo.granularity)
        self.speaker_prior = speaker_prior
        self.fuse_depth = fuse_depth
        self._items: list[Unit] = []
        self._position: dict[str, int] = {}
        self._speakers: dict[str, re.Pattern[str]] = {}

    def ingest(self, haystack: Haystack) -> int:
        count = self.hippo.ingest(haystack)
        self.bm25.ingest(haystack)
        self._items = stored_items(haystack, self.hippo.granularity)
        self._position = {item.uid: i for i, item in enumerate(self._items)}
        names = {item.speaker for item in self._items if item.speaker}
        self._speakers = {name: re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE) for name in names}
        return count

    def rank(self, question: Question, query_vector: FloatArray, depth: int) -> list[str]:
        hippo_ids = self.hippo._ranked_ids(question, query_vector, min(self.fuse_depth, len(self._items)))
        hippo_order = [self._position[i] for i in hippo_ids if i in self._position]
        fused = rrf_fuse([hippo_order, self.bm25.order(question.text)], len(self._items))
        ranked = [self._items[i] for i in fused]
        if self.speaker_prior:
            named = [name for name, pattern in self._speakers.items() if pattern.search(question.text)]
            if len(named) == 1:
                ranked = [u for u in ranked if u.speaker == named[0]] + [u for u in ranked if u.speaker != named[0]]
        return dedupe_to_parents(ranked)

    def close(self) -> None:
        self.hippo.close()
        self.bm25.close()


def _factory(
    name: str, update: dict[str, Any], chain_hops: int = 0, group_method: GroupMethod = DEFAULT_GROUP_METHOD
) -> Callable[[BenchContext], HippoSystem]:
    def build(context: BenchContext) -> HippoSystem:
        granularity: Granularity = "part" if context.level == "session" else "unit"
        return HippoSystem(
            context.encoder,
            HippoConfig.create(**{**context.overrides, **update}),
            name=name,
            granularity=granularity,
            chain_hops=chain_hops,
            group_method=group_method,
            fold_weights=context.fold_weights,
        )

    return build


def hippo_factories() -> dict[str, Callable[[BenchContext], RankingSystem]]:
    """Factories of the hippo systems, by name."""
    return {
        "hippo": _factory("hippo", {}),
        "hippo-fusion": _factory("hippo-fusion", {"ranker": "fusion"}),
        "hippo-settle": _factory("hippo-settle", {"steps": 3, "beta": 16.0}),
        "hippo-nolexical": _factory("hippo-nolexical", {"lexical_weight": 0.0}),
        "hippo-nocues": _factory("hippo-nocues", {"cue_variants": False}),
        "hippo-nospread": _factory("hippo-nospread", {"spread": 0.0}),
        "hippo-nopriors": _factory("hippo-nopriors", {"speaker_weight": 0.0, "temporal_weight": 0.0}),
        "hippo-softor": _factory("hippo-softor", {}, group_method="soft_or"),
        "hippo-topmean": _factory("hippo-topmean", {}, group_method="top_mean"),
        "hippo-chain": _factory("hippo-chain", {}, chain_hops=2),
        "proto-fusion": lambda ctx: FusionSystem(_factory("hippo", {})(ctx), name="proto-fusion"),
        "proto-speaker": lambda ctx: FusionSystem(_factory("hippo", {})(ctx), name="proto-speaker", speaker_prior=True),
    }
