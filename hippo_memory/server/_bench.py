"""``hippo-memory bench serve``: throughput and latency of a served memory under concurrent clients.

Fills a fresh store with M memories, measures in-process recall as the baseline,
then starts ``hippo-memory serve`` in a subprocess on loopback and runs N client
threads for T seconds of mixed recall/remember. Prints a table and writes JSON.
Heavy modules (the engine, httpx) load only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["register_command", "run_bench"]

_WORDS = (
    "alice bob carol dana erin frank grace heidi ivan judy lisbon porto paris oslo cairo lima "
    "dog cat greyhound parrot cello oboe piano violin beach garden flat door lighthouse museum "
    "adopted visited moved bought painted repaired learned sold found lost met called "
    "monday tuesday march april summer winter morning evening blue green red yellow"
).split()


def _text(rng: random.Random, i: int) -> str:
    words = rng.sample(_WORDS, 7)
    return f"{words[0]} {words[1]} the {words[2]} near the {words[3]} in {words[4]} on {words[5]} ({words[6]} #{i})"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> dict[str, float | None]:
    """Resident and peak resident memory of a process (Linux /proc), in MB."""
    out: dict[str, float | None] = {"rss_mb": None, "peak_rss_mb": None}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
        elif line.startswith("VmHWM:"):
            out["peak_rss_mb"] = round(int(line.split()[1]) / 1024, 1)
    return out


def run_bench(
    *,
    clients: int,
    duration: float,
    memories: int,
    recall_fraction: float,
    namespaces: int,
    encoder: str | None,
    seed: int,
    store: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark; returns the report (see the module docstring)."""
    from .._memory import HippoMemory
    from ..client import HippoClient

    load_before = _load()
    rng = random.Random(seed)
    namespaces = min(namespaces, memories)  # every tenant holds something to recall
    tenants = [("bench", f"t{i:03d}") for i in range(namespaces)]
    with tempfile.TemporaryDirectory(prefix="hippo-bench-serve-") as tmp:
        path = store or os.path.join(tmp, "store")
        started = time.perf_counter()
        with HippoMemory(path, encoder=encoder) as memory:
            written = 0
            for t, ns in enumerate(tenants):  # spread evenly, 512 per write batch
                share = memories // namespaces + (1 if t < memories % namespaces else 0)
                for start in range(0, share, 512):
                    n = min(512, share - start)
                    memory.remember_many([_text(rng, written + j) for j in range(n)], namespace=ns)
                    written += n
            fill_s = time.perf_counter() - started
            local: list[float] = []
            for _ in range(200):
                t0 = time.perf_counter()
                memory.recall(_text(rng, -1), namespace=rng.choice(tenants), k=5)
                local.append((time.perf_counter() - t0) * 1e3)
        port = _free_port()
        cmd = [sys.executable, "-m", "hippo_memory._cli"]
        if encoder:
            cmd += ["--encoder", encoder]
        cmd += ["serve", "--store", path, "--port", str(port), "--no-mcp"]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            with HippoClient(url, retries=100, backoff=0.2) as probe:
                probe.namespaces(max_depth=1)  # waits (retrying) until the server answers
            latencies: dict[str, list[float]] = {"recall": [], "remember": []}
            errors: dict[str, int] = {}
            lock = threading.Lock()
            stop_at = time.perf_counter() + duration

            def worker(index: int) -> None:
                local_rng = random.Random(seed * 1000 + index)
                mine: dict[str, list[float]] = {"recall": [], "remember": []}
                failed: dict[str, int] = {}
                with HippoClient(url, retries=0, timeout=60) as client:
                    while time.perf_counter() < stop_at:
                        op = "recall" if local_rng.random() < recall_fraction else "remember"
                        ns = local_rng.choice(tenants)
                        t0 = time.perf_counter()
                        try:
                            if op == "recall":
                                client.recall(_text(local_rng, -1), namespace=ns, k=5)
                            else:
                                client.remember(_text(local_rng, -2), namespace=ns)
                        except Exception as exc:  # counted and reported, never raised
                            failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1
                            continue
                        mine[op].append((time.perf_counter() - t0) * 1e3)
                with lock:
                    for key, values in mine.items():
                        latencies[key].extend(values)
                    for key, count in failed.items():
                        errors[key] = errors.get(key, 0) + count

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
            t_start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t_start
            rss = _rss_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
    every = latencies["recall"] + latencies["remember"]
    return {
        "benchmark": "serve",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_1m": {"before": load_before, "after": _load()},  # other work sharing the cores
        },
        "params": {
            "clients": clients,
            "duration_s": duration,
            "memories": memories,
            "namespaces": namespaces,
            "recall_fraction": recall_fraction,
            "encoder": encoder or "default",
            "seed": seed,
        },
        "fill_s": round(fill_s, 2),
        "elapsed_s": round(elapsed, 2),
        "requests": len(every),
        "throughput_rps": round(len(every) / elapsed, 1) if elapsed else None,
        "errors": errors,
        "latency_ms": {
            op: {
                "n": len(values),
                "p50": _round(_percentile(values, 50)),
                "p99": _round(_percentile(values, 99)),
            }
            for op, values in (("all", every), *latencies.items())
        },
        "in_process_recall_p50_ms": _round(_percentile(local, 50)),
        "server": rss,
    }


def _load() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _print_table(report: dict[str, Any]) -> None:
    p = report["params"]
    print(
        f"bench serve: {p['clients']} clients, {p['duration_s']:g} s, {p['memories']} memories in "
        f"{p['namespaces']} namespaces, {p['recall_fraction']:.0%} recall, encoder {p['encoder']}"
    )
    print(f"{'op':<10}{'n':>9}{'p50 ms':>10}{'p99 ms':>10}")
    for op, row in report["latency_ms"].items():
        p50 = "-" if row["p50"] is None else f"{row['p50']:.2f}"
        p99 = "-" if row["p99"] is None else f"{row['p99']:.2f}"
        print(f"{op:<10}{row['n']:>9}{p50:>10}{p99:>10}")
    print(f"throughput        {report['throughput_rps']} requests/s")
    print(f"errors            {report['errors'] or 0}")
    print(f"in-process recall p50 {report['in_process_recall_p50_ms']} ms")
    print(f"server RSS        {report['server']['rss_mb']} MB (peak {report['server']['peak_rss_mb']} MB)")
    load = report["machine"]["loadavg_1m"]
    print(f"load average      {load['before']} before, {load['after']} after ({report['machine']['cpus']} CPUs)")


def _bounded(low: float, high: float, kind: type = int) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low:g}..{high:g}: {text!r}")
        return value

    return parse


def _main(args: argparse.Namespace) -> int:
    report = run_bench(
        clients=args.clients,
        duration=args.duration,
        memories=args.memories,
        recall_fraction=args.recall_fraction,
        namespaces=args.namespaces,
        encoder=args.encoder,
        seed=args.seed,
    )
    _print_table(report)
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


def register_command(bench: Any) -> None:
    """Add ``serve`` to the ``hippo-memory bench`` subcommands."""
    parser = bench.add_parser(
        "serve", help="concurrent clients against 'hippo-memory serve' on loopback: throughput, p50/p99, RSS"
    )
    parser.add_argument("--clients", type=_bounded(1, 256), default=32, help="concurrent client threads (1..256)")
    parser.add_argument("--duration", type=_bounded(0.5, 600, float), default=60.0, help="seconds of load (..600)")
    parser.add_argument("--memories", type=_bounded(1, 1_000_000), default=20_000, help="memories stored first")
    parser.add_argument("--namespaces", type=_bounded(1, 1000), default=10, help="tenants the memories spread over")
    parser.add_argument("--recall-fraction", type=_bounded(0, 1, float), default=0.8, help="share of recalls")
    parser.add_argument("--encoder", default=None, help="model name or path; 'hashing' for the model-free encoder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_out", default="bench_results/serve.json")
    parser.set_defaults(func=_main)
