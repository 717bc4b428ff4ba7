"""POST /notifications through the handler: validation, publishing, idempotency.

The publisher is a fake (a test double of the Publisher protocol); idempotency runs Powertools'
real DynamoDBPersistenceLayer over moto's DynamoDB, and SnsPublisher publishes to moto's SNS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from lambda_fakes import FakeContext, FakePublisher, api_event, claims, response_json

from ingest import app
from ingest.publisher import SnsPublisher
from ingest.service import Ingest, keyed_id
from notifications.model import Notification
from notifications.validation import NotificationRequest

BODY = {"user_id": "bob", "message": "Grüße 👋", "priority": "medium"}
#: Only members of the sender group (SENDER_GROUP, default "senders") may post.
SENDER = claims("alice", groups="senders")
NOW = datetime(2026, 1, 31, 12, 0, 0, 123_456, tzinfo=UTC)


class World:
    def __init__(self, idempotency_table: str) -> None:
        self.publisher = FakePublisher()
        self.table = idempotency_table
        self.dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        persistence = DynamoDBPersistenceLayer(table_name=self.table, boto3_client=self.dynamodb)
        ids = iter(f"id-{n}" for n in range(1000))
        self.service = Ingest(
            self.publisher, persistence, clock=lambda: NOW, make_id=lambda: next(ids)
        )

    def post(
        self,
        body: object = BODY,
        headers: dict | None = None,
        content_type: str | None = "application/json",
        **kwargs,
    ) -> dict:
        raw = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        kwargs.setdefault("who", SENDER)
        declared = {"Content-Type": content_type} if content_type is not None else {}
        headers = {**declared, **(headers or {})}
        event = api_event("POST", "/notifications", body=raw, headers=headers, **kwargs)
        return app.handler(event, FakeContext())

    def records(self) -> list[dict[str, Any]]:
        """The idempotency records, as DynamoDB AttributeValues."""
        return self.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"]

    def forget(self, record: dict[str, Any]) -> None:
        self.dynamodb.delete_item(TableName=self.table, Key={"id": record["id"]})


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, idempotency_table: str) -> Iterator[World]:
    world = World(idempotency_table)
    monkeypatch.setattr(app, "_service", world.service)
    yield world


def test_accepts_and_publishes_the_contract_message(world: World) -> None:
    response = world.post(who=claims("alice", sub="sub-alice", groups="senders"))
    assert response["statusCode"] == 202
    assert response_json(response) == {"id": "id-0", "status": "accepted"}
    [notification] = world.publisher.published
    assert notification.to_message() == {
        "id": "id-0",
        "user_id": "bob",
        "message": "Grüße 👋",
        "priority": "medium",
        "sender": "sub-alice",
        "accepted_at": "2026-01-31T12:00:00.123Z",
    }


def test_sns_publisher_sets_the_priority_attribute(aws: None) -> None:
    """What reaches a queue subscribed to the topic, as SNS wraps it (not raw delivery)."""
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="t")["TopicArn"]
    queue = sqs.create_queue(QueueName="low")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    publisher = SnsPublisher(topic, client=sns)
    publisher.publish(Notification("i", "bob", "héllo 👋", "low", "s", "2026-01-01T00:00:00.000Z"))
    [received] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["TopicArn"] == topic
    assert envelope["MessageAttributes"] == {"priority": {"Type": "String", "Value": "low"}}
    assert json.loads(envelope["Message"])["message"] == "héllo 👋"


def test_invalid_body_is_400_with_every_error_and_nothing_published(world: World) -> None:
    response = world.post({"user_id": 5, "message": "", "priority": "urgent", "x": None})
    assert response["statusCode"] == 400
    body = response_json(response)
    assert body["message"] == "Invalid request"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("user_id", "wrong_type"),
        ("message", "too_short"),
        ("priority", "invalid_choice"),
        ("x", "unknown_field"),
    ]
    assert world.publisher.published == []


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [("{not json", 400, "invalid_json"), (None, 400, "missing"), ("x" * 20_000, 413, "too_large")],
)
def test_malformed_and_oversize_bodies(world: World, raw: str | None, status: int, code: str):
    response = world.post(raw)
    assert response["statusCode"] == status
    [error] = response_json(response)["errors"]
    assert (error["field"], error["code"]) == ("body", code)
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert world.publisher.published == []


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_not_declared_json_is_415(world: World, content_type: str | None) -> None:
    response = world.post(content_type=content_type)
    assert response["statusCode"] == 415
    assert response_json(response) == {
        "message": "Unsupported media type",
        "errors": [
            {
                "field": "body",
                "code": "unsupported_media_type",
                "message": "The body must be application/json.",
            }
        ],
    }
    assert world.publisher.published == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON; charset=UTF-8", "application/json;"]
)
def test_json_with_or_without_a_utf8_charset_is_accepted(world: World, content_type: str) -> None:
    response = world.post(content_type=None, headers={"content-type": content_type})
    assert response["statusCode"] == 202


def test_base64_encoded_body_is_decoded(world: World) -> None:
    response = world.post(json.dumps(BODY).encode())
    assert response["statusCode"] == 202
    assert world.publisher.published[0].message == "Grüße 👋"


def test_without_claims_is_401(world: World) -> None:
    response = world.post(who={})
    assert response["statusCode"] == 401
    assert response_json(response) == {"message": "Unauthorized"}


@pytest.mark.parametrize(
    "groups", [None, "admins", "[admins, readers]", "sender", "senders-of-spam"], ids=repr
)
def test_only_the_sender_group_may_post_403_before_the_body_is_read(world, groups) -> None:
    """A reader (an admin included) cannot send: not to another user, not to themselves, and
    not even an invalid body gets further than the 403."""
    reader = claims("mallory", sub="sub-mallory", groups=groups)
    for body in (BODY, {**BODY, "user_id": "sub-mallory"}, {"user_id": 42}):
        response = world.post(body, who=reader)
        assert (response["statusCode"], response_json(response)) == (403, {"message": "Forbidden"})
    assert world.publisher.published == []
    assert world.post(who=claims("app", groups="ops, senders"))["statusCode"] == 202  # control


def test_retry_with_the_same_key_returns_the_same_id_without_publishing(world: World) -> None:
    first = world.post(headers={"Idempotency-Key": "k-1"})
    again = world.post(headers={"idempotency-key": "k-1"})  # header names are case-insensitive
    assert first["statusCode"] == again["statusCode"] == 202
    expected = keyed_id("sub-alice", "k-1", NotificationRequest(**BODY))
    assert response_json(again) == response_json(first) == {"id": expected, "status": "accepted"}
    assert len(world.publisher.published) == 1
    [record] = world.records()
    assert record["status"]["S"] == "COMPLETED"
    assert "expiration" in record  # the contract's TTL attribute


def test_keys_are_per_caller(world: World) -> None:
    first = world.post(headers={"Idempotency-Key": "k"}, who=claims("alice", "sub-a", "senders"))
    other = world.post(headers={"Idempotency-Key": "k"}, who=claims("carol", "sub-c", "senders"))
    assert response_json(other)["id"] != response_json(first)["id"]
    assert len(world.publisher.published) == 2


def test_a_retry_the_idempotency_record_missed_publishes_the_same_id(world: World) -> None:
    """The first attempt published, then died before its idempotency record was completed."""
    first = world.post(headers={"Idempotency-Key": "k"})
    [record] = world.records()
    world.forget(record)  # as if the record was never completed
    again = world.post(headers={"Idempotency-Key": "k"})
    assert response_json(again)["id"] == response_json(first)["id"]
    assert [n.id for n in world.publisher.published] == [response_json(first)["id"]] * 2


def test_keyed_ids_depend_on_caller_key_and_request() -> None:
    request = NotificationRequest(**BODY)
    other = NotificationRequest(**{**BODY, "priority": "high"})
    same = keyed_id("s", "k", request)
    assert same == keyed_id("s", "k", NotificationRequest(**BODY))
    assert len({same, keyed_id("t", "k", request), keyed_id("s", "j", request)}) == 3
    assert keyed_id("s", "k", other) != same


def test_without_a_key_every_post_publishes(world: World) -> None:
    world.post()
    world.post()
    assert [n.id for n in world.publisher.published] == ["id-0", "id-1"]


def test_same_key_for_another_body_is_422(world: World) -> None:
    world.post(headers={"Idempotency-Key": "k"})
    response = world.post({**BODY, "message": "different"}, headers={"Idempotency-Key": "k"})
    assert response["statusCode"] == 422
    assert "Idempotency-Key" in response_json(response)["message"]
    assert len(world.publisher.published) == 1


def test_a_failed_publish_releases_the_key(world: World) -> None:
    world.publisher.fail_next = True
    failed = world.post(headers={"Idempotency-Key": "k"})
    assert failed["statusCode"] == 500
    assert response_json(failed) == {"message": "Internal server error"}
    assert world.records() == []
    retried = world.post(headers={"Idempotency-Key": "k"})
    assert retried["statusCode"] == 202
    assert len(world.publisher.published) == 1


def test_a_key_in_progress_is_409(world: World) -> None:
    world.post(headers={"Idempotency-Key": "k"})
    [record] = world.records()
    record["status"] = {"S": "INPROGRESS"}
    record["in_progress_expiration"] = {"N": str(10**15)}  # far future: still running
    world.dynamodb.put_item(TableName=world.table, Item=record)
    response = world.post(headers={"Idempotency-Key": "k"})
    assert response["statusCode"] == 409
    assert len(world.publisher.published) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ключ"])
def test_malformed_idempotency_key_is_400(world: World, key: str) -> None:
    response = world.post(headers={"Idempotency-Key": key})
    assert response["statusCode"] == 400
    assert response_json(response)["errors"][0]["field"] == "Idempotency-Key"
    assert world.publisher.published == []


def test_unknown_route_is_json_404(world: World) -> None:
    event = api_event("GET", "/nowhere")
    response = app.handler(event, FakeContext())
    assert response["statusCode"] == 404
    assert response_json(response) == {"message": "Not found"}
