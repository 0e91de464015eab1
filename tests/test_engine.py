"""HippoMemory behaviour: remember, recall, chains, associations, update, forget, listing."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from hippo_memory import (
    HashingEncoder,
    HippoConfig,
    HippoMemory,
    InvalidFilterError,
    InvalidInputError,
    InvalidNamespaceError,
    MemoryNotFoundError,
    NamespaceNotFoundError,
    build_cues,
    key_phrases,
    split_sentences,
    validate_filter,
    validate_namespace,
)

FACTS = [
    "Alice moved to Lisbon in 2021 for a new job.",
    "Bob adopted a grey cat called Miso.",
    "Carol is training for the Berlin marathon.",
    "Dave bought a red electric bicycle.",
    "Erin learns Japanese on Tuesday evenings.",
]


def test_recall_returns_the_matching_memory_first_with_diagnostics(mem: HippoMemory) -> None:
    ids = mem.remember_many(FACTS, namespace=("u",))
    result = mem.recall("Which cat did Bob adopt?", namespace=("u",), k=3)
    assert len(result) == 3
    top = result[0]
    assert top.memory.id == ids[1] and top.rank == 0
    assert [h.score for h in result] == sorted((h.score for h in result), reverse=True)
    assert 0 < top.diagnostics.attention <= 1 and 0 < top.score <= 1
    assert top.diagnostics.lexical_rank == 0  # "cat", "Bob" and "adopt" match it in BM25 too
    assert top.diagnostics.similarity > result[1].diagnostics.similarity
    assert top.diagnostics.cues_matched >= 1
    assert top.diagnostics.best_cue in top.memory.cues
    assert set(result.timings_ms) >= {"encode", "candidates", "settle", "fetch", "total"}
    assert result.backend == "exact"


def test_without_the_lexical_channel_the_score_is_the_pooled_attention(
    encoder: HashingEncoder, small_config: HippoConfig
) -> None:
    # The hand-set fusion ranker (the learned one scores by probability, tests/test_ranker.py).
    config = small_config.model_copy(update={"lexical_weight": 0.0, "ranker": "fusion"})
    memory = HippoMemory(None, encoder=encoder, config=config)
    memory.remember_many(FACTS, namespace=("u",))
    result = memory.recall("Which cat did Bob adopt?", k=3)
    assert all(hit.score == hit.diagnostics.attention for hit in result)
    assert all(hit.diagnostics.lexical_rank is None for hit in result)
    memory.close()


class _BlindEncoder:
    """Encodes every text to a vector unrelated to its words (seeded by its hash)."""

    name = "blind"
    dim = 32

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = (
            np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]).astype(
                np.float32
            )
            if texts
            else np.zeros((0, self.dim), np.float32)
        )
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-9)


@pytest.mark.parametrize("lexical_weight", [0.0, 2.0])
def test_the_lexical_channel_finds_what_the_cue_vectors_miss(lexical_weight: float) -> None:
    """A rare word (a name, a code) found by BM25 when the vectors carry no sign of it."""
    # The fusion ranker: with a blind encoder the learned one's cosine features are noise.
    config = HippoConfig(
        candidates=1, lexical_weight=lexical_weight, code_dim=1024, code_k=16, cue_variants=False, ranker="fusion"
    )
    texts = [*FACTS, "The wifi password of the cabin is XQ7-FERN."] + [f"Filler note number {i}." for i in range(40)]
    with HippoMemory(None, encoder=_BlindEncoder(), config=config) as memory:
        ids = memory.remember_many(texts)
        found = [hit.memory.id for hit in memory.recall("What is the cabin wifi password?", k=3)]
        if lexical_weight:
            assert found[0] == ids[5]
        else:
            assert ids[5] not in found  # 3 of 46 by chance; the blind encoder's ranking is fixed


def test_the_lexical_channel_searches_the_rarest_query_words() -> None:
    """With one lexical term, the rare word is searched, not the word every memory shares."""
    config = HippoConfig(candidates=1, lexical_terms=1, code_dim=1024, code_k=16, cue_variants=False, ranker="fusion")
    texts = [f"Garden note {i}." for i in range(40)] + ["The lock on the garden shed door opens with code XQ7."]
    with HippoMemory(None, encoder=_BlindEncoder(), config=config) as memory:
        ids = memory.remember_many(texts)
        hits = memory.recall("garden xq7", k=1)
        assert hits[0].memory.id == ids[-1] and hits[0].diagnostics.lexical_rank == 0
        # A word every memory holds has no BM25 weight (IDF floored): it is not searched.
        assert memory.recall("garden zzzunknown", k=1)[0].diagnostics.lexical_rank is None


def test_lexical_index_follows_update_forget_and_reopen(encoder: HashingEncoder, store_path: Path) -> None:
    config = HippoConfig(code_dim=1024, code_k=16, durable=False, candidates=1)
    with HippoMemory(store_path, encoder=encoder, config=config) as memory:
        first, second, _ = memory.remember_many(
            ["Zanzibar trip in May.", "Quokka photos from Perth.", "Tea with Ann on Friday."]
        )
        memory.update(first, text="Madagascar trip in June.")
        memory.forget(second)
        assert memory.recall("Madagascar", k=1)[0].diagnostics.lexical_rank == 0
        assert all(h.diagnostics.lexical_rank is None for h in memory.recall("Zanzibar quokka", k=1))
    with HippoMemory(store_path, encoder=encoder, config=config) as memory:
        assert memory.recall("Madagascar", k=1)[0].diagnostics.lexical_rank == 0
        assert all(h.diagnostics.lexical_rank is None for h in memory.recall("Zanzibar quokka", k=1))
    # (Stores of earlier builds with an FTS5 table: tests/test_migration.py.)


def test_exact_text_recalls_itself(mem: HippoMemory) -> None:
    ids = mem.remember_many(FACTS)
    for memory_id, text in zip(ids, FACTS, strict=True):
        assert mem.recall(text, k=1)[0].memory.id == memory_id


def test_k_larger_than_store_returns_everything(mem: HippoMemory) -> None:
    mem.remember_many(FACTS[:2])
    assert len(mem.recall("anything at all", k=10)) == 2


def test_k_distinct_memories_even_when_candidates_are_few(encoder: HashingEncoder) -> None:
    memory = HippoMemory(None, encoder=encoder, config=HippoConfig(candidates=2, code_dim=1024, code_k=16))
    memory.remember_many(FACTS)
    assert len({h.memory.id for h in memory.recall("Alice", k=4)}) == 4


def test_settle_steps_and_beta_are_honoured(encoder: HashingEncoder) -> None:
    results = {}
    for steps in (0, 3):
        memory = HippoMemory(
            None, encoder=encoder, config=HippoConfig(steps=steps, beta=16.0, code_dim=1024, code_k=16)
        )
        memory.remember_many(FACTS)
        results[steps] = [h.diagnostics.attention for h in memory.recall("Carol marathon Berlin", k=5)]
    assert results[0] != results[3]
    assert sum(results[0]) == pytest.approx(1.0, abs=1e-4)  # all memories are candidates


def test_metadata_timestamp_and_session_round_trip(mem: HippoMemory) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    memory_id = mem.remember(
        "Dinner with Sam at Nopa", metadata={"tags": ["food"], "n": 3}, timestamp=when, session="s1"
    )
    got = mem.get(memory_id)
    assert got.text == "Dinner with Sam at Nopa"
    assert got.metadata == {"tags": ["food"], "n": 3}
    assert got.timestamp == when and got.session == "s1"
    assert got.namespace == ("default",)
    assert got.cues[0].kind == "text" and got.cues[0].text == got.text


def test_explicit_cues_recall_a_memory(mem: HippoMemory) -> None:
    memory_id = mem.remember("The spare key is in the blue flowerpot.", cues=["where did I hide the door key"])
    mem.remember_many(FACTS)
    hit = mem.recall("hide door key", k=1)[0]
    assert hit.memory.id == memory_id
    assert hit.diagnostics.best_cue.kind == "explicit"


def test_filter_and_time_range(mem: HippoMemory) -> None:
    mem.remember("Meeting about the budget", metadata={"kind": "work", "priority": 2}, timestamp="2024-01-10T00:00:00Z")
    mem.remember("Meeting about the garden", metadata={"kind": "home", "priority": 5}, timestamp="2024-03-10T00:00:00Z")
    mem.remember("Meeting about the roof", metadata={"kind": "home", "priority": 1}, timestamp="2024-06-10T00:00:00Z")
    texts = lambda result: {h.memory.text for h in result}  # noqa: E731
    assert texts(mem.recall("meeting", filter={"kind": "home"}, k=5)) == {
        "Meeting about the garden",
        "Meeting about the roof",
    }
    assert texts(mem.recall("meeting", filter={"priority": {"$gte": 2}}, k=5)) == {
        "Meeting about the budget",
        "Meeting about the garden",
    }
    assert texts(mem.recall("meeting", filter={"kind": {"$ne": "home"}}, k=5)) == {"Meeting about the budget"}
    assert texts(mem.recall("meeting", since="2024-02-01", until=datetime(2024, 4, 1, tzinfo=UTC), k=5)) == {
        "Meeting about the garden"
    }
    assert len(mem.recall("meeting", filter={"kind": "nothing"}, k=5)) == 0


def test_session_memories_are_linked_and_chain_in_order(mem: HippoMemory) -> None:
    ids = mem.remember_many(FACTS, session="talk")
    chain = mem.recall_chain(FACTS[0], hops=4)
    assert [h.memory.id for h in chain] == ids
    assert chain.stop_reason == "hops"
    assert chain[0].hop == 0 and chain[1].score > 0.5 and chain[1].overlap > 0.5
    assert mem.associations(ids[1])[0] == (ids[2], 1.0)


def test_chain_follows_explicit_associations_across_background(mem: HippoMemory) -> None:
    background = [f"background note number {i} about topic {i * 7}" for i in range(200)]
    mem.remember_many(background, session="noise")
    a, b, c, d = mem.remember_many(["anchor fact alpha", "second fact beta", "third fact gamma", "fourth fact delta"])
    mem.associate(a, b)
    mem.associate(b, c)
    mem.associate(c, d)
    chain = mem.recall_chain("anchor fact alpha", hops=3)
    assert chain.memories and [m.id for m in chain.memories] == [a, b, c, d]


def test_chain_never_cycles_and_stops_without_links(mem: HippoMemory) -> None:
    a, b = mem.remember_many(["first loop memory", "second loop memory"])
    mem.associate(a, b, bidirectional=True)
    chain = mem.recall_chain("first loop memory", hops=5)
    assert [m.id for m in chain.memories] == [a, b]
    assert chain.stop_reason == "no_link"


def test_chain_stops_when_association_fades(mem: HippoMemory) -> None:
    a, b, c = mem.remember_many(["weak start memory", "weak middle memory", "weak end memory"])
    mem.associate(a, b, strength=1.0)
    mem.associate(b, c, strength=0.05)
    chain = mem.recall_chain("weak start memory", hops=3)
    assert [m.id for m in chain.memories] == [a, b]
    assert chain.stop_reason == "faded"
    assert len(mem.recall_chain("weak start memory", hops=3, min_strength=0.01)) == 3


def test_chain_zero_hops_and_empty_store(mem: HippoMemory) -> None:
    assert mem.recall_chain("nothing stored", hops=2).stop_reason == "no_start"
    mem.remember("solo memory")
    chain = mem.recall_chain("solo memory", hops=0)
    assert len(chain) == 1 and chain.stop_reason == "hops"


def test_associate_negative_strength_removes_link(mem: HippoMemory) -> None:
    a, b = mem.remember_many(["link source", "link target"])
    mem.associate(a, b, strength=0.7)
    assert mem.associations(a) == [(b, 0.7)]
    mem.associate(a, b, strength=-0.7)
    assert mem.associations(a) == []


def test_update_text_reencodes_and_keeps_id_and_links(mem: HippoMemory) -> None:
    a, b = mem.remember_many(["Frank lives in Oslo", "Frank works at the harbour"], session="f")
    mem.update(a, text="Frank lives in Bergen", metadata={"v": 2})
    got = mem.get(a)
    assert got.text == "Frank lives in Bergen" and got.metadata == {"v": 2}
    assert mem.recall("Bergen", k=1)[0].memory.id == a
    assert all("Oslo" not in h.memory.text for h in mem.recall("Oslo", k=2))
    assert mem.associations(a)[0][0] == b
    assert mem.stats()["cue_vectors"] == sum(len(mem.get(i).cues) for i in (a, b))


def test_update_metadata_only_keeps_vectors(mem: HippoMemory) -> None:
    memory_id = mem.remember("Gina plays the cello", metadata={"a": 1})
    before = mem.stats()["cue_vectors"]
    mem.update(memory_id, metadata={"a": 2}, timestamp=0)
    assert mem.get(memory_id).metadata == {"a": 2}
    assert mem.get(memory_id).timestamp == datetime(1970, 1, 1, tzinfo=UTC)
    assert mem.stats()["cue_vectors"] == before


def test_forget_removes_memory_links_and_vectors(mem: HippoMemory) -> None:
    ids = mem.remember_many(FACTS, session="s")
    assert mem.forget(ids[1]) == 1
    assert mem.count() == 4
    with pytest.raises(MemoryNotFoundError):
        mem.get(ids[1])
    assert all(h.memory.id != ids[1] for h in mem.recall("Bob cat Miso", k=5))
    assert mem.associations(ids[0]) == []
    assert mem.forget(ids[2:4]) == 2
    assert mem.count() == 2


def test_count_namespaces_and_list(mem: HippoMemory) -> None:
    mem.remember_many(["a1", "a2"], namespace=("users", "alice"))
    mem.remember_many(["b1"], namespace=("users", "bob", "notes"))
    mem.remember("x", namespace=("other",))
    assert mem.count() == 4
    assert mem.count(("users",)) == 3
    assert mem.count(("nobody",)) == 0
    assert mem.namespaces() == [("other",), ("users", "alice"), ("users", "bob", "notes")]
    assert mem.namespaces(("users",), max_depth=2) == [("users", "alice"), ("users", "bob")]
    assert [m.text for m in mem.list(("users",))] == ["a1", "a2", "b1"]
    assert [m.text for m in mem.list(("users",), limit=1, offset=1)] == ["a2"]
    assert [m.text for m in mem.list(newest_first=True, limit=2)] == ["x", "b1"]


def test_unknown_namespace_raises_on_recall(mem: HippoMemory) -> None:
    mem.remember("something", namespace=("a",))
    with pytest.raises(NamespaceNotFoundError):
        mem.recall("something", namespace=("b",))
    assert len(mem.recall("something")) == 1


def test_ivf_index_agrees_with_exact_search(encoder: HashingEncoder) -> None:
    texts = [
        f"note {i}: the {['red', 'green', 'blue', 'amber'][i % 4]} file number {i} in drawer {i % 13}"
        for i in range(700)
    ]
    exact = HippoMemory(
        None, encoder=encoder, config=HippoConfig(index="exact", cue_variants=False, code_dim=1024, code_k=16)
    )
    ivf = HippoMemory(
        None,
        encoder=encoder,
        config=HippoConfig(index="ivf", cue_variants=False, ivf_nprobe=64, code_dim=1024, code_k=16),
    )
    exact.remember_many(texts)
    ivf.remember_many(texts)
    assert ivf.stats()["index"] == "ivf" and exact.stats()["index"] == "exact"
    agree = sum(exact.recall(q, k=1)[0].memory.text == ivf.recall(q, k=1)[0].memory.text for q in texts[::25])
    assert agree == len(texts[::25])
    # deletions reach the IVF index too
    victim = ivf.recall(texts[0], k=1)[0].memory.id
    ivf.forget(victim)
    assert ivf.recall(texts[0], k=1)[0].memory.id != victim


def test_auto_index_switches_to_ivf_above_threshold(encoder: HashingEncoder) -> None:
    memory = HippoMemory(
        None, encoder=encoder, config=HippoConfig(ivf_threshold=300, cue_variants=False, code_dim=1024, code_k=16)
    )
    memory.remember_many([f"item {i} of the list" for i in range(200)])
    assert memory.stats()["index"] == "exact"
    memory.remember_many([f"item {i} of the list" for i in range(200, 400)])
    assert memory.stats()["index"] == "ivf"
    assert memory.recall("item 250 of the list", k=1)[0].memory.text == "item 250 of the list"


def test_async_twins(mem: HippoMemory) -> None:
    async def scenario() -> None:
        ids = await mem.aremember_many(FACTS, session="s")
        one = await mem.aremember("Zed likes jazz")
        assert (await mem.aget(one)).text == "Zed likes jazz"
        assert (await mem.arecall("Bob cat", k=1))[0].memory.id == ids[1]
        assert len(await mem.arecall_chain(FACTS[0], hops=2)) == 3
        await mem.aassociate(one, ids[0])
        await mem.aupdate(one, metadata={"x": 1})
        assert await mem.acount() == 6
        assert await mem.anamespaces() == [("default",)]
        assert len(await mem.alist(limit=2)) == 2
        assert await mem.aforget(one) == 1

    asyncio.run(scenario())


def test_cue_variants_without_llm() -> None:
    text = "We went hiking near Sintra last weekend. The fog was thick all morning. Later we ate pastries."
    cues = build_cues(text, previous="I love the mountains.", max_cues=8)
    kinds = [c.kind for c in cues]
    assert kinds[0] == "text" and "context" in kinds and "keyphrase" in kinds and kinds.count("sentence") == 3
    assert len({c.text for c in cues}) == len(cues)
    assert len(build_cues(text, max_cues=2)) == 2
    # a text longer than context_max_chars carries its own context: no context cue
    long_kinds = [c.kind for c in build_cues(text, previous="I love the mountains.", context_max_chars=len(text) - 1)]
    assert "context" not in long_kinds and "sentence" in long_kinds
    assert "context" in [c.kind for c in build_cues(text, previous="x y z", context_max_chars=len(text))]
    # short fragments are merged into the sentence before them
    assert split_sentences("One. Two is longer than sixteen chars. Three!") == [
        "One.",
        "Two is longer than sixteen chars. Three!",
    ]
    assert split_sentences("no terminal punctuation") == ["no terminal punctuation"]
    assert "sintra" in " ".join(key_phrases(text))


class _Paraphraser:
    def augment(self, texts: list[str]) -> list[list[str]]:
        return [[f"paraphrase of: {t}"] for t in texts]


def test_augmenter_adds_paraphrase_cues(encoder: HashingEncoder) -> None:
    memory = HippoMemory(None, encoder=encoder, augmenter=_Paraphraser(), config=HippoConfig(code_dim=1024, code_k=16))
    memory_id = memory.remember("Hank fixed the sink")
    assert any(c.kind == "paraphrase" for c in memory.get(memory_id).cues)


def test_stats_and_repr(mem: HippoMemory) -> None:
    mem.remember_many(FACTS, session="s")
    stats = mem.stats()
    assert stats["memories"] == 5 and stats["links"] == 8 and stats["namespaces"] == 1
    assert stats["engine_bytes"] > 0
    assert "memories=5" in repr(mem)


def test_recall_vector_matches_recall(mem: HippoMemory, encoder: HashingEncoder) -> None:
    mem.remember_many(FACTS)
    vector = encoder.encode(["Dave bicycle"])[0]
    by_vector = mem.recall_vector(vector, query="Dave bicycle", k=3)
    assert mem.recall_vector(vector, k=3)[0].diagnostics.lexical_rank is None  # no text: vectors only
    by_text = mem.recall("Dave bicycle", k=3)
    assert [h.memory.id for h in by_vector] == [h.memory.id for h in by_text]
    np.testing.assert_allclose([h.score for h in by_vector], [h.score for h in by_text], rtol=1e-5)


def test_min_similarity_drops_unrelated_memories(mem: HippoMemory) -> None:
    mem.remember_many(FACTS)
    unfiltered = mem.recall("zebra quantum saxophone", k=3)
    assert len(unfiltered) == 3  # attention always picks something
    assert len(mem.recall("zebra quantum saxophone", k=3, min_similarity=0.5)) == 0
    related = mem.recall("Bob adopted a grey cat called Miso", k=3, min_similarity=0.5)
    assert [h.memory.text for h in related] == [FACTS[1]]
    with pytest.raises(InvalidInputError):
        mem.recall("cat", min_similarity=float("nan"))


def test_forget_namespace_removes_only_that_subtree(mem: HippoMemory) -> None:
    mem.remember_many(["a1", "a2"], namespace=("users", "alice"))
    mem.remember_many(["a3"], namespace=("users", "alice", "notes"))
    mem.remember("b1", namespace=("users", "bob"))
    assert mem.forget_namespace(("users", "alice")) == 3
    assert mem.forget_namespace(("users", "nobody")) == 0
    assert mem.namespaces() == [("users", "bob")]
    with pytest.raises(InvalidNamespaceError):
        mem.forget_namespace("users")


def test_validators_are_public() -> None:
    assert validate_namespace(["a", "b"]) == ("a", "b")
    with pytest.raises(InvalidNamespaceError):
        validate_namespace(("a.b",))
    validate_filter({"x": {"$gt": 1}})
    with pytest.raises(InvalidFilterError):
        validate_filter({"x": {"$like": 1}})


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({}, False),  # measured neutral on real conversations at ~5x the encodings
        ({"detect_supersession": True}, True),  # the supersession rule compares sentences
        ({"sentence_cues": True}, True),
        ({"detect_supersession": True, "sentence_cues": False}, False),
    ],
)
def test_sentence_cues_default_to_the_supersession_setting(
    encoder: HashingEncoder, update: dict[str, bool], expected: bool
) -> None:
    config = HippoConfig(code_dim=1024, code_k=16, durable=False, **update)
    with HippoMemory(None, encoder=encoder, config=config) as memory:
        memory_id = memory.remember("We went hiking near Sintra last weekend. The fog was thick all morning.")
        kinds = [cue.kind for cue in memory.get(memory_id).cues]
        assert ("sentence" in kinds) is expected


def test_records_and_cues_read_in_one_statement_match_the_two_reads(mem: HippoMemory) -> None:
    ids = mem.remember_many(
        [{"text": fact, "cues": [f"cue {i}"]} for i, fact in enumerate(FACTS)], namespace=("team", "x")
    )
    mem.update(ids[1], cues=["a new cue", "another"])  # its cues move to new rows
    part = mem._partition(mem.partition_key(("team", "x")))
    assert part is not None
    slots = sorted(part.id_slot.values())
    both = part.store.memories_with_cues([*slots, 999])
    records, cues = part.store.memories_by_slot(slots), part.store.cues_by_slot(slots)
    assert both == {s: (records[s], cues.get(s, [])) for s in slots}
    assert all([c.row for c in found] == sorted(c.row for c in found) for _, found in both.values())
    # the memory built from them names the partition's namespace, as the record's JSON does
    for memory in mem.list(("team",)):
        assert memory.namespace == ("team", "x") == mem.get(memory.id).namespace
        assert memory.cues == mem.get(memory.id).cues
