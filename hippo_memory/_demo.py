"""``hippo-memory demo``: a short multi-session conversation, recalled two ways."""

from __future__ import annotations

import os
import time

__all__ = ["DEMO_SESSIONS", "run_demo"]

DEMO_SESSIONS: list[tuple[str, str, list[str]]] = [
    (
        "session-1",
        "2024-03-02T18:30:00",
        [
            "user: I just adopted a rescue greyhound named Pixel.",
            "assistant: Congratulations! Greyhounds are gentle and love short sprints.",
            "user: My sister Dana helped me pick him at the shelter in Porto.",
        ],
    ),
    (
        "session-2",
        "2024-04-10T09:15:00",
        [
            "user: Dana is training for the Lisbon marathon in October.",
            "user: She asked me to look after Pixel during the race weekend.",
            "assistant: Noted. I can remind you a week before the marathon.",
        ],
    ),
    (
        "session-3",
        "2024-05-21T20:05:00",
        [
            "user: I started pottery classes on Thursdays with my colleague Rui.",
            "user: Rui's studio is next to the old tram depot.",
        ],
    ),
]


def run_demo(path: str | None = None, *, encoder: str | None = None) -> int:
    """Store the demo conversation and print a single-hop recall and a chain.

    Args:
        path: Store directory; default ``$HIPPO_MEMORY_STORE`` or ``./.hippo``.
        encoder: Model name or path; default all-MiniLM-L6-v2 (bundled, offline).
    """
    from ._memory import HippoMemory  # torch: imported only when the demo runs

    path = path or os.environ.get("HIPPO_MEMORY_STORE", ".hippo")
    namespace = ("demo", "me")
    with HippoMemory(path, encoder=encoder) as mem:
        existing = mem.list(namespace)
        if existing:
            mem.forget([m.id for m in existing])
        started = time.perf_counter()
        ids: dict[str, list[str]] = {}
        for session, date, turns in DEMO_SESSIONS:
            ids[session] = mem.remember_many(turns, namespace=namespace, session=session, timestamp=date)
        # The same person links two sessions: an explicit association, as an agent
        # (or a consolidation pass) would add it.
        mem.associate(ids["session-1"][2], ids["session-2"][0])
        print(
            f"Stored {mem.count(namespace)} memories from {len(DEMO_SESSIONS)} sessions "
            f"in {os.path.abspath(path)} ({time.perf_counter() - started:.1f} s, encoder {mem.encoder.name})."
        )

        question = "What kind of dog did I get?"
        result = mem.recall(question, namespace=namespace, k=3)
        print(f"\nSingle-hop recall for a paraphrased question: {question!r}")
        for hit in result:
            print(
                f"  {hit.rank + 1}. [{hit.score:.3f}] {hit.memory.text}   (best cue: {hit.diagnostics.best_cue.kind})"
            )
        print(
            f"  recall took {result.timings_ms['total'] - result.timings_ms['encode']:.2f} ms after "
            f"{result.timings_ms['encode']:.1f} ms of query encoding"
        )

        question = "Which family member came to the shelter with me?"
        chain = mem.recall_chain(question, hops=3, namespace=namespace)
        print(f"\nMulti-hop chain for: {question!r}")
        for hop in chain:
            print(f"  hop {hop.hop} [{hop.score:.2f}] {hop.memory.text}")
        print(f"  (stopped: {chain.stop_reason})")
    return 0
