"""A client's retry with the same Idempotency-Key is one notification, whatever died first.

A test-only variant of the ingest function (integration_tests/variants/ingest_faults.py)
publishes, then times out before its idempotency record is completed. The client retries with
the same key and body: the retry publishes again (the record never completed), with the SAME id,
derived from the caller, the key and the request; the stack's processor stores it once and
delivers it once.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.trace import Trace, Tracer
from harness.variants import deploy_variant
from harness.waiting import eventually

pytestmark = [pytest.mark.sandbox, pytest.mark.lanes("high")]

VARIANT = Path(__file__).parent / "variants" / "ingest_faults.py"
TIMEOUT_SECONDS = 3


def api_event(
    body: dict[str, str], key: str, caller: dict[str, str], fault: str | None
) -> dict[str, Any]:
    """The proxy event API Gateway hands the ingest function for a POST by `caller` (claims)."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    if fault:
        headers["X-Test-Fault"] = fault
    return {
        "resource": "/notifications",
        "path": "/notifications",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "test",
            "httpMethod": "POST",
            "path": "/test/notifications",
            "authorizer": {"claims": caller},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


@pytest.fixture
def faulty_ingest(
    client: Callable[..., Any], stack: dict[str, Any], unique: Callable[[str], str]
) -> Iterator[str]:
    lam, logs = client("lambda"), client("logs")
    name = unique("faulty-ingest")
    try:
        deploy_variant(lam, stack["function_names"]["ingest"], name, VARIANT, TIMEOUT_SECONDS)
        yield name
    finally:
        lam.delete_function(FunctionName=name)
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            logs.delete_log_group(logGroupName=f"/aws/lambda/{name}")


def invoke(lam: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    return answer, json.loads(answer["Payload"].read() or b"null")


def test_a_retry_after_a_timeout_between_publish_and_record_is_one_notification(
    client: Callable[..., Any],
    faulty_ingest: str,
    tracer: Tracer,
    unique: Callable[[str], str],
    stack: dict[str, Any],
) -> None:
    lam = client("lambda")
    body = {"user_id": unique("retry"), "message": "published, then timed out", "priority": "high"}
    key, sub = f"key-{uuid.uuid4().hex}", f"sub-{uuid.uuid4().hex}"
    sender = {
        "cognito:username": "sender",
        "sub": sub,
        "cognito:groups": stack["sender_group_name"],
    }
    sent_at = time.time()

    first, error = invoke(lam, faulty_ingest, api_event(body, key, sender, "timeout_after_publish"))
    assert first.get("FunctionError") and "timed out" in error["errorMessage"], error
    # The short timeout is for the faulted call only: the retry (a cold start after the timeout)
    # runs with the ingest function's own, as ordinary traffic does (3 s timed out once in 16
    # `make e2e` runs).
    own_timeout = lam.get_function_configuration(FunctionName=stack["function_names"]["ingest"])
    lam.update_function_configuration(FunctionName=faulty_ingest, Timeout=own_timeout["Timeout"])
    lam.get_waiter("function_updated_v2").wait(FunctionName=faulty_ingest)
    retry, answer = invoke(lam, faulty_ingest, api_event(body, key, sender, None))
    assert "FunctionError" not in retry and answer["statusCode"] == 202, answer
    notification_id = json.loads(answer["body"])["id"]

    trace = tracer.wait_for_delivery(Trace(notification_id, sent_at=sent_at), timeout=30)
    assert trace.item["user_id"] == body["user_id"] and trace.item["sender"] == sub
    # Both publishes reached the processor; the second found the first stored and delivered.
    tracer.collect(trace)
    assert len(trace.delivery_lines) == 1, trace.describe()
    eventually(
        lambda: tracer.delivery_lines(notification_id, sent_at, kind="notification.duplicate"),
        timeout=20,
        describe=lambda: f"the first publish of {notification_id} never reached the processor\n"
        f"{trace.describe()}",
    )
    _, same = invoke(lam, faulty_ingest, api_event(body, key, sender, None))
    assert json.loads(same["body"])["id"] == notification_id  # now answered from the record
