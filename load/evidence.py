"""The drain phase: after the traffic, find every accepted id's item and delivery lines.

Items come from the notifications table (BatchGetItem, consistent reads), delivery lines from
the processor's log group (`harness.pipeline.ProcessorLogs`, one read for all ids). The drain
polls until every accepted id is stored and delivered, or its deadline passes; then it keeps
watching `settle_s` longer for late duplicate deliveries (a redelivery after a visibility
timeout) and reads the lines one last time.

Delivered means the item's `delivered_at` (set by the processor once after delivery) when the
processor writes it; before that attribute existed, a `notification.delivered` line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.pipeline import ProcessorLogs
from load.report import ATTRIBUTE, LOG, Evidence

DELIVERED: Final = "notification.delivered"
BATCH: Final = 100  # BatchGetItem's limit
PROCESSOR_SOURCES: Final = Path(__file__).resolve().parent.parent / "functions" / "processor"
POLL_S: Final = 1.0


def processor_sets_delivered_at(sources: Path = PROCESSOR_SOURCES) -> bool:
    """Whether this tree's processor writes `delivered_at` (what the sandbox deploys)."""
    return any("delivered_at" in path.read_text() for path in sources.glob("*.py"))


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item → plain values ({"S": "x"} → "x")."""
    return {k: next(iter(v.values())) for k, v in item.items()}


@dataclass(frozen=True)
class Reader:
    dynamodb: Any
    logs: Any
    table_name: str
    log_group: str

    def items(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The items of those ids that exist (consistent reads, 100 per call)."""
        wanted = list(ids)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH):
            keys = [{"id": {"S": i}} for i in wanted[start : start + BATCH]]
            request = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(10):  # unprocessed keys (throttling): bounded retries
                response = self.dynamodb.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    item = plain(raw)
                    found[item["id"]] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.2)
        return found

    def delivery_lines(self, since: float) -> dict[str, list[float]]:
        """Per id, the times of its notification.delivered lines since `since` (epoch s)."""
        lines: dict[str, list[float]] = {}
        for line in ProcessorLogs(self.logs, self.log_group).lines(DELIVERED, since, DELIVERED):
            if isinstance(line.get("id"), str):
                lines.setdefault(line["id"], []).append(line["_timestamp"])
        return lines


@dataclass(frozen=True)
class Drained:
    evidence: dict[str, Evidence]
    mode: str
    seconds: float
    complete: bool
    rounds: int


def drain(
    reader: Reader,
    accepted: Iterable[str],
    *,
    since: float,
    timeout_s: float,
    settle_s: float,
    mode_hint: str,
    say: Callable[[str], None],
) -> Drained:
    """Poll until every accepted id is complete (stored and delivered) or `timeout_s` passed.

    `mode_hint`: "attribute" or "log" to force the delivery evidence; "auto" switches to
    delivered_at as soon as any item carries it."""
    ids = list(dict.fromkeys(accepted))
    evidence = {i: Evidence() for i in ids}
    started = time.monotonic()
    deadline = started + timeout_s
    mode = ATTRIBUTE if mode_hint == ATTRIBUTE else LOG
    rounds = 0
    complete = not ids
    last_said = 0.0
    while ids:
        rounds += 1
        # items: the ones not stored yet, and (for delivered_at) the ones not delivered yet
        refresh = [
            i
            for i, e in evidence.items()
            if e.item is None or (mode == ATTRIBUTE and not e.complete(ATTRIBUTE))
        ]
        for notification_id, item in reader.items(refresh).items():
            evidence[notification_id].item = item
        if mode_hint == "auto" and any(
            (e.item or {}).get("delivered_at") for e in evidence.values()
        ):
            mode = ATTRIBUTE
        if mode == LOG:
            _attach_lines(evidence, reader.delivery_lines(since))
        done = sum(1 for e in evidence.values() if e.complete(mode))
        complete = done == len(ids)
        now = time.monotonic()
        if complete or now >= deadline or now - last_said >= 5:
            stored = sum(1 for e in evidence.values() if e.item is not None)
            say(
                f"drain {now - started:5.1f}/{timeout_s:.0f} s: stored {stored}/{len(ids)} · "
                f"delivered {done}/{len(ids)} "
                f"({'delivered_at' if mode == ATTRIBUTE else 'log lines'})"
            )
            last_said = now
        if complete or now >= deadline:
            break
        time.sleep(min(POLL_S, max(0.0, deadline - now)))
    settle = min(settle_s, max(0.0, deadline - time.monotonic())) if complete else 0.0
    if settle > 0:
        say(f"drain: all {len(ids)} delivered; watching {settle:.0f} s more for duplicates")
        time.sleep(settle)
    if ids:
        _attach_lines(evidence, reader.delivery_lines(since))
    return Drained(evidence, mode, time.monotonic() - started, complete, rounds)


def _attach_lines(evidence: dict[str, Evidence], lines: dict[str, list[float]]) -> None:
    for notification_id, found in evidence.items():
        found.lines = sorted(lines.get(notification_id, []))


def dlq_depths(sqs: Any, queues: dict[str, dict[str, str]]) -> dict[str, dict[str, int | None]]:
    """Per priority: messages in its DLQ and its subscription DLQ (visible + in flight)."""
    depths: dict[str, dict[str, int | None]] = {}
    for priority, urls in sorted(queues.items()):
        depths[priority] = {}
        for name, key in (("dlq", "dlq_url"), ("subscription_dlq", "subscription_dlq_url")):
            url = urls.get(key)
            if not url:
                continue
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            depths[priority][name] = int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
                attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
            )
    return depths
