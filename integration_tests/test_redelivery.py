"""SQS delivers at least once: the same message twice is stored once and delivered once.

The same body is sent twice straight to the priority's queue (what a redelivery looks like to
the processor): one item, one `notification.delivered` line, one `notification.duplicate` line.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from harness.pipeline import ProcessorLogs, topic_message
from harness.trace import Trace, Tracer
from harness.waiting import eventually
from notifications.priorities import PRIORITIES

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("priority", PRIORITIES)
def test_same_message_twice_is_stored_and_delivered_once(
    priority: str,
    stack: dict[str, Any],
    sqs: Any,
    tracer: Tracer,
    processor_logs: ProcessorLogs,
    query_table: Any,
) -> None:
    user_id = f"redeliver-{uuid.uuid4().hex[:10]}"
    body = json.dumps(topic_message(priority, user_id, "twice"))
    notification_id = json.loads(body)["id"]
    queue_url = stack["queues"][priority]["queue_url"]
    sent_at = time.time()
    for _ in range(2):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    trace = tracer.wait_for_delivery(Trace(notification_id, sent_at=sent_at), timeout=20)
    duplicates = eventually(
        lambda: processor_logs.lines(notification_id, sent_at, kind="notification.duplicate"),
        timeout=15,
        describe=lambda: f"no duplicate line for {notification_id}; processor lines: "
        f"{processor_logs.kinds(notification_id, sent_at)}\n{trace.describe()}",
    )
    tracer.collect(trace)
    assert len(trace.delivery_lines) == 1, trace.describe()
    assert len(duplicates) == 1, duplicates
    assert trace.item["message"] == "twice" and trace.item["priority"] == priority
    items = query_table(user_id)
    assert [item["id"]["S"] for item in items] == [notification_id], items
