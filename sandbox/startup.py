"""Start-up: what the sandbox's LocalStack no longer waits for, and what it does not import.

Why (`make bench-sandbox`, the time to healthy on this 2-core machine: 1.32 s before these):
- LocalStack announces "ready" (and so runs the `on_infra_ready` hooks, the state's restore
  included, which the launcher waits for) from a thread that checks whether the gateway's port is
  open every 0.3 s: the sandbox served for up to 0.3 s before it said so. Here it checks every
  10 ms (a connect to a loopback port each time).
- `localstack.aws.handlers.validation` imports openapi-core, jsonschema and their specification
  libraries (about a tenth of the start-up's CPU time) for handlers that validate requests to
  LocalStack's own endpoints (`/_localstack`, `/_aws`) against OpenAPI specifications, and do
  nothing unless OPENAPI_VALIDATE_REQUEST or OPENAPI_VALIDATE_RESPONSE is set. Unless one is, the
  module is replaced by one with the same two handlers doing nothing. With either set, LocalStack's
  own is imported, as before.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

VALIDATION_MODULE = "localstack.aws.handlers.validation"
WAIT_FOR_GATEWAY = Target(
    "localstack.runtime.runtime:LocalstackRuntime._wait_for_gateway", params=("self",), exact=True
)
INTERNALS = (
    WAIT_FOR_GATEWAY,
    Target("localstack.utils.net:is_port_open", params=("port_or_url",)),
    Target("localstack.utils.sync:poll_condition", params=("condition", "timeout", "interval")),
    # The names localstack.aws.handlers takes from the validation module (and nothing else does).
    Target(f"{VALIDATION_MODULE}:OpenAPIRequestValidator", params=(), exact=True),
    Target(f"{VALIDATION_MODULE}:OpenAPIResponseValidator", params=(), exact=True),
    Target("localstack.aws.handlers:validate_request_schema"),
    Target("localstack.aws.handlers:validate_response_schema"),
)
GATEWAY_POLL_SECONDS = 0.01
GATEWAY_TIMEOUT_SECONDS = 15.0  # LocalStack's


def apply() -> None:
    """Before LocalStack's runtime starts (sandbox/runtime.py)."""
    skip_openapi_validation()
    announce_ready_promptly()


class NotValidated:
    """LocalStack's OpenAPI validation handler with validation off: passes every request on."""

    def __call__(self, chain: Any, context: Any, response: Any) -> None:
        return None


def skip_openapi_validation() -> None:
    from localstack import config

    if config.OPENAPI_VALIDATE_REQUEST or config.OPENAPI_VALIDATE_RESPONSE:
        return
    if VALIDATION_MODULE in sys.modules:  # imported already: nothing left to save
        return
    module = types.ModuleType(VALIDATION_MODULE, NotValidated.__doc__)
    module.OpenAPIRequestValidator = NotValidated  # type: ignore[attr-defined]
    module.OpenAPIResponseValidator = NotValidated  # type: ignore[attr-defined]
    sys.modules[VALIDATION_MODULE] = module


def announce_ready_promptly() -> None:
    patching.replace(WAIT_FOR_GATEWAY, wait_for_gateway)


def wait_for_gateway(self: Any) -> None:
    """LocalStack's `_wait_for_gateway`, polling every GATEWAY_POLL_SECONDS instead of 0.3 s."""
    from localstack.utils import net, sync

    port = self.config.GATEWAY_LISTEN[0].port
    if not sync.poll_condition(
        lambda: net.is_port_open(port),
        timeout=GATEWAY_TIMEOUT_SECONDS,
        interval=GATEWAY_POLL_SECONDS,
    ):
        raise TimeoutError(f"gave up waiting for gateway server to start on port {port}")
