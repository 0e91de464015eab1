"""``hippo-memory bench shared``: one memory shared by processes on PostgreSQL, beside the SQLite directory store.

On a throwaway local server (:mod:`._pg_server`, or ``--url``) and on a SQLite store
directory, in the same run:

* write throughput with 1 and 4 writer processes (each into a tenant of its own;
  a SQLite directory admits one process, so it has the 1-writer figure only);
* recall p50/p95 in a warm partition (each memory's own text as the query), the
  SQLite engine, a PostgreSQL engine and a PostgreSQL engine with
  ``change_notifications`` answering the same queries in turn; once with each query
  asked once, once with 20 queries asked again in turn (the record cache's case);
* catch-up latency (PostgreSQL): from a write returning in one engine to its first
  recall by another engine that held the partition warm (two engines, two
  connection pools, one process), also with the reader listening for changes;
* catch-up by partition size (PostgreSQL, ``--catch-up-sizes``): the same, in
  partitions of 1,000 and 10,000 memories, once applying the change log
  (incremental, what the engine does) and once forced to reload the partition in
  full (what it did before the change log, and still does when the log cannot serve),
  beside a warm recall that needs no catch-up;
* cold load: the first recall of a 10,000-memory partition in a fresh engine;
* a scale point (PostgreSQL): ``--memories`` across ``--tenants``, then a fresh
  engine process with a 500 MB partition budget recalls in every tenant and
  reports recall p50 in a warm tenant and its RSS.

Everything uses :class:`~hippo_memory.HashingEncoder` (fast, deterministic; the
table says so), ``cue_variants=False`` and non-durable commits on both backends.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._args import positive_int

__all__ = ["register_command", "run"]

ENCODER_DIM = 256
_CONFIG = {"cue_variants": False, "durable": False}

# A writer process: writes `count` memories per tenant in batches, prints its loop's wall times.
_WRITER = """
import json, sys, time
from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
spec = json.loads(sys.argv[1])
config = HippoConfig(**spec["config"])
with HippoMemory(spec["store"], encoder=HashingEncoder(spec["dim"]), config=config) as memory:
    started = time.time()
    for tenant in spec["tenants"]:
        for start in range(0, spec["count"], spec["batch"]):
            memory.remember_many(
                [f"tenant {tenant} note {j}: token t{tenant}n{j} {WORDS[j % len(WORDS)]}"
                 for j in range(start, min(start + spec["batch"], spec["count"]))],
                namespace=("tenants", str(tenant)),
            )
    print(json.dumps({"started": started, "ended": time.time()}))
""".replace("WORDS", repr(["cello", "garden", "lisbon", "bees", "weather", "chess", "bread", "river"]))

# A fresh engine process with a partition budget: touch every tenant, then time recalls in a warm one.
_SCALE_PROBE = """
import json, resource, sys, time
from hippo_memory import HashingEncoder, HippoConfig, HippoMemory
spec = json.loads(sys.argv[1])
config = HippoConfig(**spec["config"], partition_budget_mb=spec["budget_mb"])
with HippoMemory(spec["store"], encoder=HashingEncoder(spec["dim"]), config=config) as memory:
    started = time.perf_counter()
    for tenant in range(spec["tenants"]):
        memory.recall("note token", namespace=("tenants", str(tenant)), k=5)
    touched = time.perf_counter() - started
    rss_mb = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**20
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The same warm tenant in a second engine that listens for changes, recalls interleaved.
    listening = HippoMemory(spec["store"], encoder=HashingEncoder(spec["dim"]),
                            config=config.model_copy(update={"change_notifications": True}))
    warm, times = ("tenants", "0"), {"check": [], "notify": []}
    for j in range(spec["recalls"] + 20):
        for mode, engine in (("check", memory), ("notify", listening)):
            t0 = time.perf_counter()
            engine.recall(f"tenant 0 note {j % spec['per_tenant']}: token t0n{j % spec['per_tenant']}", namespace=warm, k=5)
            if j >= 20:
                times[mode].append((time.perf_counter() - t0) * 1e3)
    listening.close()
    for mode in times:
        times[mode].sort()
    print(json.dumps({"touch_all_s": touched, "recall_p50_ms": times["check"][len(times["check"]) // 2],
                      "recall_p95_ms": times["check"][int(len(times["check"]) * 0.95)],
                      "notify_p50_ms": times["notify"][len(times["notify"]) // 2],
                      "notify_p95_ms": times["notify"][int(len(times["notify"]) * 0.95)],
                      "rss_mb": rss_mb, "peak_rss_mb": peak_mb}))
"""


def _config(**extra: Any) -> Any:
    from .._config import HippoConfig

    return HippoConfig(**_CONFIG, **extra)


def _percentiles(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    return {"p50_ms": ordered[len(ordered) // 2], "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]}


def _writers(store: str, processes: int, count: int, batch: int, first_tenant: int) -> dict[str, float]:
    """``processes`` writer processes, each writing ``count`` memories into a tenant of its own."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                json.dumps(
                    {
                        "store": store,
                        "dim": ENCODER_DIM,
                        "config": _CONFIG,
                        "tenants": [first_tenant + p],
                        "count": count,
                        "batch": batch,
                    }
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(processes)
    ]
    spans = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a writer process failed: {err[-2000:]}")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(s["ended"] for s in spans) - min(s["started"] for s in spans)
    return {
        "processes": processes,
        "memories": processes * count,
        "seconds": seconds,
        "per_s": processes * count / seconds,
    }


def _text(tenant: int, j: int) -> str:
    words = ["cello", "garden", "lisbon", "bees", "weather", "chess", "bread", "river"]
    return f"tenant {tenant} note {j}: token t{tenant}n{j} {words[j % len(words)]}"


def _recall_times(memory: Any, tenant: int, count: int, recalls: int) -> list[float]:
    namespace = ("tenants", str(tenant))
    for j in range(min(20, count)):  # warm: loaded, caches filled
        memory.recall(_text(tenant, j), namespace=namespace, k=5)
    times = []
    for i in range(recalls):
        j = (i * 7919) % count
        started = time.perf_counter()
        memory.recall(_text(tenant, j), namespace=namespace, k=5)
        times.append((time.perf_counter() - started) * 1e3)
    return times


def _warm_recalls(stores: dict[str, str], count: int, recalls: int) -> dict[str, dict[str, dict[str, float]]]:
    """Recall p50/p95 in tenant 0 of each store, the engines answering the same queries in turn (one process).

    ``postgres+notify`` is a second engine on the PostgreSQL store with
    ``change_notifications=True``. Interleaving puts every engine under the same
    machine load, so their ratios hold on a noisy machine. Two workloads:
    ``distinct`` (each query once: ``recalls`` memories' own texts spread over the
    tenant) and ``repeated`` (the 20 warm-up queries asked again in turn, as an agent
    returning to its topics; the PostgreSQL engines' record cache then holds their hits).

    Returns:
        ``{"distinct" | "repeated": {engine: {"p50_ms", "p95_ms"}}}``.
    """
    from .. import HashingEncoder, HippoMemory

    engines = {
        name: HippoMemory(store, encoder=HashingEncoder(ENCODER_DIM), config=_config(**extra))
        for name, (store, extra) in {
            "sqlite": (stores["sqlite"], {}),
            "postgres": (stores["postgres"], {}),
            "postgres+notify": (stores["postgres"], {"change_notifications": True}),
        }.items()
    }
    namespace = ("tenants", "0")
    workloads = {
        "distinct": [(i * 7919) % count for i in range(recalls)],
        "repeated": [i % 20 for i in range(recalls)],
    }
    out: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for j in range(20):  # warm: loaded, caches filled
            for memory in engines.values():
                memory.recall(_text(0, j), namespace=namespace, k=5)
        for workload, queries in workloads.items():
            times: dict[str, list[float]] = {name: [] for name in engines}
            for j in queries:
                for name, memory in engines.items():
                    started = time.perf_counter()
                    memory.recall(_text(0, j), namespace=namespace, k=5)
                    times[name].append((time.perf_counter() - started) * 1e3)
            out[workload] = {name: _percentiles(values) for name, values in times.items()}
    finally:
        for memory in engines.values():
            memory.close()
    return out


def _cold_load(store: str, cold: int) -> dict[str, float]:
    """Write ``cold`` memories into one tenant, reopen, and time its first recall (the load) and a warm one."""
    from .. import HashingEncoder, HippoMemory

    tenant = 900_000
    with HippoMemory(store, encoder=HashingEncoder(ENCODER_DIM), config=_config()) as memory:
        for start in range(0, cold, 500):
            memory.remember_many(
                [_text(tenant, j) for j in range(start, min(start + 500, cold))], namespace=("tenants", str(tenant))
            )
    with HippoMemory(store, encoder=HashingEncoder(ENCODER_DIM), config=_config()) as memory:
        started = time.perf_counter()
        memory.recall(_text(tenant, 1), namespace=("tenants", str(tenant)), k=5)
        first = time.perf_counter() - started
        warm = statistics.median(_recall_times(memory, tenant, cold, 20)) / 1e3
    return {"memories": cold, "first_recall_s": first, "load_s": first - warm}


def _catch_up(url: str, rounds: int, *, notify: bool = False) -> dict[str, float]:
    """Two engines on one database: B holds the tenant warm; A writes; time until B recalls A's memory.

    ``notify``: B listens for changes (``change_notifications``); its recalls right after
    the write may not return the memory yet (``max_recall_calls`` says how many it took).
    """
    from .. import HashingEncoder, HippoMemory

    tenant = 800_000 + int(notify)
    namespace = ("tenants", str(tenant))
    with (
        HippoMemory(url, encoder=HashingEncoder(ENCODER_DIM), config=_config()) as writer,
        HippoMemory(url, encoder=HashingEncoder(ENCODER_DIM), config=_config(change_notifications=notify)) as reader,
    ):
        writer.remember_many([_text(tenant, j) for j in range(1000)], namespace=namespace)
        _recall_times(reader, tenant, 1000, 5)
        latencies, calls = [], []
        for r in range(rounds):
            text = f"catch-up round {r} token c{r}x"
            written = writer.remember(text, namespace=namespace)
            started, tries = time.perf_counter(), 0
            while True:
                tries += 1
                hits = reader.recall(text, namespace=namespace, k=1)
                if hits and hits[0].memory.id == written:
                    break
            latencies.append((time.perf_counter() - started) * 1e3)
            calls.append(tries)
    return {**_percentiles(latencies), "rounds": rounds, "max_recall_calls": max(calls)}


def _catch_up_sweep(url: str, sizes: list[int], rounds: int) -> list[dict[str, Any]]:
    """Catch-up in partitions of each size: incremental (the change log) against a forced full reload.

    For each size, B holds a tenant of that many memories warm; each round A writes one
    memory and B's next recall (which must return it) is timed. ``full`` forces every
    catch-up to reload the partition (at most 0 commits are applied one by one).
    """
    from .. import HashingEncoder, HippoMemory, _postgres_partition

    out = []
    for n, size in enumerate(sizes):
        tenant = 900_000 + n
        namespace = ("tenants", str(tenant))
        with (
            HippoMemory(url, encoder=HashingEncoder(ENCODER_DIM), config=_config()) as writer,
            HippoMemory(url, encoder=HashingEncoder(ENCODER_DIM), config=_config()) as reader,
        ):
            for start in range(0, size, 500):
                writer.remember_many(
                    [_text(tenant, j) for j in range(start, min(start + 500, size))], namespace=namespace
                )
            row: dict[str, Any] = {
                "memories": size,
                "warm_recall": _percentiles(_recall_times(reader, tenant, size, rounds)),
            }
            part = reader._loaded[namespace]
            keep = _postgres_partition.MAX_CATCH_UP_COMMITS
            for mode in ("incremental", "full"):
                _postgres_partition.MAX_CATCH_UP_COMMITS = keep if mode == "incremental" else 0
                before = dict(part.catch_ups)
                latencies = []
                try:
                    for r in range(rounds):
                        text = f"sweep {mode} round {r} token s{r}{mode[0]}x"
                        written = writer.remember(text, namespace=namespace)
                        started = time.perf_counter()
                        hits = reader.recall(text, namespace=namespace, k=1)
                        latencies.append((time.perf_counter() - started) * 1e3)
                        if not hits or hits[0].memory.id != written:
                            raise RuntimeError(f"catch-up ({mode}) did not recall the memory just written")
                finally:
                    _postgres_partition.MAX_CATCH_UP_COMMITS = keep
                done = {k: part.catch_ups[k] - before[k] for k in before}
                row[mode] = {**_percentiles(latencies), "catch_ups": done}
            out.append(row)
    return out


def _scale(url: str, memories: int, tenants: int, budget_mb: float, recalls: int) -> dict[str, Any]:
    per_tenant = max(1, memories // tenants)
    writers = 4
    started = time.perf_counter()
    procs = []
    for w in range(writers):
        spec = {
            "store": url,
            "dim": ENCODER_DIM,
            "config": _CONFIG,
            "tenants": list(range(w, tenants, writers)),
            "count": per_tenant,
            "batch": min(per_tenant, 500),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a writer process failed: {err[-2000:]}")
    written_s = time.perf_counter() - started
    spec = {
        "store": url,
        "dim": ENCODER_DIM,
        "config": _CONFIG,
        "budget_mb": budget_mb,
        "tenants": tenants,
        "per_tenant": per_tenant,
        "recalls": recalls,
    }
    done = subprocess.run(
        [sys.executable, "-c", _SCALE_PROBE, json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the scale probe failed: {done.stderr[-2000:]}")
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "memories": per_tenant * tenants,
        "tenants": tenants,
        "write_s": written_s,
        "write_per_s": per_tenant * tenants / written_s,
        "budget_mb": budget_mb,
        **probe,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement; returns the results (also printed as a table and written as JSON)."""
    from ._pg_server import start_server, stop_server

    server = None
    url = args.url
    if url is None:
        server = start_server()
        url = server.create_database()
    workdir = Path(tempfile.mkdtemp(prefix="hippo-bench-shared-"))
    results: dict[str, Any] = {
        "encoder": f"HashingEncoder({ENCODER_DIM})",
        "config": _CONFIG,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "postgres": "throwaway local server (fsync=off)" if server else "given --url",
        "backends": {},
    }
    try:
        for backend, store in (("sqlite", str(workdir / "store")), ("postgres", url)):
            row: dict[str, Any] = {}
            row["write_1"] = _writers(store, 1, args.writes, args.batch, first_tenant=0)
            if backend == "postgres":
                row["write_4"] = _writers(store, 4, args.writes, args.batch, first_tenant=10)
            row["cold_load"] = _cold_load(store, args.cold)
            if backend == "postgres":
                row["catch_up"] = _catch_up(store, args.rounds)
                row["catch_up_notify"] = _catch_up(store, args.rounds, notify=True)
                sizes = [int(size) for size in args.catch_up_sizes.split(",") if size.strip()]
                row["catch_up_sizes"] = _catch_up_sweep(store, sizes, args.rounds)
            results["backends"][backend] = row
        warm = _warm_recalls({"sqlite": str(workdir / "store"), "postgres": url}, args.writes, args.recalls)
        for suffix, workload in (("", "distinct"), ("_repeated", "repeated")):
            results["backends"]["sqlite"]["recall_warm" + suffix] = warm[workload]["sqlite"]
            results["backends"]["postgres"]["recall_warm" + suffix] = warm[workload]["postgres"]
            results["backends"]["postgres"]["recall_warm_notify" + suffix] = warm[workload]["postgres+notify"]
        if args.memories:
            results["scale"] = _scale(url, args.memories, args.tenants, args.budget_mb, args.recalls)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if server is not None:
            stop_server(server)
    return results


def _table(results: dict[str, Any]) -> str:
    sq, pg = results["backends"]["sqlite"], results["backends"]["postgres"]
    ratio = pg["recall_warm"]["p50_ms"] / sq["recall_warm"]["p50_ms"]
    notify = pg["recall_warm_notify"]
    lines = [
        f"encoder {results['encoder']}, {results['config']}; {results['machine']}; PostgreSQL: {results['postgres']}",
        "",
        "| measure | SQLite directory | PostgreSQL |",
        "|---|---:|---:|",
        f"| write, 1 process ({sq['write_1']['memories']} memories) | {sq['write_1']['per_s']:.0f}/s "
        f"| {pg['write_1']['per_s']:.0f}/s |",
        f"| write, 4 processes ({pg['write_4']['memories']} memories, a tenant each) | one process per directory "
        f"| {pg['write_4']['per_s']:.0f}/s |",
        f"| recall p50 / p95, warm partition of {sq['write_1']['memories']} | {sq['recall_warm']['p50_ms']:.2f} / "
        f"{sq['recall_warm']['p95_ms']:.2f} ms | {pg['recall_warm']['p50_ms']:.2f} / {pg['recall_warm']['p95_ms']:.2f} ms"
        f" ({ratio:.2f}x) |",
        f"| the same, PostgreSQL engine with `change_notifications` | | {notify['p50_ms']:.2f} / "
        f"{notify['p95_ms']:.2f} ms ({notify['p50_ms'] / sq['recall_warm']['p50_ms']:.2f}x) |",
        f"| recall p50, 20 queries asked again in turn (record cache warm) | "
        f"{sq['recall_warm_repeated']['p50_ms']:.2f} ms | {pg['recall_warm_repeated']['p50_ms']:.2f} ms "
        f"({pg['recall_warm_repeated']['p50_ms'] / sq['recall_warm_repeated']['p50_ms']:.2f}x); with "
        f"`change_notifications` {pg['recall_warm_notify_repeated']['p50_ms']:.2f} ms "
        f"({pg['recall_warm_notify_repeated']['p50_ms'] / sq['recall_warm_repeated']['p50_ms']:.2f}x) |",
        f"| catch-up, write in A to recall in B (p50 / p95) | - | {pg['catch_up']['p50_ms']:.2f} / "
        f"{pg['catch_up']['p95_ms']:.2f} ms |",
        f"| the same, B with `change_notifications` (most recalls until seen) | - "
        f"| {pg['catch_up_notify']['p50_ms']:.2f} / {pg['catch_up_notify']['p95_ms']:.2f} ms "
        f"({pg['catch_up_notify']['max_recall_calls']}) |",
        f"| cold load of a {sq['cold_load']['memories']}-memory partition | {sq['cold_load']['load_s']:.3f} s "
        f"| {pg['cold_load']['load_s']:.3f} s |",
    ]
    if pg.get("catch_up_sizes"):
        lines += [
            "",
            "Catch-up by partition size (PostgreSQL; a write in A, then B's recall that returns it, "
            f"{pg['catch_up']['rounds']} rounds):",
            "",
            "| partition | warm recall p50 (no catch-up) | incremental catch-up + recall p50 / p95 "
            "| full reload + recall p50 / p95 |",
            "|---:|---:|---:|---:|",
        ]
        for row in pg["catch_up_sizes"]:
            inc, full = row["incremental"], row["full"]
            lines.append(
                f"| {row['memories']} | {row['warm_recall']['p50_ms']:.2f} ms | {inc['p50_ms']:.2f} / "
                f"{inc['p95_ms']:.2f} ms | {full['p50_ms']:.2f} / {full['p95_ms']:.2f} ms |"
            )
    if "scale" in results:
        sc = results["scale"]
        lines += [
            "",
            f"Scale point (PostgreSQL): {sc['memories']} memories across {sc['tenants']} tenants, written by 4 processes "
            f"in {sc['write_s']:.0f} s ({sc['write_per_s']:.0f}/s); one engine process, partition budget "
            f"{sc['budget_mb']:.0f} MB, after a recall in every tenant ({sc['touch_all_s']:.1f} s): recall p50 "
            f"{sc['recall_p50_ms']:.2f} ms (p95 {sc['recall_p95_ms']:.2f} ms) in a warm tenant, RSS "
            f"{sc['rss_mb']:.0f} MB (peak {sc['peak_rss_mb']:.0f} MB); the same tenant in an engine with "
            f"`change_notifications`, interleaved: p50 {sc['notify_p50_ms']:.2f} ms (p95 {sc['notify_p95_ms']:.2f} ms)",
        ]
    return "\n".join(lines)


def _command(args: argparse.Namespace) -> int:
    results = run(args)
    print(_table(results))
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")
    return 0


def register_command(bench: Any) -> None:
    """Add ``shared`` to the ``hippo-memory bench`` subcommands."""
    parser = bench.add_parser(
        "shared",
        help="PostgreSQL shared by processes beside the SQLite directory: writes, recall, catch-up, cold load, scale",
        description=(__doc__ or "").split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--url", help="an existing empty postgresql:// database (default: start a throwaway server)")
    parser.add_argument("--writes", type=positive_int, default=2000, help="memories per writer process")
    parser.add_argument("--batch", type=positive_int, default=50, help="memories per remember_many")
    parser.add_argument("--recalls", type=positive_int, default=200, help="timed recalls")
    parser.add_argument("--cold", type=positive_int, default=10_000, help="memories of the cold-loaded partition")
    parser.add_argument("--rounds", type=positive_int, default=30, help="catch-up measurements")
    parser.add_argument(
        "--catch-up-sizes",
        default="1000,10000",
        help="partition sizes of the catch-up sweep, comma-separated (empty skips it)",
    )
    parser.add_argument(
        "--memories", type=int, default=1_000_000, help="memories of the scale point (0 skips it; default 1,000,000)"
    )
    parser.add_argument("--tenants", type=positive_int, default=1000, help="tenants of the scale point")
    parser.add_argument("--budget-mb", type=float, default=500.0, help="partition budget of the scale probe")
    parser.add_argument("--json", dest="json_out", default="bench_results/shared.json")
    parser.set_defaults(func=_command)
