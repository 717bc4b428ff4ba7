"""sandbox/startup.py: LocalStack's OpenAPI validation is left out unless asked for, and "ready" is
announced as soon as the gateway's port is open. (The time it saves: `make bench-sandbox`.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from sandbox import startup

ROOT = Path(__file__).parents[2]
GATEWAY_HANDLERS = """
import json, sys
from sandbox import startup
startup.skip_openapi_validation()
from localstack.aws import handlers
print(json.dumps({
    "openapi_core": "openapi_core" in sys.modules,
    "request": type(handlers.validate_request_schema).__name__,
    "response": type(handlers.validate_response_schema).__name__,
}))
"""


def gateway_handlers(**env: str) -> dict:
    """What LocalStack's gateway handlers get, in a new interpreter (no module imported yet)."""
    done = subprocess.run(
        [sys.executable, "-c", GATEWAY_HANDLERS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return __import__("json").loads(done.stdout.splitlines()[-1])


def test_without_validation_asked_for_openapi_is_not_imported_and_requests_pass_on() -> None:
    found = gateway_handlers(OPENAPI_VALIDATE_REQUEST="0", OPENAPI_VALIDATE_RESPONSE="0")
    assert found == {"openapi_core": False, "request": "NotValidated", "response": "NotValidated"}
    assert startup.NotValidated()(chain=None, context=None, response=None) is None


@pytest.mark.parametrize("setting", ["OPENAPI_VALIDATE_REQUEST", "OPENAPI_VALIDATE_RESPONSE"])
def test_with_validation_asked_for_localstacks_own_validators_are_used(setting: str) -> None:
    off = {"OPENAPI_VALIDATE_REQUEST": "0", "OPENAPI_VALIDATE_RESPONSE": "0"}
    found = gateway_handlers(**{**off, setting: "1"})
    assert found == {
        "openapi_core": True,
        "request": "OpenAPIRequestValidator",
        "response": "OpenAPIResponseValidator",
    }


def fake_runtime(port: int) -> types.SimpleNamespace:
    listen = types.SimpleNamespace(port=port)
    return types.SimpleNamespace(config=types.SimpleNamespace(GATEWAY_LISTEN=[listen]))


def test_ready_is_announced_once_the_gateway_port_opens() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    opened = threading.Timer(0.2, server.listen)
    opened.start()
    try:
        startup.wait_for_gateway(fake_runtime(port))  # returns: the port answered
    finally:
        opened.cancel()
        server.close()


def test_a_gateway_that_never_opens_times_out(monkeypatch) -> None:
    monkeypatch.setattr(startup, "GATEWAY_TIMEOUT_SECONDS", 0.1)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TimeoutError, match=str(port)):
            startup.wait_for_gateway(fake_runtime(port))


def test_the_runtime_waits_for_the_gateway_this_way() -> None:
    from localstack.runtime.runtime import LocalstackRuntime

    startup.announce_ready_promptly()
    startup.announce_ready_promptly()  # idempotent
    assert LocalstackRuntime._wait_for_gateway is startup.wait_for_gateway
