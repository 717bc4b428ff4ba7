"""Test-only variant of the processor (handler `processor_faults.handler`): faults on demand.

Deployed by integration_tests/test_delivery_faults.py as its own function, beside the stack's
processor and never instead of it: the production package has no fault switch. Each record may
carry a message attribute `fault`, applied on the record's FIRST receive only
(ApproximateReceiveCount 1), so that the redelivery shows how the production code recovers:

- `timeout_after_store`: hang after the item is stored, until the function times out;
- `reply_lost_on_put` / `reply_lost_on_mark`: the DynamoDB PutItem / UpdateItem reaches
  DynamoDB and commits, then its reply is lost (a ReadTimeoutError), so botocore retries it;
- `crash_before_response`: the process dies after the whole batch, before answering;
- `transient_error`: the record fails before anything is stored;
- `slow`: the record takes an extra second after it is processed (every receive).
"""

from __future__ import annotations

import os
import time
from typing import Any

import botocore.endpoint
from botocore.exceptions import ReadTimeoutError

from processor import app

FAULT = "fault"
_current: dict[str, Any] = {"fault": None, "lost": set()}


def _requested(raw: dict[str, Any]) -> str | None:
    return (raw.get("messageAttributes", {}).get(FAULT) or {}).get("stringValue")


def _first_receive(raw: dict[str, Any]) -> bool:
    return raw.get("attributes", {}).get("ApproximateReceiveCount") == "1"


def _fault(record: Any) -> str | None:
    fault = _requested(record.raw_event)
    return fault if fault == "slow" or _first_receive(record.raw_event) else None


_real_send = botocore.endpoint.Endpoint._send
_LOSE = {"reply_lost_on_put": "PutItem", "reply_lost_on_mark": "UpdateItem"}


def _send(self: Any, request: Any) -> Any:
    """Send for real; for the targeted DynamoDB call, lose the first reply."""
    response = _real_send(self, request)
    operation = _LOSE.get(_current["fault"] or "")
    target = (request.headers.get("X-Amz-Target") or b"").decode()
    if operation and target.endswith(f".{operation}") and operation not in _current["lost"]:
        _current["lost"].add(operation)
        raise ReadTimeoutError(endpoint_url=request.url)
    return response


botocore.endpoint.Endpoint._send = _send
_real_process = app.process
_real_put_once = app.NotificationStore.put_once


def _put_once(self: Any, item: dict[str, Any]) -> bool:
    stored = _real_put_once(self, item)
    if _current["fault"] == "timeout_after_store":
        time.sleep(3600)  # ended by the function's timeout
    return stored


def _process(record: Any) -> None:
    _current.update(fault=_fault(record), lost=set())
    try:
        if _current["fault"] == "transient_error":
            raise RuntimeError("injected transient error")
        _real_process(record)
        if _current["fault"] == "slow":
            time.sleep(1.0)
    finally:
        _current["fault"] = None


app.NotificationStore.put_once = _put_once  # type: ignore[method-assign]
app.process = _process


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = app.handler(event, context)
    records = event.get("Records", [])
    if any(_requested(r) == "crash_before_response" and _first_receive(r) for r in records):
        os._exit(1)
    return result
