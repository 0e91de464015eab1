"""Shared memory on PostgreSQL under concurrency and faults (issue "Shared memory on PostgreSQL").

* Four processes write into one shared namespace and one namespace each at the same
  time while two others recall; afterwards every process recalls every committed
  memory by its own text, no recall ever returns a memory of another namespace, and
  the counts match exactly (4 x 120 in the default run, about 60 s on 2 cores, 4 x 2,000 under ``slow``).
* ``kill -9`` of a writer mid-batch: no partial batch is visible, no committed one lost.
* A connection dropped mid-write (``pg_terminate_backend``): a typed ``StoreError``,
  nothing half-written, and the engine's RAM state still matches the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import _postgres_server
import pytest

from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, MemoryNotFoundError, StoreError

psycopg = pytest.importorskip("psycopg")

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url

CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False, cue_variants=False)
WRITERS, READERS, BATCH = 4, 2, 20

# Shared by the workers and the parent: the memories writer ``w`` commits, each with a rare token.
_COMMON = textwrap.dedent(
    """
    import json, os, random, sys, time
    from hippo_memory import HashingEncoder, HippoConfig, HippoMemory, StoreError

    CONFIG = HippoConfig(code_dim=2048, code_k=32, durable=False, cue_variants=False)

    def planned(writer, count):
        # (id, namespace, text): even batches into the shared namespace, odd ones into the writer's own.
        out = []
        for j in range(count):
            ns = ("shared",) if (j // %(batch)d) %% 2 == 0 else ("own", f"w{writer}")
            text = f"writer {writer} wrote note {j} tag q{writer}z{j} about {random.Random(j).choice(WORDS)}"
            out.append((f"w{writer}-{j}", ns, text))
        return out

    WORDS = ["cello", "garden", "lisbon", "bees", "weather", "chess", "bread", "river"]

    def open_memory(url):
        return HippoMemory(url, encoder=HashingEncoder(256), config=CONFIG)

    def wait_for_writers(out, writers):
        while len([n for n in os.listdir(out) if n.startswith("written-")]) < writers:
            if any(n.startswith("failed-") for n in os.listdir(out)):
                sys.exit("a writer failed")
            time.sleep(0.05)

    def check_all(memory, writers, count):
        # Every planned memory is recalled first by its own text, in its own namespace.
        missing = []
        for w in range(writers):
            for id_, ns, text in planned(w, count):
                hits = memory.recall(text, namespace=ns, k=1)
                if not hits or hits[0].memory.id != id_:
                    missing.append(id_)
        return missing
    """
) % {"batch": BATCH}

_WORKER = _COMMON + textwrap.dedent(
    """
    role, url, index, writers, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    def _failed(kind, value, tb, _hook=sys.excepthook):
        open(os.path.join(out, f"failed-{role}-{index}"), "w").close()
        _hook(kind, value, tb)
    sys.excepthook = _failed
    report = {"role": role, "index": index, "wrong_namespace": [], "recalls": 0, "missing": None}
    with open_memory(url) as memory:
        if role == "writer":
            plan = planned(index, count)
            report["gave_up"] = 0
            for start in range(0, count, %(batch)d):
                batch = plan[start : start + %(batch)d]
                while True:
                    try:
                        memory.remember_many([{"id": i, "text": t} for i, _, t in batch], namespace=batch[0][1])
                        break
                    except StoreError as exc:  # see test_a_writer_outpaced_by_other_processes_retries_until_it_writes
                        if "gave up" not in str(exc):
                            raise
                        report["gave_up"] += 1
            with open(os.path.join(out, f"written-{index}"), "w") as f:
                f.write("ok")
        else:
            rng = random.Random(index)
            while len([n for n in os.listdir(out) if n.startswith("written-")]) < writers:
                if any(n.startswith("failed-") for n in os.listdir(out)):
                    sys.exit("a writer failed")
                w = rng.randrange(writers)
                ns = ("shared",) if rng.random() < 0.5 else ("own", f"w{w}")
                try:
                    hits = memory.recall(f"note tag {rng.choice(WORDS)} writer {w}", namespace=ns, k=10)
                except Exception as exc:  # nothing written yet in that namespace
                    if type(exc).__name__ != "NamespaceNotFoundError":
                        raise
                    continue
                report["recalls"] += 1
                for hit in hits:
                    owner = hit.memory.id.split("-")[0]
                    if tuple(hit.memory.namespace) != ns or (ns[0] == "own" and owner != ns[1]):
                        report["wrong_namespace"].append([hit.memory.id, list(ns)])
        wait_for_writers(out, writers)
        report["missing"] = check_all(memory, writers, count)
    with open(os.path.join(out, f"report-{role}-{index}.json"), "w") as f:
        json.dump(report, f)
    """
) % {"batch": BATCH}


def _run_workers(url: str, count: int, out: Path, timeout: float) -> list[dict[str, Any]]:
    roles = [("writer", i) for i in range(WRITERS)] + [("reader", i) for i in range(READERS)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, role, url, str(i), str(WRITERS), str(count), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role, i in roles
    ]
    failures = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode != 0:
            failures.append(err[-3000:])
    for proc in procs:
        if proc.poll() is None:  # pragma: no cover - cleanup after a failure
            proc.kill()
    assert not failures, "\n---\n".join(failures)
    reports = [json.loads(path.read_text()) for path in sorted(out.glob("report-*.json"))]
    print({"gave_up": [r.get("gave_up") for r in reports if r["role"] == "writer"]})
    return reports


def _check_concurrent_writes(url: str, count: int, out: Path, timeout: float) -> None:
    reports = _run_workers(url, count, out, timeout)
    assert len(reports) == WRITERS + READERS
    for report in reports:
        assert report["missing"] == [], (report["role"], report["index"], report["missing"][:10])
        assert report["wrong_namespace"] == [], report
    assert all(r["recalls"] > 0 for r in reports if r["role"] == "reader")  # they recalled during the writes
    shared = sum(1 for j in range(count) if (j // BATCH) % 2 == 0)
    with HippoMemory(url, encoder=HashingEncoder(256), config=CONFIG) as memory:
        assert memory.count(("shared",)) == WRITERS * shared
        for w in range(WRITERS):
            assert memory.count(("own", f"w{w}")) == count - shared
            assert {m.id for m in memory.list(("own", f"w{w}"))} == {
                f"w{w}-{j}" for j in range(count) if (j // BATCH) % 2 == 1
            }
        assert memory.count() == WRITERS * count


def test_four_writers_and_two_readers_share_one_memory(postgres_url: str, tmp_path: Path) -> None:
    _check_concurrent_writes(postgres_url, 120, tmp_path, timeout=300)


@pytest.mark.slow
def test_four_writers_of_2000_memories_and_two_readers(postgres_url: str, tmp_path: Path) -> None:
    _check_concurrent_writes(postgres_url, 2000, tmp_path, timeout=1800)


# ---------------------------------------------------------------------------- kill -9
_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
    config = HippoConfig(code_dim=2048, code_k=32, durable=True, cue_variants=False)
    with HippoMemory(sys.argv[1], encoder=HashingEncoder(256), config=config) as memory:
        for b in range(10_000):
            memory.remember_many(
                [{"id": f"b{b}-{i}", "text": f"batch {b} item {i} tag x{b}y{i}"} for i in range(200)],
                namespace=("crash",),
            )
            print(b, flush=True)
    """
)


def test_kill_9_mid_batch_leaves_no_partial_batch_and_loses_nothing_committed(postgres_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, postgres_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    committed = []
    assert proc.stdout is not None
    for line in proc.stdout:
        committed.append(int(line))
        if len(committed) == 3:
            time.sleep(0.05)  # into the next batch's write
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    with HippoMemory(postgres_url, encoder=HashingEncoder(256), config=CONFIG) as memory:
        visible = {m.id for m in memory.list(("crash",))}
        batches = {id_.split("-")[0] for id_ in visible}
        assert {f"b{b}" for b in committed} <= batches  # nothing committed is lost
        assert visible == {f"{b}-{i}" for b in batches for i in range(200)}  # every batch whole
        assert memory.count(("crash",)) == len(visible)
        for b in committed:
            assert memory.recall(f"batch {b} item 7 tag x{b}y7", namespace=("crash",), k=1)[0].memory.id == f"b{b}-7"
        memory.remember("written after the crash", namespace=("crash",), id="after")  # the lock was released
        assert memory.count(("crash",)) == len(visible) + 1


# ---------------------------------------------------------------------------- a dropped connection
def _terminate_on_first(storage: Any, method: str, server_url: str) -> None:
    """Make the next ``storage.<method>`` inside a transaction lose its connection first (pg_terminate_backend)."""
    original = getattr(storage, method)
    fired = []

    def dropping(*args: Any, **kwargs: Any) -> Any:
        if not fired and storage.in_transaction():
            fired.append(True)
            pid = storage._local.conn.info.backend_pid
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return original(*args, **kwargs)

    setattr(storage, method, dropping)


@pytest.mark.parametrize("method", ["execute_many", "copy"])
def test_a_connection_dropped_mid_write_is_a_store_error_and_nothing_is_half_written(
    postgres_url: str, method: str
) -> None:
    with HippoMemory(postgres_url, encoder=HashingEncoder(256), config=CONFIG) as memory:
        first = memory.remember_many([f"first note {i} tag f{i}" for i in range(30)], namespace=("n",), session="s")
        _terminate_on_first(memory.storage, method, postgres_url)
        with pytest.raises(StoreError) as raised:
            memory.remember_many(
                [{"id": f"lost-{i}", "text": f"lost note {i} tag l{i}"} for i in range(30)],
                namespace=("n",),
                session="s",
            )
        assert type(raised.value) is StoreError or isinstance(raised.value, StoreError)
        assert "\n" not in str(raised.value)
        # RAM and database agree: nothing of the failed batch, everything before it.
        assert memory.count(("n",)) == 30
        assert [m.id for m in memory.list(("n",))] == first
        with pytest.raises(MemoryNotFoundError):
            memory.get("lost-0")
        assert memory.recall("first note 7 tag f7", namespace=("n",), k=1)[0].memory.id == first[7]
        hits = memory.recall("lost note 3 tag l3", namespace=("n",), k=30)
        assert all(not hit.memory.id.startswith("lost") for hit in hits)
        # The pool replaced the dead connection: the same write now succeeds and links to the session's tail.
        again = memory.remember_many(
            [{"id": f"lost-{i}", "text": f"lost note {i} tag l{i}"} for i in range(30)], namespace=("n",), session="s"
        )
        assert memory.count(("n",)) == 60
        assert memory.recall("lost note 3 tag l3", namespace=("n",), k=1)[0].memory.id == again[3]
        assert "lost-0" in {target for target, _ in memory.associations(first[-1])}
    with HippoMemory(postgres_url, encoder=HashingEncoder(256), config=CONFIG) as memory:  # a fresh process's view
        assert [m.id for m in memory.list(("n",))] == first + again


# ---------------------------------------------------------------------------- a writer outpaced by others
def test_a_writer_outpaced_by_other_processes_retries_until_it_writes(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hippo_memory._postgres_partition import PostgresPartition

    with (
        HippoMemory(postgres_url, encoder=HashingEncoder(256), config=CONFIG) as slow,
        HippoMemory(postgres_url, encoder=HashingEncoder(256), config=CONFIG) as fast,
    ):
        slow.remember("the first note", namespace=("shared",))
        lock_for_write = PostgresPartition.lock_for_write
        others = []

        def outpaced(part: PostgresPartition) -> None:
            # Another process commits to the partition just before this one takes the lock, every time.
            if part._storage is slow.storage and len(others) < 20:
                others.append(fast.remember(f"another process's note {len(others)}", namespace=("shared",)))
            lock_for_write(part)

        monkeypatch.setattr(PostgresPartition, "lock_for_write", outpaced)
        written = slow.remember("the slow process's note", namespace=("shared",))
        assert slow.get(written).text == "the slow process's note"
