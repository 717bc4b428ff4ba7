"""The SQS handler: store once, one delivered line, partial batch failure, EMF by priority."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lambda_fakes import FakeContext, FakeTable, client_error, sqs_record
from processor import app
from processor.store import NotificationStore

ACCEPTED = "2026-01-31T12:00:00.000Z"
NOW = datetime(2026, 1, 31, 12, 0, 1, 250_000, tzinfo=UTC)  # 1250 ms later


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


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTable]:
    table = FakeTable()
    settings = app.Settings(
        store=NotificationStore("notifications", table=table),
        shards=4,
        retention_days=7,
        clock=lambda: NOW,
    )
    monkeypatch.setattr(app, "_settings", settings)
    yield table


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The processor's log lines (its handler holds the stream it had when imported)."""
    buffer = io.StringIO()
    handler = app.logger.registered_handler
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def run(*records: dict) -> dict:
    return app.handler({"Records": list(records)}, FakeContext())


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def delivered(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line.get("message") == "notification.delivered"]


def emf(lines: list[dict]) -> list[dict]:
    return [line for line in lines if "_aws" in line]


def test_stores_the_item_and_logs_one_delivery(table: FakeTable, logs: io.StringIO) -> None:
    result = run(sqs_record(message(), queue="notifications-high"))
    assert result == {"batchItemFailures": []}
    item = table.items["n-1"]
    assert item["priority_shard"].startswith("high#")
    assert item["stored_at"] == "2026-01-31T12:00:01.250Z"
    assert item["expires_at"] == int(datetime(2026, 2, 7, 12, tzinfo=UTC).timestamp())
    [line] = delivered(json_lines(logs.getvalue()))
    assert {k: line[k] for k in ("id", "user_id", "priority", "source_queue", "latency_ms")} == {
        "id": "n-1",
        "user_id": "alice",
        "priority": "high",
        "source_queue": "notifications-high",
        "latency_ms": 1250,
    }


def test_a_redelivery_neither_adds_nor_overwrites(table: FakeTable, logs: io.StringIO) -> None:
    run(sqs_record(message()))
    table.items["n-1"]["message"] = "state written later"  # e.g. a future update
    result = run(sqs_record(message()), sqs_record(message()))
    assert result == {"batchItemFailures": []}  # a duplicate is success, not a retry
    assert list(table.items) == ["n-1"]
    assert table.items["n-1"]["message"] == "state written later"
    assert table.puts == 3  # each attempt was a conditional put, refused twice
    lines = json_lines(logs.getvalue())
    assert len(delivered(lines)) == 1
    assert sum(line.get("message") == "notification.duplicate" for line in lines) == 2


def test_one_bad_record_fails_alone(table: FakeTable) -> None:
    records = [
        sqs_record(message("ok-1"), message_id="m1"),
        sqs_record("{not json", message_id="m2"),
        sqs_record(message("bad", priority="urgent"), message_id="m3"),
        sqs_record(message("ok-2", accepted_at="yesterday"), message_id="m4"),
        sqs_record(message("ok-3", priority="low"), message_id="m5"),
    ]
    result = run(*records)
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "m2"},
            {"itemIdentifier": "m3"},
            {"itemIdentifier": "m4"},
        ]
    }
    assert sorted(table.items) == ["ok-1", "ok-3"]


def test_a_store_error_fails_the_record_for_retry(table: FakeTable, monkeypatch) -> None:
    def throttled(**_: object) -> None:
        raise client_error("ProvisionedThroughputExceededException", "PutItem")

    monkeypatch.setattr(table, "put_item", throttled)
    result = run(sqs_record(message(), message_id="m1"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_emf_metrics_per_priority_with_only_the_priority_dimension(
    table: FakeTable, capsys
) -> None:
    run(
        sqs_record(message("a", "high")),
        sqs_record(message("b", "high")),
        sqs_record(message("c", "low")),
        sqs_record(message("a", "high")),  # duplicate: not delivered twice
    )
    documents = {doc["priority"]: doc for doc in emf(json_lines(capsys.readouterr().out))}
    assert set(documents) == {"high", "low"}
    high = documents["high"]
    [directive] = high["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Notifications"
    assert directive["Dimensions"] == [["priority"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "NotificationsDelivered": "Count",
        "EndToEndLatency": "Milliseconds",
    }
    assert high["NotificationsDelivered"] == [2]
    assert high["EndToEndLatency"] == [1250, 1250]
    assert documents["low"]["NotificationsDelivered"] == [1]


def test_source_queue_and_latency_helpers() -> None:
    from notifications.validation import parse_topic_message
    from processor.delivery import latency_ms, source_queue

    assert source_queue("arn:aws:sqs:eu-west-1:123456789012:prod-notifications-low") == (
        "prod-notifications-low"
    )
    notification = parse_topic_message(message())
    assert latency_ms(notification, NOW) == 1250
    early = datetime(2026, 1, 31, 11, 59, 59, tzinfo=UTC)  # a skewed clock
    assert latency_ms(notification, early) == 0
