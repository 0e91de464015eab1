"""``hippo-memory serve`` end to end in a subprocess, and the light ``--help``."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from hippo_memory import HippoClient, HippoMemory

SERVER_MODULES = ("fastapi", "uvicorn", "httpx", "mcp", "starlette")


def test_help_imports_no_server_dependencies() -> None:
    source = (
        "import contextlib, io, json, sys\n"
        "from hippo_memory._cli import main\n"
        "for argv in (['--help'], ['serve', '--help'], ['keys', 'create', '--help'], ['mcp', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        f"print(json.dumps(sorted(m for m in {SERVER_MODULES!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_then_shuts_down_gracefully(tmp_path: Path) -> None:
    store = tmp_path / "mem"
    port = _free_port()
    cmd = [sys.executable, "-m", "hippo_memory._cli", "--encoder", "hashing:128", "serve", "--store", str(store)]
    proc = subprocess.Popen(
        [*cmd, "--create", "--port", str(port)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        with HippoClient(f"http://127.0.0.1:{port}", retries=40, backoff=0.2) as client:
            assert client.namespaces() == []  # a read: retried while the server starts
            memory_id = client.remember("served and stored", namespace=("me",))
            assert client.get(memory_id).text == "served and stored"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "serving without authentication, on loopback only" in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {(line["method"], line["path"][:12], line["status"]) for line in lines} >= {("POST", "/v1/memories", 201)}
    with HippoMemory(store, encoder="hashing:128") as reopened:  # closed on shutdown: the lock is free
        assert reopened.get(memory_id).text == "served and stored"


def test_loopback_server_answers_only_loopback_host_names() -> None:
    """DNS rebinding: a page whose own name resolves to 127.0.0.1 must not reach the API."""
    from fastapi.testclient import TestClient

    from hippo_memory import HashingEncoder
    from hippo_memory._cli_serve import loopback_hosts
    from hippo_memory.server import create_app

    assert loopback_hosts("127.0.0.1") == ["127.0.0.1", "localhost"]
    assert loopback_hosts("::1") == ["127.0.0.1", "localhost"]
    memory = HippoMemory(None, encoder=HashingEncoder(32))
    app = create_app(memory, mcp=False, ui=True, allowed_hosts=loopback_hosts("127.0.0.1"))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/memories", json={"text": "a note"}).status_code == 201
        for path in ("/healthz", "/ui/", "/v1/stats"):
            assert client.get(path, headers={"host": "attacker.example:8765"}).status_code == 400
        assert client.get("/v1/stats", headers={"host": "localhost:8765"}).status_code == 200
    memory.close()
