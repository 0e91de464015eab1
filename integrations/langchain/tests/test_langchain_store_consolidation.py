"""Consolidating the engine under a HippoStore never merges two items of a namespace."""

from __future__ import annotations

from hippo_memory import HippoMemory

from langchain_hippo_memory import HippoStore


def test_consolidation_keeps_two_keys_with_the_same_text(
    memory: HippoMemory, store: HippoStore
) -> None:
    store.put(("users", "alice"), "first", {"text": "likes green tea"})
    store.put(("users", "alice"), "second", {"text": "likes green tea"})
    report = memory.consolidate(full=True)
    assert report.merged == 0
    first, second = store.get(("users", "alice"), "first"), store.get(("users", "alice"), "second")
    assert first is not None and first.key == "first"
    assert second is not None and second.key == "second"
    assert sorted(item.key for item in store.search(("users", "alice"))) == ["first", "second"]


def test_the_engine_still_merges_true_duplicates(memory: HippoMemory) -> None:
    a = memory.remember("likes green tea", namespace=("users", "bob"), metadata={"source": "chat"})
    b = memory.remember("likes green tea", namespace=("users", "bob"), metadata={"source": "chat"})
    c = memory.remember("likes green tea", namespace=("users", "bob"), metadata={"source": "email"})
    assert memory.consolidate(full=True).merged == 1
    assert memory.get(b).id == a  # b lives on as an alias of a
    assert memory.get(c).id == c  # other metadata: another record, kept
