"""``hippo-memory --help`` / ``--version`` stay light: no torch until a command runs.

The checks look at ``sys.modules`` in a fresh interpreter, not at the clock.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import types
from typing import Any

import pytest

import hippo_memory
from hippo_memory._cli import main, package_version

HEAVY = ("torch", "faiss", "sentence_transformers", "transformers")

# Imports hippo_memory's submodules without running the package ``__init__`` (which
# imports the engine), asks every command and subcommand for --help and --version,
# and prints the heavy modules that got imported.
_PROBE = """
import argparse, contextlib, importlib.util, io, json, sys, types

spec = importlib.util.find_spec("hippo_memory")
package = types.ModuleType("hippo_memory")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["hippo_memory"] = package

from hippo_memory._cli import _parser, main

def commands(parser, prefix):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, [*prefix, name])

argvs = [[*command, "--help"] for command in commands(_parser(), [])] + [["--version"]]
outputs = []
for argv in argvs:
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
        main(argv)
    outputs.append(out.getvalue().strip())
heavy = sorted(m for m in %r if m in sys.modules)
print(json.dumps({"argvs": argvs, "heavy": heavy, "version": outputs[-1]}))
"""


def _probe(source: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_help_of_every_command_imports_no_torch() -> None:
    result = _probe(_PROBE % (HEAVY,))
    asked = {" ".join(argv) for argv in result["argvs"]}
    assert {"--help", "add --help", "bench synthetic --help", "consolidate --help", "--version"} <= asked
    assert result["heavy"] == []
    # --version read without the package's __version__ (installed metadata or __init__.py)
    assert result["version"] == f"hippo-memory {hippo_memory.__version__}"


def test_console_script_help_imports_no_torch() -> None:
    source = (
        "import contextlib, io, json, sys\n"
        "from hippo_memory._cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(json.dumps({{'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))\n"
    )
    assert _probe(source)["heavy"] == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hippo-memory {hippo_memory.__version__}"
    assert package_version() == hippo_memory.__version__


def test_version_falls_back_to_init_source(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setitem(sys.modules, "hippo_memory", types.ModuleType("hippo_memory"))
    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert package_version() == hippo_memory.__version__


def test_the_distribution_version_is_the_package_version() -> None:
    # pyproject.toml reads the version from hippo_memory.__version__ (one place): an
    # installed distribution that disagrees was built from another tree.
    assert importlib.metadata.version("hippo-memory") == hippo_memory.__version__
