"""A throwaway PostgreSQL server: ``initdb`` into a temporary directory, started on a free loopback port.

Used by ``hippo-memory bench shared`` and by the tests (``tests/_postgres_server.py``
adds the pytest fixtures). ``initdb`` refuses to run as root, so as root the
cluster is created and run by an unprivileged user (``postgres`` when it exists,
else ``nobody``). The server runs with ``fsync=off``: it is for measurements and
tests, never for data.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PASSWORD", "SUPERUSER", "PostgresServer", "find_bin_dir", "start_server", "stop_server"]

SUPERUSER = "hippo"
PASSWORD = "hippo-test-password"


@dataclass
class PostgresServer:
    """A running server: ``url(database)`` connects as the superuser with its password."""

    host: str
    port: int
    root: Path
    bin_dir: Path
    run_as: str | None
    databases: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres", *, password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database (its URL)."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(psycopg.Error), psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: from ``PATH``, else ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()],
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> str | None:
    """As root: a user ``initdb`` accepts (``postgres`` if it exists, else ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


def _run(args: list[str], run_as: str | None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    if run_as is not None:
        runner = shutil.which("runuser")
        args = (
            [runner, "-u", run_as, "--", *args] if runner else ["su", run_as, "-s", "/bin/sh", "-c", shlex.join(args)]
        )
    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        args, check=True, capture_output=True, text=True, **kwargs
    )
    return done


def start_server() -> PostgresServer:
    """Create a cluster in a temporary directory and start it on a free loopback port.

    Raises:
        RuntimeError: no ``initdb``, or the server could not be created or started (the
            message says why).
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("initdb not found on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    run_as = _unprivileged_user()
    if os.geteuid() == 0 and run_as is None:
        raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run initdb as")
    root = Path(tempfile.mkdtemp(prefix="hippo-pg-"))
    data, socket_dir, pwfile = root / "data", root / "sock", root / "pwfile"
    socket_dir.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        for path in (root, socket_dir, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            run_as,
        )
        options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            run_as,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        log = root / "log"
        if log.exists():
            detail += log.read_text()[-2000:]
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start a PostgreSQL server: {exc}\n{detail}") from exc
    return PostgresServer("127.0.0.1", port, root, bin_dir, run_as)


def stop_server(server: PostgresServer) -> None:
    """Stop the server and delete its directory."""
    with contextlib.suppress(subprocess.CalledProcessError, OSError):
        _run(
            [str(server.bin_dir / "pg_ctl"), "-D", str(server.root / "data"), "-m", "immediate", "-w", "stop"],
            server.run_as,
        )
    shutil.rmtree(server.root, ignore_errors=True)
