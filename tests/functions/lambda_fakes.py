"""In-memory stand-ins for what the functions call: honest about the semantics they rely on.

- FakeTable: a DynamoDB Table resource's put_item (with `attribute_not_exists(id)`), get_item
  and index query (newest first, Limit, ExclusiveStartKey, LastEvaluatedKey when Limit hit).
- FakeIdempotencyClient: the low-level DynamoDB client calls Powertools'
  DynamoDBPersistenceLayer makes, with its conditional put, so the real persistence layer runs.
- FakePublisher, FakeContext and API Gateway / SQS event builders.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, operation: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, **extra}, operation)


@dataclass
class FakeContext:
    function_name: str = "unit-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:unit-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[Any] = []
        self.fail_next = False

    def publish(self, notification: Any) -> None:
        if self.fail_next:
            self.fail_next = False
            raise client_error("InternalError", "Publish")
        self.published.append(notification)


class FakeSnsClient:
    """boto3 SNS client's publish, recording the exact call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"MessageId": str(uuid.uuid4())}


INDEXES = {"by_user": "user_id", "by_priority": "priority_shard"}


class FakeTable:
    """The notifications table (boto3 Table resource API, the calls the functions make)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.puts = 0

    def put_item(self, Item: dict[str, Any], ConditionExpression: str | None = None) -> None:
        self.puts += 1
        if ConditionExpression is not None:
            assert ConditionExpression == "attribute_not_exists(id)", ConditionExpression
            if Item["id"] in self.items:
                raise client_error("ConditionalCheckFailedException", "PutItem")
        self.items[Item["id"]] = dict(Item)

    def get_item(self, Key: dict[str, str]) -> dict[str, Any]:
        item = self.items.get(Key["id"])
        return {"Item": dict(item)} if item is not None else {}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        index = kwargs["IndexName"]
        assert kwargs["KeyConditionExpression"] == "#k = :v"
        key = kwargs["ExpressionAttributeNames"]["#k"]
        assert key == INDEXES[index]
        value = kwargs["ExpressionAttributeValues"][":v"]
        rows = [item for item in self.items.values() if item.get(key) == value]
        # Among equal sort keys a real index has some fixed order: insertion order stands in.
        order = list(self.items)
        rows.sort(key=lambda i: (i["accepted_at"], -order.index(i["id"])), reverse=True)
        assert kwargs["ScanIndexForward"] is False
        if (start := kwargs.get("ExclusiveStartKey")) is not None:
            if set(start) != {"id", key, "accepted_at"} or start[key] != value:
                raise client_error("ValidationException", "Query")
            ids = [row["id"] for row in rows]
            rows = rows[ids.index(start["id"]) + 1 :] if start["id"] in ids else []
        limit = kwargs["Limit"]
        page = rows[:limit]
        answer: dict[str, Any] = {"Items": [dict(row) for row in page]}
        if len(page) == limit:  # as DynamoDB: stopping at Limit yields a key, more or not
            last = page[-1]
            answer["LastEvaluatedKey"] = {k: last[k] for k in ("id", key, "accepted_at")}
        return answer


class FakeIdempotencyClient:
    """Low-level DynamoDB client for Powertools' idempotency table, items as AttributeValues.

    put_item honours the persistence layer's condition: the key is free, expired, or an
    in-progress record whose in-progress expiry passed; otherwise it fails, returning the old
    item (ReturnValuesOnConditionCheckFailure=ALL_OLD) as DynamoDB does.
    """

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.meta = None

    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool = False) -> dict:
        item = self.items.get(Key["id"]["S"])
        return {"Item": dict(item)} if item is not None else {}

    def put_item(self, TableName: str, Item: dict, ConditionExpression: str, **kwargs: Any) -> dict:
        key = Item["id"]["S"]
        old = self.items.get(key)
        if old is not None:
            now = time.time()
            expired = int(old["expiration"]["N"]) < now
            stale = (
                old["status"]["S"] == "INPROGRESS"
                and "in_progress_expiration" in old
                and int(old["in_progress_expiration"]["N"]) < now * 1000
            )
            if not (expired or stale):
                returns_old = kwargs.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                extra = {"Item": dict(old)} if returns_old else {}
                raise client_error("ConditionalCheckFailedException", "PutItem", **extra)
        self.items[key] = dict(Item)
        return {}

    def update_item(
        self,
        TableName: str,
        Key: dict,
        UpdateExpression: str,
        ExpressionAttributeNames: dict,
        ExpressionAttributeValues: dict,
    ) -> dict:
        item = self.items.setdefault(Key["id"]["S"], dict(Key))
        assignments = UpdateExpression.removeprefix("SET ").split(", ")
        for assignment in assignments:
            name, value = (part.strip() for part in assignment.split("="))
            item[ExpressionAttributeNames[name]] = ExpressionAttributeValues[value]
        return {}

    def delete_item(self, TableName: str, Key: dict) -> dict:
        self.items.pop(Key["id"]["S"], None)
        return {}


def claims(username: str = "alice", sub: str | None = None, groups: str | None = None) -> dict:
    found = {"cognito:username": username, "sub": sub or f"sub-{username}"}
    if groups is not None:
        found["cognito:groups"] = groups
    return found


def api_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    who: dict | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST (proxy) event as the Cognito-authorized API delivers it."""
    encoded = isinstance(body, bytes) or base64_body
    if encoded:
        raw = body.encode() if isinstance(body, str) else body
        body = base64.b64encode(raw or b"").decode()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "test",
            "httpMethod": method,
            "path": f"/test{path}",
            "authorizer": {"claims": who if who is not None else claims()},
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def response_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def sqs_record(
    body: str,
    queue: str = "notifications-high",
    message_id: str | None = None,
    arn: str | None = None,
) -> dict:
    """An SQS event record; `arn` (a real queue's) overrides the one built from `queue`."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": arn or f"arn:aws:sqs:us-east-1:000000000000:{queue}",
        "awsRegion": "us-east-1",
    }
