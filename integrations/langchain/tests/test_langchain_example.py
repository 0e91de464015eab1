"""examples/langchain_agent.py runs offline, end to end, and keeps its memory on disk."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "langchain_agent.py"


def test_example_runs_offline_with_a_fake_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = runpy.run_path(str(EXAMPLE), run_name="langchain_agent_example")["main"]
    main(["--offline-encoder", "--path", str(tmp_path / "memory")])
    out = capsys.readouterr().out
    # the chain tool (recall_associations is its deprecated alias)
    assert "[tool call] recall_chain" in out
    assert "hop 1 (associated with the previous hop" in out
    assert "The Porto shop belongs to Rui, the uncle of my friend Dana." in out
    assert "10 memories stored for 'caroline'." in out  # 6 seeded, 2 exchanges of 2

    # a second run reopens the memory: no re-seeding, the new exchange is added
    main(["--offline-encoder", "--path", str(tmp_path / "memory"), "--question", "Who is Dana?"])
    assert "12 memories stored for 'caroline'." in capsys.readouterr().out
