"""Test-only variant of the ingest function (handler `ingest_faults.handler`).

Deployed as a function of its own by the tests that need an ingest that fails, by the header
`X-Test-Fault` of the request:
- `timeout_after_publish` (integration_tests/test_idempotent_retries.py): publishes the
  notification, then hangs until the function times out: the idempotency record stays "in
  progress" and is never completed, as when a real invocation dies between the publish and the
  record;
- `crash_before_answer` (integration_tests/test_api_5xx_alarm.py): the function's process dies
  before doing anything, so API Gateway answers 502.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ingest import app
from ingest.publisher import SnsPublisher

FAULT_HEADER = "x-test-fault"
_current: dict[str, str | None] = {"fault": None}
_real_publish = SnsPublisher.publish


def _publish(self: SnsPublisher, notification: Any) -> None:
    _real_publish(self, notification)
    if _current["fault"] == "timeout_after_publish":
        time.sleep(3600)  # ended by the function's timeout


SnsPublisher.publish = _publish  # type: ignore[method-assign]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    _current["fault"] = headers.get(FAULT_HEADER)
    if _current["fault"] == "crash_before_answer":
        os._exit(1)
    return app.handler(event, context)
