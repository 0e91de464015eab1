"""A served batch write is all or nothing across SIGTERM and kill -9 of ``hippo-memory serve``.

SIGTERM: uvicorn stops accepting, lets the in-flight request finish, then the app
closes the store; the client either got the batch's ids (then all of it is there after
a restart) or an error. kill -9: the batch is one transaction, so a restart finds all
of it or none, never a part.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hippo_memory import HippoClient, HippoMemory

BATCH = 400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _batch_cut_by(sig: signal.Signals, store: Path) -> tuple[list[str] | None, int]:
    """Start a server, send one batch and ``sig`` while it is in flight; the client's answer and what a restart finds."""
    port = _free_port()
    cmd = [sys.executable, "-m", "hippo_memory._cli", "--encoder", "hashing:128", "serve", "--store", str(store)]
    proc = subprocess.Popen(
        [*cmd, "--create", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    answer: dict[str, object] = {}
    try:
        url = f"http://127.0.0.1:{port}"
        with HippoClient(url, retries=60, backoff=0.2) as probe:
            probe.namespaces()  # a read: retried while the server starts
            probe.remember("the store exists", namespace=("warm",))  # the engine is loaded before the batch

        def send() -> None:
            with HippoClient(url, retries=0, timeout=120) as client:
                try:
                    answer["ids"] = client.remember_many(
                        [f"batch item {i} about the lighthouse" for i in range(BATCH)],
                        namespace=("batch",),
                        metadata={"batch": "one"},
                    )
                except Exception as exc:  # the server went away: an error is a correct answer
                    answer["error"] = exc

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.3)  # the request is on its way or being written
        proc.send_signal(sig)
        sender.join(timeout=180)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with HippoMemory(store, encoder="hashing:128") as reopened:
        found = reopened.count(("batch",)) if ("batch",) in reopened.namespaces() else 0
    ids = answer.get("ids")
    return (ids if isinstance(ids, list) else None), found


def test_sigterm_lets_the_inflight_batch_finish_or_refuses_it(tmp_path: Path) -> None:
    ids, found = _batch_cut_by(signal.SIGTERM, tmp_path / "mem")
    assert found in (0, BATCH)
    if ids is not None:  # the client was told it is stored: it must be, all of it
        assert len(ids) == BATCH and found == BATCH


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_never_leaves_part_of_a_batch(tmp_path: Path) -> None:
    ids, found = _batch_cut_by(signal.SIGKILL, tmp_path / "mem")
    assert found in (0, BATCH)
    if ids is not None:
        assert found == BATCH
