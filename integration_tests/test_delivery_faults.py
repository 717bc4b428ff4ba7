"""Delivery that cannot be lost: faults injected between every two steps of the processor.

Each test deploys a test-only variant of the processor (integration_tests/variants/
processor_faults.py: the production package plus a module that injects one fault on a record's
first receive) as its own function, fed by a queue of its own through an event source mapping,
and writing to the stack's table. The production function and queues are untouched.

The queue's short visibility timeout (the variant's timeout + 2 s: 6 s for a 4 s timeout) is
this suite's explicit means of speed; the stack's queues keep AWS's 6 x the processor's timeout.
A test whose fault is not a timeout gives the variant a timeout no cold start on a loaded
machine reaches, so the fault it injects is the only one that happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.cleanup import Cleanups
from harness.pipeline import ProcessorLogs, topic_message
from harness.roles import copy_role, own_log_group
from harness.trace import Tracer
from harness.variants import deploy_variant
from harness.waiting import eventually

pytestmark = [pytest.mark.sandbox, pytest.mark.lanes()]
POLLING_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)

VARIANT = Path(__file__).parent / "variants" / "processor_faults.py"
TIMEOUT_SECONDS = 4
AMPLE_TIMEOUT_SECONDS = 15
MAX_RECEIVE_COUNT = 3
DELIVERED = "notification.delivered"


@dataclass
class FaultyProcessor:
    """The variant function, its queue (with a DLQ) and its event source mapping."""

    sqs: Any
    lam: Any
    function_name: str
    queue_url: str
    queue_arn: str
    logs: ProcessorLogs
    tracer: Tracer
    created_at: float = field(default_factory=time.time)

    def send(self, *notifications: tuple[dict[str, str], str | None]) -> None:
        entries = []
        for n, (notification, fault) in enumerate(notifications):
            entry: dict[str, Any] = {"Id": str(n), "MessageBody": json.dumps(notification)}
            if fault:
                entry["MessageAttributes"] = {"fault": {"DataType": "String", "StringValue": fault}}
            entries.append(entry)
        result = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        assert not result.get("Failed"), result

    def lines(self, notification_id: str, kind: str = DELIVERED) -> list[dict[str, Any]]:
        found = self.logs.lines(notification_id, self.created_at, kind)
        return [line for line in found if line.get("id") == notification_id]

    def kinds(self, notification_id: str) -> dict[str, int]:
        return self.logs.kinds(notification_id, self.created_at)

    def wait_delivered_once(self, notification_id: str, timeout: float = 40) -> dict[str, Any]:
        """The item carries `delivered_at` and the variant logged exactly one delivery."""

        def delivered() -> dict[str, Any] | None:
            item = self.tracer.item(notification_id)
            return item if item and "delivered_at" in item and self.lines(notification_id) else None

        item = eventually(
            delivered,
            timeout=timeout,
            interval=0.5,
            describe=lambda: f"{notification_id}: item {self.tracer.item(notification_id)}, "
            f"lines {self.kinds(notification_id)}",
        )
        assert len(self.lines(notification_id)) == 1, self.kinds(notification_id)
        return item

    def invoke(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        answer = self.lam.invoke(
            FunctionName=self.function_name, Payload=json.dumps({"Records": records})
        )
        payload = json.loads(answer["Payload"].read() or b"null")
        assert "FunctionError" not in answer, payload  # stopped early, never killed
        return payload

    def record(self, notification: dict[str, str], fault: str | None = None) -> dict[str, Any]:
        """An SQS event record as the mapping would build it (for direct invocations)."""
        attributes = {"fault": {"stringValue": fault, "dataType": "String"}} if fault else {}
        return {
            "messageId": notification["id"],
            "receiptHandle": "direct",
            "body": json.dumps(notification),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": attributes,
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.queue_arn.split(":")[3],
        }


def visibility_timeout(function_timeout: int) -> int:
    return function_timeout + 2


@pytest.fixture
def faulty_processor(
    client: Callable[..., Any], stack: dict[str, Any], tracer: Tracer, unique: Callable[[str], str]
) -> Iterator[Callable[..., FaultyProcessor]]:
    sqs, lam, logs, iam = client("sqs"), client("lambda"), client("logs"), client("iam")
    cleanups = Cleanups()
    processor = stack["function_names"]["processor"]
    source_role = lam.get_function_configuration(FunctionName=processor)["Role"].split("/")[-1]

    def make(
        batch_size: int = 10, window: int = 0, timeout: int = TIMEOUT_SECONDS
    ) -> FaultyProcessor:
        name = unique("faulty-processor")
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        cleanups.append(lambda: sqs.delete_queue(QueueUrl=dlq_url))
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        redrive = {
            "deadLetterTargetArn": (dlq := dlq_arn["Attributes"]["QueueArn"]),
            "maxReceiveCount": MAX_RECEIVE_COUNT,
        }
        queue_url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout(timeout)),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        cleanups.append(lambda: sqs.delete_queue(QueueUrl=queue_url))
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        cleanups.append(lambda: logs.delete_log_group(logGroupName=f"/aws/lambda/{name}"))
        cleanups.append(lambda: lam.delete_function(FunctionName=name))
        # The processor's role, plus consuming this queue (AWS checks it at the mapping's creation)
        own_queue = [
            {"Effect": "Allow", "Action": list(POLLING_ACTIONS), "Resource": queue_arn},
            {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"], "Resource": dlq},
        ]
        role_arn, _ = copy_role(
            iam,
            source_role,
            f"{name}-role",
            None,
            own_log_group(processor, name),
            cleanups,
            own_queue,
        )
        deploy_variant(lam, processor, name, VARIANT, timeout, role_arn=role_arn)
        mapping = lam.create_event_source_mapping(
            EventSourceArn=queue_arn,
            FunctionName=name,
            BatchSize=batch_size,
            MaximumBatchingWindowInSeconds=window,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
        cleanups.append(lambda: lam.delete_event_source_mapping(UUID=mapping["UUID"]))
        eventually(
            lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled",
            timeout=30,
            describe=f"mapping {mapping['UUID']} never Enabled",
        )
        return FaultyProcessor(
            sqs,
            lam,
            name,
            queue_url,
            queue_arn,
            ProcessorLogs(logs, f"/aws/lambda/{name}"),
            tracer,
        )

    yield make
    cleanups.run()


def user(unique: Callable[[str], str]) -> str:
    return unique("fault")


def test_a_timeout_after_the_store_is_completed_by_the_redelivery(
    faulty_processor: Callable[..., FaultyProcessor], unique: Callable[[str], str]
) -> None:
    processor = faulty_processor(batch_size=1)
    notification = topic_message("high", user(unique), "stored, then the function timed out")
    processor.send((notification, "timeout_after_store"))
    item = processor.wait_delivered_once(notification["id"])
    assert item["delivered_at"] > item["stored_at"]
    assert processor.lines(notification["id"], "notification.resumed"), processor.kinds(
        notification["id"]
    )


@pytest.mark.parametrize("fault", ["reply_lost_on_put", "reply_lost_on_mark"])
def test_a_reply_lost_after_dynamodb_committed_is_retried_and_delivers_once(
    fault: str, faulty_processor: Callable[..., FaultyProcessor], unique: Callable[[str], str]
) -> None:
    processor = faulty_processor(batch_size=1, timeout=AMPLE_TIMEOUT_SECONDS)
    notification = topic_message("medium", user(unique), f"{fault}: botocore retries")
    processor.send((notification, fault))
    processor.wait_delivered_once(notification["id"])
    kinds = processor.kinds(notification["id"])
    if fault == "reply_lost_on_put":  # the retried put finds the item its first try stored
        assert kinds.get("notification.resumed") == 1, kinds
    assert "notification.duplicate" not in kinds, kinds


@pytest.mark.long  # waits for the batch to come back after its visibility timeout: ~25 s
def test_a_crash_before_the_batch_response_delivers_nothing_twice(
    faulty_processor: Callable[..., FaultyProcessor], unique: Callable[[str], str]
) -> None:
    processor = faulty_processor(batch_size=10, window=1, timeout=AMPLE_TIMEOUT_SECONDS)
    who = user(unique)
    batch = [topic_message("low", who, f"crash batch {n}") for n in range(3)]
    processor.send(*[(n, "crash_before_response" if i == 1 else None) for i, n in enumerate(batch)])
    invocation = {}
    for notification in batch:
        processor.wait_delivered_once(notification["id"], timeout=2 * AMPLE_TIMEOUT_SECONDS + 10)
        [delivered] = processor.lines(notification["id"])
        invocation[notification["id"]] = delivered.get("function_request_id")
    # Every record of the invocation that crashed comes back (its response was lost) and finds
    # its delivery recorded. The mapping's pollers may split the three messages over more than
    # one invocation, as on AWS: the records of another invocation were answered and deleted.
    crashed = invocation[batch[1]["id"]]
    assert crashed, f"no function_request_id on the delivery lines: {invocation}"
    for notification in [n for n in batch if invocation[n["id"]] == crashed]:
        eventually(
            lambda n=notification: processor.lines(n["id"], "notification.duplicate"),
            timeout=visibility_timeout(AMPLE_TIMEOUT_SECONDS) * 3,
            interval=0.5,
            describe=lambda n=notification: f"{n['id']} not redelivered: "
            f"{processor.kinds(n['id'])}",
        )
    for notification in batch:
        assert len(processor.lines(notification["id"])) == 1, processor.kinds(notification["id"])
