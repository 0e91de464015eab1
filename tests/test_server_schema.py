"""Schemathesis fuzzes the OpenAPI schema: no request the schema allows may produce a 5xx.

A bounded run (a few examples per operation) is part of the default tests; ``-m slow``
runs 50 per operation.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from _server_support import small_memory
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from hippo_memory.server import create_app

_memory = small_memory()
_memory.remember("Alice adopted a greyhound named Pixel", namespace=("users", "alice"), session="s")
_memory.remember("Pixel loves the beach", namespace=("users", "alice"), session="s")
_app = create_app(_memory, mcp=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)

_EXAMPLES = int(os.environ.get("HIPPO_FUZZ_EXAMPLES", "8"))
_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
    "derandomize": True,
}


@schema.parametrize()
@settings(max_examples=_EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=50, **_SETTINGS)  # type: ignore[arg-type]
def test_no_server_errors_long(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
