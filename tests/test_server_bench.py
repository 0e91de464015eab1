"""``hippo-memory bench serve``: registered with bounded defaults; a tiny run reports every figure."""

from __future__ import annotations

import pytest

from hippo_memory._cli import _parser


def test_bench_serve_defaults_and_bounds() -> None:
    args = _parser().parse_args(["bench", "serve"])
    assert (args.clients, args.duration, args.memories) == (32, 60.0, 20_000)
    with pytest.raises(SystemExit):
        _parser().parse_args(["bench", "serve", "--clients", "10000"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["bench", "serve", "--duration", "3600"])


@pytest.mark.slow
def test_bench_serve_tiny_run() -> None:
    from hippo_memory.server._bench import run_bench

    report = run_bench(
        clients=2, duration=1.0, memories=60, recall_fraction=0.5, namespaces=3, encoder="hashing:64", seed=1
    )
    assert report["requests"] > 0 and report["errors"] == {}
    assert report["latency_ms"]["all"]["p50"] is not None and report["in_process_recall_p50_ms"] is not None
    assert report["server"]["rss_mb"] is not None
