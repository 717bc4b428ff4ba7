"""What the Lambda runtime hands the functions, and a publisher double: FakeContext, API Gateway /
SQS event builders, FakePublisher (the ingest service's Publisher, failing on demand).

Nothing here stands in for an AWS service: the tests use moto's (`mock_aws`, see conftest.py).
"""

from __future__ import annotations

import base64
import json
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
