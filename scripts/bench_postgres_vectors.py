"""How to store a partition's vectors in PostgreSQL: ``bytea`` per row, ``bytea`` per block, or ``real[]``.

Writes a partition of ``--rows`` float32 vectors of ``--dim`` each way, then times
loading it back into one float32 numpy array (the median of ``--repeat`` loads),
prints a table and writes JSON. Without ``--url`` it starts a throwaway server
(``tests/_postgres_server.py``)::

    .venv/bin/python scripts/bench_postgres_vectors.py --rows 20000 --dim 384 --json bench_pg_vectors.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

BLOCK = 256


def _setup(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DROP TABLE IF EXISTS v_row, v_block, v_array")
    conn.execute(
        "CREATE TABLE v_row (tenant bigint, generation int, row_no int, data bytea, PRIMARY KEY (tenant, generation, row_no))"
    )
    conn.execute(
        "CREATE TABLE v_block (tenant bigint, generation int, block int, data bytea, PRIMARY KEY (tenant, generation, block))"
    )
    conn.execute(
        "CREATE TABLE v_array (tenant bigint, generation int, row_no int, v real[], PRIMARY KEY (tenant, generation, row_no))"
    )


def _write(conn: psycopg.Connection[Any], kind: str, vectors: np.ndarray) -> None:
    with conn.cursor() as cur:
        if kind == "bytea per row":
            with cur.copy("COPY v_row (tenant, generation, row_no, data) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int4", "int4", "bytea"])
                for i, row in enumerate(vectors):
                    copy.write_row((1, 0, i, row.tobytes()))
        elif kind == "bytea per block":
            with cur.copy("COPY v_block (tenant, generation, block, data) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int4", "int4", "bytea"])
                for b in range(0, len(vectors), BLOCK):
                    copy.write_row((1, 0, b // BLOCK, vectors[b : b + BLOCK].tobytes()))
        else:
            with cur.copy("COPY v_array (tenant, generation, row_no, v) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int4", "int4", "float4[]"])
                for i, row in enumerate(vectors):
                    copy.write_row((1, 0, i, row.tolist()))
    conn.commit()


def _load(conn: psycopg.Connection[Any], kind: str, dim: int) -> np.ndarray:
    with conn.cursor(binary=True) as cur:
        if kind == "bytea per row":
            cur.execute("SELECT data FROM v_row WHERE tenant = 1 AND generation = 0 ORDER BY row_no")
            return np.frombuffer(b"".join(r[0] for r in cur.fetchall()), dtype=np.float32).reshape(-1, dim)
        if kind == "bytea per block":
            cur.execute("SELECT data FROM v_block WHERE tenant = 1 AND generation = 0 ORDER BY block")
            return np.frombuffer(b"".join(r[0] for r in cur.fetchall()), dtype=np.float32).reshape(-1, dim)
        cur.execute("SELECT v FROM v_array WHERE tenant = 1 AND generation = 0 ORDER BY row_no")
        return np.asarray([r[0] for r in cur.fetchall()], dtype=np.float32).reshape(-1, dim)


def _time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: start a throwaway server)")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    server = None
    url = args.url
    if url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from _postgres_server import start_server, stop_server

        server = start_server()
        url = server.create_database()
    vectors = np.random.default_rng(0).standard_normal((args.rows, args.dim)).astype(np.float32)
    results = []
    try:
        with psycopg.connect(url) as conn:
            _setup(conn)
            conn.commit()
            for kind in ("bytea per row", "bytea per block", "real[] per row"):
                t = time.perf_counter()
                _write(conn, kind, vectors)
                write_s = time.perf_counter() - t
                loaded = _load(conn, kind, args.dim)
                assert np.array_equal(loaded, vectors), kind
                load_s = _time(lambda kind=kind: _load(conn, kind, args.dim), args.repeat)
                table = {"bytea per row": "v_row", "bytea per block": "v_block", "real[] per row": "v_array"}[kind]
                size = conn.execute(f"SELECT pg_total_relation_size('{table}')").fetchone()[0]  # type: ignore[index]
                conn.commit()
                results.append({"layout": kind, "write_s": write_s, "load_s": load_s, "table_mb": size / 2**20})
    finally:
        if server is not None:
            stop_server(server)
    print(
        f"{args.rows} rows x dim {args.dim} ({args.rows * args.dim * 4 / 2**20:.1f} MB float32), median of {args.repeat} loads"
    )
    print(f"{'layout':<18}{'write s':>10}{'load s':>10}{'table MB':>10}")
    for r in results:
        print(f"{r['layout']:<18}{r['write_s']:>10.3f}{r['load_s']:>10.3f}{r['table_mb']:>10.1f}")
    if args.json:
        payload = {"rows": args.rows, "dim": args.dim, "machine": platform.platform(), "results": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
