"""Configuration of the engine, validated by pydantic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._errors import InvalidConfigError
from ._learned import load_model

__all__ = ["HippoConfig", "IndexKind", "RankerKind", "WritePolicy"]

IndexKind = Literal["auto", "exact", "flat", "ivf", "gpu"]
RankerKind = Literal["learned", "fusion"]
WritePolicy = Literal["store_all", "gate", "merge_duplicates"]


class HippoConfig(BaseModel):
    """Engine settings. Every field has a measured default; see ``docs/design.md``.

    The model is frozen: derive variants with ``config.model_copy(update={...})``.
    A bad value raises :class:`~hippo_memory.InvalidConfigError` (a ``ValueError``),
    whether the config is built, validated or copied with updates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- candidate stage -------------------------------------------------------
    candidates: int = Field(
        50, ge=1, le=4096, description="Cue vectors passed from the nearest-neighbour stage to the settle stage."
    )
    index: IndexKind = Field(
        "auto",
        description="Candidate index: 'auto' picks flat below ivf_threshold cue vectors and IVF above; 'exact' is the pure-torch fallback; 'gpu' uses CUDA.",
    )
    ivf_threshold: int = Field(
        8_192,
        ge=256,
        description="Cue vectors above which 'auto' switches from the flat index to IVF (and a namespace or filter subset above which it searches IVF rather than the subset's rows).",
    )
    ivf_nprobe: int = Field(32, ge=1, description="Inverted lists probed per IVF query.")
    # --- lexical channel ---------------------------------------------------------
    lexical_weight: float = Field(
        2.0,
        ge=0,
        description="Weight of the BM25 ranking (an in-RAM index over memory text) fused with the settle ranking by reciprocal rank; 0 turns the lexical channel off.",
    )
    lexical_candidates: int = Field(
        50, ge=1, le=4096, description="Memories the lexical channel adds to the candidate set."
    )
    lexical_terms: int = Field(
        6,
        ge=1,
        le=64,
        description="Query words the lexical channel searches: the rarest ones (in fewest memories). They carry BM25's ranking; common words cost time and rank little.",
    )
    lexical_window: int = Field(
        1,
        ge=0,
        le=8,
        description="Session neighbours on each side whose text joins a memory's lexical document: an answer is found by the words of the question before it, and the other way round (0: the memory's own text only).",
    )
    lexical_window_chars: int = Field(
        400,
        ge=1,
        description="Characters a neighbour contributes to a memory's lexical document: the end of an earlier memory, the start of a later one (where a question and its answer meet), so long neighbours do not drown a short memory.",
    )
    lexical_language: str | None = Field(
        "english",
        description="Snowball stemmer of the lexical channel ('english', 'german', 'french', ...: PyStemmer's Stemmer.algorithms()); None indexes words unstemmed.",
    )
    fusion_k: float = Field(
        10.0, gt=0, description="Rank offset of reciprocal-rank fusion: score = sum of weight / (fusion_k + rank)."
    )
    # --- recall-time priors ------------------------------------------------------
    spread: float = Field(
        0.3,
        ge=0,
        description="Spreading activation after fusion: each candidate passes spread * link strength * its score to the memories it is associated with (the turn after a matching question rises with it); 0 turns it off.",
    )
    speaker_key: str | None = Field(
        "speaker",
        description="Metadata key naming who said a memory; a query that names that speaker lifts their memories by speaker_weight. None turns the speaker prior off.",
    )
    speaker_weight: float = Field(
        0.3, ge=0, description="Score added to candidates whose speaker the query names (scores are at most about 1)."
    )
    temporal_weight: float = Field(
        0.3,
        ge=0,
        description="Score added to candidates whose timestamp falls in the day, month or year the query names (e.g. 'on 1 February, 2023').",
    )
    # --- ranker (docs/ranker.md) -------------------------------------------------
    ranker: RankerKind = Field(
        "learned",
        description="'learned': a logistic model over every stage's features gives each hit a calibrated probability of relevance as its score (comparable across queries); 'fusion': the hand-set reciprocal-rank fusion plus spreading and priors (lexical_weight, fusion_k, spread, speaker_weight, temporal_weight) ranks and scores.",
    )
    ranker_weights: str | None = Field(
        None,
        description="Path of a weights file for the learned ranker (written by 'hippo-memory bench train-ranker'); None: the weights shipped in the package.",
    )
    # --- settle stage ----------------------------------------------------------
    beta: float = Field(16.0, gt=0, description="Inverse temperature of the Hopfield softmax.")
    steps: int = Field(
        0,
        ge=0,
        le=16,
        description="Hopfield update steps of the state pattern before the final attention; 0 attends with the query itself.",
    )
    # --- cue variants ------------------------------------------------------------
    cue_variants: bool = Field(
        True, description="Store memories under extra cue variants (sentences, context, key phrases)."
    )
    sentence_cues: bool | None = Field(
        None,
        description="Add each sentence of a multi-sentence text as a cue. None (default): only when detect_supersession is on, which compares these sentences. Otherwise off: it multiplied the encodings of long texts by about 5 and moved LoCoMo and LongMemEval recall by less than run-to-run noise (docs/benchmarks.md).",
    )
    context_cues: bool = Field(True, description="Add the text joined with its conversational predecessor as a cue.")
    context_max_chars: int = Field(
        400,
        ge=0,
        description="Only texts up to this long get the context cue: a short turn ('Yes, last week!') needs its predecessor to mean anything, a long one carries its own context, and joined with another it overflows the encoder's window (MiniLM reads 256 word pieces) at twice the encoding cost.",
    )
    keyphrase_cues: bool = Field(True, description="Add the extracted key phrases as a cue.")
    max_cues: int = Field(
        8, ge=1, le=256, description="Upper bound on cue variants per memory (the text itself always counts)."
    )
    # --- Hebbian stage -----------------------------------------------------------
    code_dim: int = Field(16_384, ge=256, le=65_536, description="Units of the sparse winner-take-all code.")
    code_k: int = Field(50, ge=1, description="Active units per code.")
    seed: int = Field(0, description="Seed of the random projection behind the codes (stored with the memory).")
    link_consecutive: bool = Field(True, description="Link consecutive memories of one session automatically.")
    forward_strength: float = Field(
        1.0, ge=0, description="Strength of an automatic link to the next memory of a session."
    )
    backward_strength: float = Field(
        0.5, ge=0, description="Strength of an automatic link back to the previous memory."
    )
    answer_strength: float = Field(
        2.0,
        ge=0,
        description="Strength of the automatic forward link when the previous memory of the session asks a question (the next turn answers it); replaces forward_strength for that link.",
    )
    chain_min_strength: float = Field(
        0.2, ge=0, description="A chain stops when the next association's score falls below this."
    )
    source_min_overlap: float = Field(
        0.5, gt=0, le=1, description="Fraction of a stored code that a state must share to drive its associations."
    )
    # --- write policy, consolidation and forgetting (docs/consolidation.md) ------
    write_policy: WritePolicy = Field(
        "store_all",
        description="What remember() does with a near-duplicate of a memory of the same namespace (novelty below novelty_threshold): 'store_all' stores it, 'gate' skips it unless its salience reaches salience_threshold and returns the existing id, 'merge_duplicates' folds its wording into the existing memory as an extra cue and returns the existing id.",
    )
    novelty_threshold: float = Field(
        0.05,
        ge=0,
        le=1,
        description="A write whose novelty (1 - max cosine to a memory of its namespace) is below this is a near-duplicate for write_policy.",
    )
    salience_threshold: float = Field(
        0.5, ge=0, le=1, description="Writes with at least this salience always pass the 'gate' policy."
    )
    detect_supersession: bool = Field(
        False,
        description="Detect knowledge updates at write time: a new memory restating the subject of an older one with a different value supersedes it (hidden from recall unless include_superseded=True).",
    )
    supersede_similarity: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Cosine between two sentences at or above which the supersession heuristic compares their subject and values.",
    )
    half_life_days: float = Field(
        30.0,
        gt=0,
        description="Half-life of an untouched memory's strength in days (times 1 + salience); every access or replay lengthens it.",
    )
    stability_growth: float = Field(
        2.0,
        ge=1,
        description="Factor by which an access or replay of a fully faded memory multiplies its half-life (spacing effect; a fresh memory gains almost nothing).",
    )
    forget_below: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="consolidate() forgets memories whose strength is below this; 0 never forgets by decay.",
    )
    max_memories: int | None = Field(
        None,
        ge=1,
        description="consolidate() evicts the weakest memories of a namespace above this many; None for no limit.",
    )
    replay_budget: int = Field(
        1000,
        ge=0,
        description="Memories replayed per consolidate(), chosen by salience, access count and how faded they are.",
    )
    replay_rate: float = Field(
        0.25,
        ge=0,
        description="Hebbian re-potentiation of a replayed memory's associations per replay (w += rate * w).",
    )
    link_half_life_days: float = Field(
        30.0, gt=0, description="Half-life of association strengths between consolidations (multiplicative decay)."
    )
    link_prune_below: float = Field(0.05, ge=0, description="consolidate() removes associations weaker than this.")
    max_out_strength: float = Field(
        4.0,
        gt=0,
        description="Homeostasis: outgoing association strengths of a memory are scaled down to sum to at most this.",
    )
    merge_similarity: float = Field(
        0.95,
        gt=0,
        le=1,
        description="consolidate() merges memories of one namespace whose texts have at least this cosine.",
    )
    compact_dead_fraction: float = Field(
        0.25,
        ge=0,
        le=1,
        description="consolidate() rewrites the vector file without dead rows once this fraction of rows is dead.",
    )
    # --- tenant partitions -------------------------------------------------------
    partition_depth: int | None = Field(
        None,
        ge=1,
        description=(
            "Labels of a namespace that name its partition (its own cue index, lexical statistics, codes and "
            "links). None: every namespace is a partition of its own, so no two namespaces ever share a "
            "statistic; 2 pools ('users', 'alice', ...) sub-namespaces into one partition per user."
        ),
    )
    partition_budget_mb: float | None = Field(
        1024.0,
        gt=0,
        description=(
            "RAM the loaded partitions may hold; the least recently used ones are evicted beyond it and "
            "reloaded from the store on their next use. None: never evict."
        ),
    )
    reclaim_dead_fraction: float | None = Field(
        0.5,
        gt=0,
        le=1,
        description=(
            "Rewrite a partition's vector file without dead rows as soon as this fraction of its rows is dead "
            "(after updates and forgets, on partitions of 1,024 rows or more), without waiting for consolidate(). "
            "None: only consolidate() compacts."
        ),
    )
    # --- limits and durability -------------------------------------------------
    max_text_chars: int = Field(100_000, ge=1, description="Longest accepted memory or query text.")
    durable: bool = Field(
        True,
        description="fsync vectors and use synchronous=FULL SQLite commits (survives power loss, not just process crashes).",
    )
    record_cache_mb: float = Field(
        32.0,
        ge=0,
        description=(
            "PostgreSQL stores: RAM for the records and cues of recalled memories, so recalling them again needs "
            "no query. Exact: a partition's entries are dropped whenever it changes, here or in another process. "
            "0 turns it off. Not counted in partition_budget_mb."
        ),
    )
    change_notifications: bool = Field(
        False,
        description=(
            "PostgreSQL stores: learn of other processes' commits by LISTEN/NOTIFY (a connection of its own) "
            "instead of one catalogue query before every recall. Another process's commit is then recalled once "
            "its notification has arrived, normally within a millisecond of the commit rather than from the "
            "instant it returns; the feed is checked by a round trip at least every 5 s and every recall "
            "queries while it is down. Ignored by directory and in-memory stores."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> HippoConfig:
        if self.code_k >= self.code_dim:
            raise ValueError("code_k must be smaller than code_dim")
        if self.ranker_weights is not None:
            load_model(self.ranker_weights)  # a missing or malformed file fails here, not at the first recall
        if self.lexical_language is not None:
            import Stemmer  # PyStemmer

            if self.lexical_language not in Stemmer.algorithms():
                raise ValueError(
                    f"lexical_language {self.lexical_language!r} is not a Snowball stemmer; "
                    f"choose one of {sorted(Stemmer.algorithms())} or None"
                )
        return self

    if not TYPE_CHECKING:  # keep the field-typed signature pydantic gives type checkers

        def __init__(self, /, **values: Any) -> None:
            try:
                super().__init__(**values)
            except ValidationError as exc:
                raise _config_error(exc) from exc

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate a mapping (or config) into a config, raising :class:`InvalidConfigError`."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise _config_error(exc) from exc

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied and validated (pydantic's own copy skips validation).

        Raises:
            InvalidConfigError: an updated value is out of range or an unknown field.
        """
        if not update:
            return super().model_copy(deep=deep)
        values = {name: getattr(self, name) for name in self.model_fields_set}
        values.update(update)
        return type(self)(**values)

    @classmethod
    def create(cls, **values: object) -> HippoConfig:
        """Build a config, raising :class:`InvalidConfigError` on bad values."""
        return cls.model_validate(values)


def _config_error(exc: ValidationError) -> InvalidConfigError:
    """One readable line per rejected field, e.g. ``candidates=0: Input should be >= 1``."""
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "config"
        shown = f"{field}={error['input']!r:.60}" if error["loc"] and error["type"] != "missing" else field
        problems.append(f"{shown}: {error['msg'].removeprefix('Value error, ')}")
    return InvalidConfigError(f"invalid HippoConfig: {'; '.join(problems)}")
