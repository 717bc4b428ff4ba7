"""Reach behind the API: topic/queue messages built by hand, queue peeks, processor log lines.

Used by the failure suites to inject messages the API never produces (no `priority` attribute,
a poison body, the same SQS message twice) and to prove where they went.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from notifications.model import Notification
from notifications.timestamps import format_timestamp, now


def topic_message(priority: str, user_id: str, message: str = "direct") -> dict[str, str]:
    """A valid topic/queue body (docs/contract.md), built by the functions' own model."""
    return Notification(
        id=str(uuid.uuid4()),
        user_id=user_id,
        message=message,
        priority=priority,
        sender="integration-tests",
        accepted_at=format_timestamp(now()),
    ).to_message()


def topic_attributes(body: dict[str, str]) -> dict[str, dict[str, str]]:
    """The attributes ingest publishes `body` with (the subscriptions route on them)."""
    return Notification(**body).to_attributes()


def poison_body(marker: str) -> str:
    """A body the processor rejects (valid JSON, not a notification), findable by `marker`."""
    return json.dumps({"poison": marker, "priority": "not-a-notification"})


def peek(
    sqs: Any, queue_url: str, needle: str, rounds: int = 3, attributes: bool = False
) -> list[dict[str, Any]]:
    """Visible messages whose body contains `needle`, left visible (VisibilityTimeout=0).

    With `attributes`, their message attributes too. Never use it on a queue a mapping
    consumes: a receive counts towards maxReceiveCount.
    """
    found: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"] if attributes else [],
            WaitTimeSeconds=0,
        )
        for message in response.get("Messages", []):
            if needle in message["Body"]:
                found[message["MessageId"]] = message
    return list(found.values())


def remove(sqs: Any, queue_url: str, needle: str, timeout: float = 10.0) -> int:
    """Delete the messages whose body contains `needle`; others become visible again at once."""
    deleted = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=5, WaitTimeSeconds=0
        )
        messages = response.get("Messages", [])
        for message in messages:
            if needle in message["Body"]:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                deleted += 1
            else:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        if not peek(sqs, queue_url, needle, rounds=1):
            break
    return deleted


def queue_counts(sqs: Any, queue_url: str) -> dict[str, str]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": attributes.get("ApproximateNumberOfMessages", "?"),
        "in_flight": attributes.get("ApproximateNumberOfMessagesNotVisible", "?"),
    }


def log_events(logs: Any, log_group: str, since: float, pattern: str) -> Iterator[dict[str, Any]]:
    """CloudWatch Logs events of `log_group` matching `pattern` since `since` (5 s of slack for
    clock skew), page by page, at most 100 pages; none when the group does not exist yet."""
    kwargs: dict[str, Any] = {
        "logGroupName": log_group,
        "startTime": int((since - 5) * 1000),
        "filterPattern": pattern,
    }
    for _ in range(100):  # pages
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return
        yield from page.get("events", [])
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


@dataclass(frozen=True)
class ProcessorLogs:
    """The processor's JSON log lines (Powertools), searched by a string they contain."""

    logs: Any
    log_group: str

    def lines(self, needle: str, since: float, kind: str | None = None) -> list[dict[str, Any]]:
        """Lines mentioning `needle` with `"message": kind` (any kind when None), oldest first."""
        found: list[dict[str, Any]] = []
        for event in log_events(self.logs, self.log_group, since, f'"{needle}"'):
            if needle not in event["message"]:  # the filter pattern matches terms loosely
                continue
            try:
                line = json.loads(event["message"])
            except ValueError:
                continue
            if isinstance(line, dict) and (kind is None or line.get("message") == kind):
                found.append({**line, "_timestamp": event["timestamp"] / 1000})
        return sorted(found, key=lambda line: line["_timestamp"])

    def kinds(self, needle: str, since: float) -> dict[str, int]:
        """How many lines of each kind mention `needle` (for failure messages)."""
        counts: dict[str, int] = {}
        for line in self.lines(needle, since):
            counts[str(line.get("message"))] = counts.get(str(line.get("message")), 0) + 1
        return counts


#: botocore's text for a ClientError, as a function's logged traceback holds it (JSON-escaped
#: inside a Powertools line: the message ends at the escaped newline or the closing quote).
_CLIENT_ERROR = re.compile(
    r"An error occurred \((?P<error>[\w.]+)\) when calling the (?P<operation>\w+) operation"
    r"(?: \(reached max retries: \d+\))?: (?P<message>[^\"\\\n]*)"
)
_DENIED = re.compile(r"AccessDenied|Authorization|Unauthorized|KMSAccessDenied")


@dataclass(frozen=True)
class Denial:
    """One access denial a function logged: the service's error code, operation and text.

    The text is the service's own ("User: <session> is not authorized to perform: <action> on
    resource: <arn> because ..."), so it names the denied action and resource.
    """

    error: str
    operation: str
    message: str
    at: float

    def __str__(self) -> str:
        return f"{self.error} on {self.operation}: {self.message}"


def denials(logs: Any, log_group: str, since: float) -> list[Denial]:
    """The access denials (AccessDenied*, AuthorizationError, KMSAccessDenied) that the
    functions logging to `log_group` logged since `since`, oldest first, each once."""
    found: dict[tuple[str, str, str], Denial] = {}
    for event in log_events(logs, log_group, since, '"when calling the"'):
        for match in _CLIENT_ERROR.finditer(event["message"]):
            if _DENIED.search(match["error"]):
                key = (match["error"], match["operation"], match["message"])
                found.setdefault(key, Denial(*key, at=event["timestamp"] / 1000))
    return sorted(found.values(), key=lambda denial: denial.at)


def describe_denials(logs: Any, log_group: str, since: float) -> str:
    """For failure messages: what `log_group` shows was denied, action and resource included."""
    found = denials(logs, log_group, since)
    if not found:
        return f"{log_group}: no access denial logged"
    return f"{log_group}: {len(found)} access denial(s) logged:\n" + "\n".join(
        f"  {denial}" for denial in found
    )
