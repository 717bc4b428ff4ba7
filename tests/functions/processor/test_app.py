"""The SQS handler against moto's DynamoDB, SQS and SNS: store once, deliver, record once.

Each failure point of docs/contract.md's delivery sequence is reproduced by the state it leaves
behind (an item stored but not marked; a mark already made) or by a failing call, and the next
receive must complete what the first one did not, delivering exactly once.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from lambda_fakes import FakeContext, client_error, sqs_record

from processor import app
from processor.dead_letters import DeadLetters
from processor.delivery import Delivery, latency_ms
from processor.store import NotificationStore

ACCEPTED = "2026-01-31T12:00:00.000Z"
NOW = datetime(2026, 1, 31, 12, 0, 1, 250_000, tzinfo=UTC)  # 1250 ms later
QUEUE = "notif-test-high"


def message(notification_id: str = "n-1", priority: str = "high", **changes: object) -> str:
    return json.dumps(
        {
            "id": notification_id,
            "user_id": "alice",
            "message": "hi 👋",
            "priority": priority,
            "sender": "sub-bob",
            "accepted_at": ACCEPTED,
            **changes,
        }
    )


@dataclass
class World:
    """moto's table, queues and topic, and the processor's settings wired to them."""

    table: Any
    sqs: Any
    queue_arn: str
    dlq_url: str
    email_queue_url: str
    settings: app.Settings

    def record(self, body: str, message_id: str = "m-1") -> dict:
        return sqs_record(body, message_id=message_id, arn=self.queue_arn)

    def run(self, *bodies: str) -> dict:
        records = [self.record(body, f"m-{n}") for n, body in enumerate(bodies)]
        return app.handler({"Records": records}, FakeContext())

    def item(self, notification_id: str = "n-1") -> dict | None:
        return self.table.get_item(Key={"id": notification_id}, ConsistentRead=True).get("Item")

    def drain(self, url: str) -> list[dict]:
        answer = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return answer.get("Messages", [])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, notifications_table: Any) -> Iterator[World]:
    table = notifications_table
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq_url = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 5}
    queue_url = sqs.create_queue(
        QueueName=QUEUE, Attributes={"RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns = boto3.client("sns", region_name="us-east-1")
    topic_arn = sns.create_topic(Name="deliveries")["TopicArn"]
    email_queue_url = sqs.create_queue(QueueName="alice-inbox")["QueueUrl"]
    email_queue_arn = sqs.get_queue_attributes(
        QueueUrl=email_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=email_queue_arn,
        Attributes={
            "FilterPolicy": json.dumps({"user_id": ["alice"]}),
            "RawMessageDelivery": "true",
        },
    )
    settings = app.Settings(
        store=NotificationStore("notifications", table=table),
        delivery=Delivery(app.logger, topic_arn, sns=sns, namespace="Notifications"),
        dead_letters=DeadLetters(client=sqs),
        shards=4,
        retention_days=7,
        clock=lambda: NOW,
    )
    monkeypatch.setattr(app, "_settings", settings)
    yield World(table, sqs, queue_arn["Attributes"]["QueueArn"], dlq_url, email_queue_url, settings)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The processor's log lines (its handler holds the stream it had when imported)."""
    buffer = io.StringIO()
    handler = app.logger.registered_handler
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def kinds(logs: io.StringIO) -> list[str]:
    return [line["message"] for line in json_lines(logs.getvalue()) if "message" in line]


def emf(text: str) -> list[dict]:
    return [line for line in json_lines(text) if "_aws" in line]


def test_stores_delivers_and_records_the_delivery(world: World, logs: io.StringIO) -> None:
    assert world.run(message()) == {"batchItemFailures": []}
    item = world.item()
    assert item["priority_shard"].startswith("high#")
    assert item["stored_at"] == item["delivered_at"] == "2026-01-31T12:00:01.250Z"
    assert item["expires_at"] == int(datetime(2026, 2, 7, 12, tzinfo=UTC).timestamp())
    [line] = [x for x in json_lines(logs.getvalue()) if x["message"] == "notification.delivered"]
    assert {k: line[k] for k in ("id", "user_id", "priority", "source_queue", "latency_ms")} == {
        "id": "n-1",
        "user_id": "alice",
        "priority": "high",
        "source_queue": QUEUE,
        "latency_ms": 1250,
    }


def test_the_email_channel_gets_the_message_filtered_by_user(world: World) -> None:
    world.run(message("for-alice"), message("for-bob", user_id="bob"))
    [mail] = world.drain(world.email_queue_url)
    assert mail["Body"] == "hi 👋"
    assert mail["MessageAttributes"]["notification_id"]["StringValue"] == "for-alice"
    assert world.item("for-bob")["delivered_at"]


def test_a_delivered_notification_is_not_delivered_again(world: World, logs) -> None:
    world.run(message())
    world.table.update_item(
        Key={"id": "n-1"},
        UpdateExpression="SET message = :m",
        ExpressionAttributeValues={":m": "state written later"},
    )
    assert world.run(message(), message()) == {"batchItemFailures": []}
    assert world.item()["message"] == "state written later"  # neither added nor overwritten
    assert kinds(logs).count("notification.delivered") == 1
    assert kinds(logs).count("notification.duplicate") == 2
    assert len(world.drain(world.email_queue_url)) == 1


def test_a_stored_but_undelivered_notification_is_delivered_by_the_redelivery(
    world: World, logs: io.StringIO
) -> None:
    """The first attempt died after the store (a timeout), or its put's reply was lost."""
    world.settings.store.put_once(
        {"id": "n-1", "user_id": "alice", "priority": "high", "stored_at": "earlier"}
    )
    assert world.run(message()) == {"batchItemFailures": []}
    assert world.item()["delivered_at"] == "2026-01-31T12:00:01.250Z"
    assert world.item()["stored_at"] == "earlier"  # the first attempt's item stays
    assert kinds(logs).count("notification.resumed") == 1
    assert kinds(logs).count("notification.delivered") == 1


def test_a_mark_already_made_is_not_an_error(world: World) -> None:
    """The mark's reply was lost and botocore retried it: the condition fails, all is done."""
    world.run(message())
    assert world.settings.store.mark_delivered("n-1", "later") is False
    assert world.item()["delivered_at"] == "2026-01-31T12:00:01.250Z"


def test_a_failing_channel_fails_the_record_and_records_no_delivery(
    world: World, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO
) -> None:
    def unavailable(**_: object) -> None:
        raise client_error("InternalError", "Publish")

    monkeypatch.setattr(world.settings.delivery.sns, "publish", unavailable)
    assert world.run(message()) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert "delivered_at" not in world.item()  # stored; the retry will deliver it
    assert "notification.delivered" not in kinds(logs)


def test_bodies_that_can_never_succeed_are_dead_lettered_at_once_with_their_reason(
    world: World,
) -> None:
    result = world.run(
        message("ok-1"),
        "{not json",
        message("bad", priority="urgent"),
        message("ok-2", accepted_at="yesterday"),
        message("ok-3", priority="low"),
    )
    assert result == {"batchItemFailures": []}  # nothing left to retry
    assert world.item("ok-1") and world.item("ok-3") and not world.item("bad")
    dead = sorted(world.drain(world.dlq_url), key=lambda m: m["Body"])
    assert [m["Body"] for m in dead] == sorted(
        ["{not json", message("bad", priority="urgent"), message("ok-2", accepted_at="yesterday")]
    )
    for letter in dead:
        attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
        assert attributes["reason"] == "invalid_message"
        assert attributes["source_queue"] == QUEUE
        assert json.loads(attributes["errors"])[0]["field"]


def test_a_queue_without_a_dlq_fails_the_invalid_record_instead(world: World) -> None:
    no_dlq = world.sqs.create_queue(QueueName="no-dlq")["QueueUrl"]
    world.queue_arn = world.sqs.get_queue_attributes(QueueUrl=no_dlq, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    assert world.run("{not json") == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_a_store_error_fails_the_record_alone(world: World, monkeypatch) -> None:
    real_put = world.table.put_item

    def throttled(**kwargs: Any) -> Any:
        if kwargs["Item"]["id"] == "slow":
            raise client_error("ProvisionedThroughputExceededException", "PutItem")
        return real_put(**kwargs)

    monkeypatch.setattr(world.table, "put_item", throttled)
    assert world.run(message("a"), message("slow"), message("b")) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]
    }
    assert world.item("a")["delivered_at"] and world.item("b")["delivered_at"]


def test_a_batch_short_of_time_stops_before_the_next_record(world: World, logs) -> None:
    left = iter([9000, 5000, 1999, 1500])
    world.settings.reserve_ms = 2000
    context = FakeContext()
    context.get_remaining_time_in_millis = lambda: next(left)  # type: ignore[method-assign]
    records = [world.record(message(f"n-{n}"), f"m-{n}") for n in range(4)]
    result = app.handler({"Records": records}, context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]}
    assert world.item("n-1") and not world.item("n-2") and not world.item("n-3")


def test_each_delivery_emits_its_metrics_at_once(world: World, capsys, monkeypatch) -> None:
    real_put = world.table.put_item

    def crash_on_third(**kwargs: Any) -> Any:
        if kwargs["Item"]["id"] == "c":
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")
        return real_put(**kwargs)

    monkeypatch.setattr(world.table, "put_item", crash_on_third)
    world.run(message("a", "high"), message("b", "low"), message("c", "high"), message("a"))
    documents = emf(capsys.readouterr().out)
    assert [(d["priority"], d["NotificationsDelivered"]) for d in documents] == [
        ("high", [1]),
        ("low", [1]),
    ]
    [directive] = documents[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Notifications"
    assert directive["Dimensions"] == [["priority"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "NotificationsDelivered": "Count",
        "EndToEndLatency": "Milliseconds",
    }
    assert documents[0]["EndToEndLatency"] == [1250]


def test_latency_is_never_negative() -> None:
    from notifications.validation import parse_topic_message

    notification = parse_topic_message(message())
    assert latency_ms(notification, NOW) == 1250
    assert latency_ms(notification, datetime(2026, 1, 31, 11, 59, 59, tzinfo=UTC)) == 0


def lease_item(owner: str, until_ms: int) -> dict[str, Any]:
    """The item another attempt stored (with its delivery lease), not yet delivered."""
    return {"id": "n-1", "user_id": "alice", "lease_owner": owner, "lease_until": until_ms}


def test_a_copy_arriving_while_another_attempt_delivers_waits_and_delivers_nothing(
    world: World, logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.table.put_item(Item=lease_item("other", 1 << 62))  # live lease
    store, real_lease = world.settings.store, world.settings.store.lease
    looks = []

    def lease(notification_id: str):  # the other attempt records its delivery meanwhile
        looks.append(notification_id)
        if len(looks) == 2:
            store.mark_delivered(notification_id, "by the other attempt")
        return real_lease(notification_id)

    monkeypatch.setattr(store, "lease", lease)
    monkeypatch.setattr(app, "LEASE_POLL_SECONDS", 0)
    assert world.run(message()) == {"batchItemFailures": []}
    assert world.item()["delivered_at"] == "by the other attempt"
    assert "notification.delivered" not in kinds(logs)
    assert kinds(logs).count("notification.duplicate") == 1


def test_a_copy_with_no_time_to_wait_for_the_lease_holder_is_retried_later(
    world: World, logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.table.put_item(Item=lease_item("other", 1 << 62))
    world.settings.reserve_ms = 2000
    left = iter(range(2500, 0, -100))  # the clock runs down while the attempt waits
    context = FakeContext()
    context.get_remaining_time_in_millis = lambda: next(left)  # type: ignore[method-assign]
    monkeypatch.setattr(app, "LEASE_POLL_SECONDS", 0)
    answer = app.handler({"Records": [world.record(message(), "m-0")]}, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert "delivered_at" not in world.item()
    assert "notification.delivered" not in kinds(logs)


def test_a_lease_that_ran_out_is_taken_over_and_delivered_once(
    world: World, logs: io.StringIO
) -> None:
    world.table.put_item(Item=lease_item("dead attempt", 1))  # expired long ago
    assert world.run(message()) == {"batchItemFailures": []}
    item = world.item()
    assert item["delivered_at"] and item["lease_owner"] != "dead attempt"
    assert kinds(logs).count("notification.delivered") == 1


def test_a_put_whose_reply_was_lost_finds_its_own_lease_and_delivers(
    world: World, logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world.settings.store
    real_put = store.put_once

    def committed_then_lost(item: dict[str, Any]) -> bool:
        real_put(item)  # DynamoDB committed; botocore's retry then fails the condition
        return real_put(item)

    monkeypatch.setattr(store, "put_once", committed_then_lost)
    assert world.run(message()) == {"batchItemFailures": []}
    assert world.item()["delivered_at"]
    assert kinds(logs).count("notification.delivered") == 1
    assert kinds(logs).count("notification.resumed") == 1
