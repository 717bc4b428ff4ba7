"""Test-only variant of the ingest function (handler `ingest_faults.handler`).

Deployed by integration_tests/test_idempotent_retries.py as its own function. A request with the
header `X-Test-Fault: timeout_after_publish` publishes its notification, then hangs until the
function times out: the idempotency record stays "in progress" and is never completed, as when
a real invocation dies between the publish and the record.
"""

from __future__ import annotations

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
    return app.handler(event, context)
