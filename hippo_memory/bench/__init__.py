"""Benchmarks: ``hippo-memory bench synthetic | locomo | longmemeval | nightly``.

Each benchmark is a command that prints a table and writes JSON; none of them run
in the default test suite.
"""

__all__: list[str] = []
