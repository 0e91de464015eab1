"""Crash-test worker: open a directory store, run one write path, report timing.

Run as ``python tests/_crash_worker.py STORE OPERATION``. It prints ``ready`` once
the store is open and ``done SECONDS`` after the write path returned and the store
was closed; the parent kills it with SIGKILL at a random moment in between (or sets
``HIPPO_MEMORY_FAULT`` to kill it at a named point inside the engine).
"""

from __future__ import annotations

import sys
import time

from hippo_memory import HashingEncoder, HippoMemory

DIM = 64
"""Dimension of the HashingEncoder every crash-test store uses."""

NEW_ITEMS = 120
"""Memories the remember_many path writes in one batch."""


def run(path: str, operation: str) -> None:
    memory = HippoMemory(path, encoder=HashingEncoder(dim=DIM))
    ids = [m.id for m in memory.list()]
    print("ready", flush=True)
    started = time.perf_counter()
    if operation == "remember_many":
        memory.remember_many(
            [
                {"text": f"new memory {i} about crash {i % 9}", "id": f"new-{i}", "metadata": {"i": i}}
                for i in range(NEW_ITEMS)
            ],
            namespace=("a",),
            session="crash",
        )
    elif operation == "update":
        memory.update(ids[3], text="rewritten after the crash test", metadata={"updated": True})
    elif operation == "forget":
        memory.forget(ids[:10])
    elif operation == "associate":
        memory.associate(ids[0], ids[1], strength=0.75, bidirectional=True)
    elif operation == "consolidate":
        memory.consolidate(compact=True)
    elif operation == "forget_namespace":
        memory.forget_namespace(("b",))
    else:
        raise SystemExit(f"unknown operation {operation!r}")
    memory.close()
    print(f"done {time.perf_counter() - started:.6f}", flush=True)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
