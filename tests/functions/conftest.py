"""Unit tests of the Lambda functions: pure logic with in-memory fakes, no emulator.

functions/ is the zip root, so it goes on sys.path (as in Lambda); so does this folder,
for the shared fakes in `lambda_fakes`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE.parents[1] / "functions"
for path in (FUNCTIONS, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract's environment, minus anything that would reach AWS."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "notifications-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Notifications")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "unit-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("PRIORITY_SHARDS", "4")
    monkeypatch.setenv("ADMIN_GROUP", "admins")
