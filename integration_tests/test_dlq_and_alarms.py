"""Poison messages: dead-lettered at once with their reason, and the DLQ alarm's round trip.

One batch per priority, sent straight to that priority's queue: two valid notifications around
one body that can never be a notification. The valid ones are stored once and delivered once;
the poison one is received once, rejected, and put on the priority's DLQ by the processor with
its reason (no retries: it would fail the same way every time); the DLQ alarm goes to ALARM and
says so on the alerts topic; once the DLQ is drained, the alarm returns to OK and says that too.

Locks: `dlq-P` exclusively for the whole test (the alarm must change because of this poison, and
return to OK when it is gone); `lane-P` shared while the poison is in P's queue.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from harness.alarms import Alarms, AlertSubscriber
from harness.exclusive import Locks
from harness.pipeline import ProcessorLogs, peek, poison_body, queue_counts, remove, topic_message
from harness.trace import Trace, Tracer
from harness.waiting import eventually
from notifications.priorities import PRIORITIES

pytestmark = [pytest.mark.sandbox, pytest.mark.disruptive]

INVALID = "notification.invalid"  # the processor's line for a record it rejects
DUPLICATE = "notification.duplicate"


def wait_for_dead_letter(
    sqs: Any,
    queue: dict[str, str],
    marker: str,
    poison_id: str,
    logs: ProcessorLogs,
    since: float,
    timeout: float,
) -> None:
    def describe() -> str:
        return (
            f"poison {poison_id} not in {queue['dlq_url']}; processor lines: "
            f"{logs.kinds(poison_id, since)}; queue {queue_counts(sqs, queue['queue_url'])}, "
            f"DLQ {queue_counts(sqs, queue['dlq_url'])}"
        )

    eventually(
        lambda: peek(sqs, queue["dlq_url"], marker, rounds=1),
        timeout=timeout,
        interval=0.5,
        describe=describe,
    )


def rejections(logs: ProcessorLogs, poison_id: str, since: float) -> list[dict]:
    """The processor's `notification.invalid` lines for the poison: exactly one."""
    lines = eventually(
        lambda: logs.lines(poison_id, since, kind=INVALID),
        timeout=10,
        describe=lambda: f"processor lines for {poison_id}: {logs.kinds(poison_id, since)}",
    )
    assert len(lines) == 1, (
        "the poison should be received (and rejected) once, then dead-lettered: "
        f"{[(line['_timestamp'], line.get('function_request_id')) for line in lines]}"
    )
    return lines


def assert_dead_lettered_with_reason(sqs: Any, dlq_url: str, marker: str, queue: str) -> None:
    [letter] = peek(sqs, dlq_url, marker, rounds=1, attributes=True)
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attributes["reason"] == "invalid_message", attributes
    assert attributes["source_queue"] == queue, attributes
    assert {e["field"] for e in json.loads(attributes["errors"])} >= {"id", "user_id"}, attributes


def assert_delivered_once(tracer: Tracer, traces: list[Trace], since: float) -> None:
    for trace in traces:
        tracer.collect(trace)
        duplicates = tracer.delivery_lines(trace.notification_id, since, kind=DUPLICATE)
        assert len(trace.delivery_lines) == 1 and not duplicates, (
            f"a batch mate of the poison was redelivered ({len(duplicates)} duplicate line(s)): "
            f"only failed records may be retried\n{trace.describe()}"
        )


def assert_same_invocation(first_rejection: dict, traces: list[Trace]) -> None:
    """The poison's first receive came in one invocation with its batch mates."""
    invocations = {trace.delivery_lines[0].get("function_request_id") for trace in traces}
    seen = first_rejection.get("function_request_id")
    assert seen in invocations, (
        f"poison first seen in invocation {seen}, its batch mates in {invocations}: "
        "not one batch, so the partial batch response was not exercised"
    )


@pytest.mark.parametrize("priority", PRIORITIES)
def test_poison_is_dead_lettered_at_once_and_alarmed_while_its_batch_mates_are_stored_once(
    priority: str,
    stack: dict[str, Any],
    sqs: Any,
    client: Callable[..., Any],
    tracer: Tracer,
    processor_logs: ProcessorLogs,
    alarms: Alarms,
    alert_subscriber: Callable[[], AlertSubscriber],
    locks: Locks,
) -> None:
    queue = stack["queues"][priority]
    alarm = stack["alarm_names"]["priorities"][priority]["dlq_depth"]
    period = alarms.describe(alarm)["Period"]
    batch_size = client("lambda").get_event_source_mapping(
        UUID=stack["event_source_mapping_uuids"][priority]
    )["BatchSize"]
    marker = f"poison-{uuid.uuid4().hex}"
    user_id = f"dlq-{uuid.uuid4().hex[:10]}"
    good = [topic_message(priority, user_id, f"batch mate {n}") for n in range(2)]
    entries = [
        {"Id": "good0", "MessageBody": json.dumps(good[0])},
        {"Id": "poison", "MessageBody": poison_body(marker)},
        {"Id": "good1", "MessageBody": json.dumps(good[1])},
    ]

    with locks.hold(exclusive=[f"dlq-{priority}"]):
        try:
            subscriber = alert_subscriber()
            alarms.wait_until_not(alarm, "ALARM", timeout=4 * period + 10)
            with locks.hold(shared=[f"lane-{priority}"]):  # while the poison is in P's queue
                sent_at = time.time()
                result = sqs.send_message_batch(QueueUrl=queue["queue_url"], Entries=entries)
                assert not result.get("Failed"), result
                poison_id = next(
                    m["MessageId"] for m in result["Successful"] if m["Id"] == "poison"
                )
                traces = [Trace(g["id"], sent_at=sent_at) for g in good]
                for trace in traces:
                    tracer.wait_for_delivery(trace, timeout=20)
                wait_for_dead_letter(sqs, queue, marker, poison_id, processor_logs, sent_at, 20)

            rejected = rejections(processor_logs, poison_id, sent_at)
            assert_dead_lettered_with_reason(sqs, queue["dlq_url"], marker, queue["queue_name"])
            assert_delivered_once(tracer, traces, sent_at)
            if batch_size > 1:
                assert_same_invocation(rejected[0], traces)

            alarms.wait_for_state(alarm, "ALARM", timeout=2 * period + 5, since=sent_at)
            subscriber.wait_for(alarm, "ALARM", timeout=10, since=sent_at)

            # Drained: OK once the alarm's most recent EvaluationPeriods datapoints (its window,
            # as on AWS: sandbox/plugins/cloudwatch_fidelity.py) hold no breaching one.
            drained_at = time.time()
            assert remove(sqs, queue["dlq_url"], marker) == 1
            alarms.wait_for_state(alarm, "OK", timeout=4 * period + 10, since=drained_at)
            subscriber.wait_for(alarm, "OK", timeout=10, since=drained_at)
        finally:
            remove(sqs, queue["dlq_url"], marker, timeout=2)
