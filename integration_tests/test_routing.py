"""Routing is by the `priority` message attribute: without it, or with an unknown value, a
message published to the topic reaches no queue.

Published straight to the topic, together with one valid message per priority as a positive
control: once every control is stored and delivered, the bad ones have had the same path open
to them, yet no item, no processor line (delivered, duplicate or invalid) and no DLQ or
subscription DLQ holds them. (The priority queues are not peeked: a receive would count
against another test's messages; everything they carry reaches the processor's log.)
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from harness.pipeline import ProcessorLogs, peek, topic_attributes, topic_message
from harness.trace import Trace, Tracer
from notifications.priorities import PRIORITIES

pytestmark = pytest.mark.sandbox


BAD_ATTRIBUTES: dict[str, dict[str, dict[str, str]]] = {
    "no-attribute": {},
    "unknown-priority": {"priority": {"DataType": "String", "StringValue": "urgent"}},
    "other-attribute-only": {"kind": {"DataType": "String", "StringValue": "high"}},
    "priority-as-number": {"priority": {"DataType": "Number", "StringValue": "1"}},
}


@pytest.mark.parametrize("case", sorted(BAD_ATTRIBUTES))
def test_message_without_a_known_priority_attribute_reaches_no_queue(
    case: str,
    stack: dict[str, Any],
    client: Any,
    sqs: Any,
    tracer: Tracer,
    processor_logs: ProcessorLogs,
) -> None:
    sns = client("sns")
    topic = stack["notifications_topic_arn"]
    user_id = f"routing-{uuid.uuid4().hex[:10]}"
    sent_at = time.time()

    # Body says "high": only the attribute routes, so a body alone must not be enough.
    bad = topic_message("high", user_id, f"unroutable {case}")
    sns.publish(TopicArn=topic, Message=json.dumps(bad), MessageAttributes=BAD_ATTRIBUTES[case])
    controls = {}
    for priority in PRIORITIES:
        control = topic_message(priority, user_id, f"control {priority}")
        sns.publish(
            TopicArn=topic,
            Message=json.dumps(control),
            MessageAttributes=topic_attributes(control),
        )
        controls[priority] = Trace(control["id"], sent_at=sent_at)

    for priority, trace in controls.items():
        tracer.wait_for_delivery(trace, timeout=20)
        assert trace.queue == stack["queues"][priority]["queue_name"], trace.describe()

    assert tracer.item(bad["id"]) is None, f"{case}: {bad['id']} was stored"
    lines = processor_logs.kinds(bad["id"], sent_at)
    assert not lines, f"{case}: the processor saw {bad['id']}: {lines}"
    holders = [
        url
        for queue in stack["queues"].values()
        for url in (queue["dlq_url"], queue["subscription_dlq_url"])
        if peek(sqs, url, bad["id"], rounds=1)
    ]
    assert not holders, f"{case}: {bad['id']} sits in {holders}"
