"""Namespace isolation: recall in one namespace never returns another's memories."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, InvalidInputError

USERS = ["alice", "bob", "carol"]


def _fill(memory: HippoMemory) -> dict[str, set[str]]:
    owned: dict[str, set[str]] = {}
    for user in USERS:
        texts = [f"{topic} note shared by everyone" for topic in ("travel", "food", "work", "music")]
        owned[user] = set(memory.remember_many(texts, namespace=("users", user), session="s"))
    return owned


@pytest.mark.parametrize("index", ["exact", "ivf"])
def test_recall_and_chains_stay_inside_their_namespace(index: str) -> None:
    memory = HippoMemory(None, encoder=HashingEncoder(64), config=HippoConfig(index=index, code_dim=1024, code_k=16))
    owned = _fill(memory)
    memory.remember_many([f"filler {i} travel food" for i in range(400)], namespace=("filler",))
    for user in USERS:
        for query in ("travel note", "food note shared by everyone", "music", "filler travel"):
            hits = memory.recall(query, namespace=("users", user), k=10)
            assert hits and {h.memory.id for h in hits} <= owned[user]
            chain = memory.recall_chain(query, namespace=("users", user), hops=5)
            assert {h.memory.id for h in chain} <= owned[user]
    everyone = set().union(*owned.values())
    assert {h.memory.id for h in memory.recall("travel note", namespace=("users",), k=12)} <= everyone


def test_identical_texts_in_two_namespaces_do_not_leak() -> None:
    memory = HippoMemory(None, encoder=HashingEncoder(64), config=HippoConfig(code_dim=1024, code_k=16))
    a = memory.remember("my password hint is the cat", namespace=("a",))
    b = memory.remember("my password hint is the cat", namespace=("b",))
    assert [h.memory.id for h in memory.recall("password hint", namespace=("a",), k=5)] == [a]
    assert [h.memory.id for h in memory.recall("password hint", namespace=("b",), k=5)] == [b]


def test_cross_namespace_links_are_not_followed() -> None:
    memory = HippoMemory(None, encoder=HashingEncoder(64), config=HippoConfig(code_dim=1024, code_k=16))
    a = memory.remember("alpha in namespace one", namespace=("one",))
    b = memory.remember("beta in namespace two", namespace=("two",))
    with pytest.raises(InvalidInputError):  # an association never joins two namespaces
        memory.associate(a, b)
    assert [m.id for m in memory.recall_chain("alpha", namespace=("one",), hops=2).memories] == [a]
    assert [m.id for m in memory.recall_chain("alpha", hops=2).memories] == [a]


def test_prefix_does_not_match_partial_labels() -> None:
    memory = HippoMemory(None, encoder=HashingEncoder(64), config=HippoConfig(code_dim=1024, code_k=16))
    memory.remember("belongs to user 1", namespace=("user1",))
    memory.remember("belongs to user 10", namespace=("user10",))
    assert [h.memory.text for h in memory.recall("belongs", namespace=("user1",), k=5)] == ["belongs to user 1"]


@settings(max_examples=20, deadline=None)
@given(assignments=st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), st.integers(0, 30)), min_size=1, max_size=25))
def test_isolation_property(assignments: list[tuple[str, int]]) -> None:
    memory = HippoMemory(None, encoder=HashingEncoder(32), config=HippoConfig(code_dim=1024, code_k=16))
    owner: dict[str, str] = {}
    for ns, n in assignments:
        owner[memory.remember(f"item {n} words {n % 5}", namespace=(ns,))] = ns
    for ns in {ns for ns, _ in assignments}:
        for hit in memory.recall("item words 3", namespace=(ns,), k=50):
            assert owner[hit.memory.id] == ns
