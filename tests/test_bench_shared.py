"""``hippo-memory bench shared``: a tiny run on the test server reports every figure of its table."""

from __future__ import annotations

import _postgres_server
import pytest

from hippo_memory._cli import _parser

pytest.importorskip("psycopg")

postgres_server = _postgres_server.postgres_server
postgres_url = _postgres_server.postgres_url


@pytest.mark.slow
def test_bench_shared_tiny_run(postgres_url: str, tmp_path: object) -> None:
    from hippo_memory.bench._shared import _table, run

    args = _parser().parse_args(
        [
            "bench",
            "shared",
            "--url",
            postgres_url,
            "--writes",
            "60",
            "--batch",
            "30",
            "--recalls",
            "10",
            "--cold",
            "100",
            "--rounds",
            "3",
            "--catch-up-sizes",
            "",
            "--memories",
            "200",
            "--tenants",
            "4",
        ]
    )
    results = run(args)
    pg = results["backends"]["postgres"]
    for name in ("recall_warm", "recall_warm_notify", "recall_warm_repeated", "recall_warm_notify_repeated"):
        assert pg[name]["p50_ms"] > 0
    assert pg["catch_up_notify"]["rounds"] == 3 and pg["catch_up_notify"]["max_recall_calls"] >= 1
    assert results["scale"]["notify_p50_ms"] > 0 and results["scale"]["memories"] == 200
    table = _table(results)
    assert "change_notifications" in table and "x) |" in table
