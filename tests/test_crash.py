"""Crash harness: SIGKILL a writer at a random moment; the store must be before or after.

A worker process (``tests/_crash_worker.py``) opens a copy of a directory store and
runs one write path; the test kills it with SIGKILL after a random delay, or lets
the engine kill itself at a named point (``HIPPO_MEMORY_FAULT``). Reopened, the
store must hold exactly the memories (id, text, namespace, metadata) of the state
before the write or of the state after it, recall must work, and a further write
must succeed. The default run does two kills per write path and two fault points;
``-m slow`` does 100 kills per path and every fault point.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory

sys.path.insert(0, str(Path(__file__).parent))
from _crash_worker import DIM, run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

WORKER = Path(__file__).with_name("_crash_worker.py")
OPERATIONS = ["remember_many", "update", "forget", "associate", "consolidate", "forget_namespace"]
FAULT_POINTS = [
    "consolidate:planned",
    "consolidate:in-transaction",
    "consolidate:appended",
    "consolidate:committed",
    "compact:written",
    "compact:remapped",
    "compact:committed",
]

State = tuple[frozenset[tuple[str, str, tuple[str, ...], str]], tuple[tuple[str, float], ...]]


def _state(path: Path) -> State:
    with HippoMemory(path, encoder=HashingEncoder(dim=DIM)) as memory:
        memories = frozenset(
            (m.id, m.text, tuple(m.namespace), json.dumps(dict(m.metadata), sort_keys=True)) for m in memory.list()
        )
        first = memory.list(("a",), limit=1)
        links = tuple((target, round(strength, 6)) for target, strength in memory.associations(first[0].id))
        return memories, links


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with sessions, links, updated and forgotten memories (dead rows to compact)."""
    path = tmp_path_factory.mktemp("crash") / "base"
    config = HippoConfig(code_dim=2048, code_k=32, compact_dead_fraction=0.05)
    with HippoMemory(path, encoder=HashingEncoder(dim=DIM), config=config) as memory:
        a = memory.remember_many(
            [f"alpha memory {i} of topic {i % 5}" for i in range(30)], namespace=("a",), session="s"
        )
        b = memory.remember_many(
            [{"text": f"beta memory {i}", "metadata": {"i": i, "tags": ["x", i]}} for i in range(20)],
            namespace=("b",),
        )
        for memory_id in a[20:26]:
            memory.update(memory_id, text=f"alpha memory {memory_id[:4]} rewritten")
        memory.forget(a[26:] + b[15:])
        memory.associate(a[0], a[5], strength=0.5)
    return path


@pytest.fixture(scope="module")
def expected(base_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[State, State]]:
    """(before, after) per write path; after is the state of an uninterrupted run."""
    out: dict[str, tuple[State, State]] = {}
    before = _state(base_store)
    for operation in OPERATIONS:
        path = tmp_path_factory.mktemp("after") / operation
        shutil.copytree(base_store, path)
        run(str(path), operation)
        out[operation] = (before, _state(path))
        if operation == "consolidate":  # decayed links differ from run to run; compare memories only
            out[operation] = ((before[0], ()), (_state(path)[0], ()))
        elif operation != "associate":
            assert out[operation][1][0] != before[0], f"{operation} changed nothing to crash in"
    return out


def _trial(base: Path, tmp_path: Path, operation: str, *, delay: float | None, fault: str | None) -> Any:
    path = tmp_path / f"trial-{random.getrandbits(32)}"
    shutil.copytree(base, path)
    env = dict(os.environ)
    if fault is not None:
        env["HIPPO_MEMORY_FAULT"] = fault
    with subprocess.Popen(
        [sys.executable, str(WORKER), str(path), operation],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as worker:
        assert worker.stdout is not None and worker.stderr is not None
        ready = worker.stdout.readline()
        if ready.strip() != "ready":
            worker.wait(timeout=60)
            pytest.fail(f"worker did not start: {worker.stderr.read()}")
        if delay is not None:
            try:
                worker.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                worker.send_signal(signal.SIGKILL)
        returncode = worker.wait(timeout=120)
        stderr = worker.stderr.read()
    assert returncode in (0, -signal.SIGKILL), f"worker failed without being killed: {stderr}"
    return path, returncode


def _check_after_crash(path: Path, before: State, after: State) -> str:
    state = _state(path)
    if before[1] == after[1]:  # links are not what this path writes (consolidation decays them by the clock)
        state, before, after = (state[0], ()), (before[0], ()), (after[0], ())
    assert state in (before, after), "the store is neither the state before nor after the write"
    with HippoMemory(path, encoder=HashingEncoder(dim=DIM)) as memory:
        assert memory.recall("alpha memory", k=3).hits, "recall found nothing after the crash"
        new_id = memory.remember("written after the crash", namespace=("a",))
        assert memory.get(new_id).text == "written after the crash"
        assert memory.count() == len(state[0]) + 1
    with HippoMemory(path, encoder=HashingEncoder(dim=DIM)) as memory:
        assert memory.get(new_id).text == "written after the crash"
    return "before" if state == before else "after"


def _kills(base: Path, tmp_path: Path, operation: str, trials: int, states: tuple[State, State]) -> None:
    rng = random.Random(f"{operation}-{trials}")
    for _ in range(trials):
        # The write itself takes milliseconds to a few hundred (a close included):
        # delays spread over that window, with some kills before it starts.
        delay = rng.choice([0.0, rng.uniform(0, 0.05), rng.uniform(0, 0.4)])
        path, _ = _trial(base, tmp_path, operation, delay=delay, fault=None)
        _check_after_crash(path, *states)
        shutil.rmtree(path)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_sigkill_during_write_leaves_before_or_after(
    operation: str, base_store: Path, expected: dict[str, tuple[State, State]], tmp_path: Path
) -> None:
    _kills(base_store, tmp_path, operation, 2, expected[operation])


@pytest.mark.slow
@pytest.mark.parametrize("operation", OPERATIONS)
def test_sigkill_during_write_many_trials(
    operation: str, base_store: Path, expected: dict[str, tuple[State, State]], tmp_path: Path
) -> None:
    _kills(base_store, tmp_path, operation, 100, expected[operation])


@pytest.mark.parametrize(
    "fault",
    [
        p if p in ("consolidate:in-transaction", "compact:remapped") else pytest.param(p, marks=pytest.mark.slow)
        for p in FAULT_POINTS
    ],
)
def test_kill_at_consolidation_fault_point(
    fault: str, base_store: Path, expected: dict[str, tuple[State, State]], tmp_path: Path
) -> None:
    path, returncode = _trial(base_store, tmp_path, "consolidate", delay=None, fault=fault)
    assert returncode == -signal.SIGKILL, f"fault point {fault} was never reached"
    _check_after_crash(path, *expected["consolidate"])
