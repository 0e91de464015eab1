"""The fault-injection hook of the crash tests: ``HIPPO_MEMORY_FAULT=<point>`` kills the process there."""

from __future__ import annotations

import os
import signal

__all__ = ["fault"]

_FAULT_ENV = "HIPPO_MEMORY_FAULT"


def fault(point: str) -> None:
    """Kill this process at ``point`` when ``HIPPO_MEMORY_FAULT`` names it (crash tests)."""
    if os.environ.get(_FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
