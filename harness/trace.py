"""Follow one notification through every hop and say what each hop showed.

    accepted (API 202) → queue (the delivery line names it) → stored (DynamoDB item)
    → delivered (the item's `delivered_at`, and the processor's `notification.delivered` line)

`Trace.collect()` gathers what is there now; `wait_for_delivery()` polls until every hop is seen
and, on timeout, fails with a message that lists each hop's evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.pipeline import ProcessorLogs, describe_denials
from harness.waiting import eventually


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class Trace:
    """Evidence for one notification id, hop by hop (timestamps in epoch seconds)."""

    notification_id: str
    sent_at: float | None = None
    accepted_at: float | None = None
    item: dict[str, Any] | None = None
    delivery_lines: list[dict[str, Any]] = field(default_factory=list)
    delivered_at: float | None = None

    @property
    def queue(self) -> str | None:
        return self.delivery_lines[0].get("source_queue") if self.delivery_lines else None

    @property
    def stored_at(self) -> float | None:
        return parse_time(self.item["stored_at"]) if self.item else None

    @property
    def complete(self) -> bool:
        """Stored, its delivery recorded on the item, and its delivery line in the logs."""
        return self.delivered_at is not None and bool(self.delivery_lines)

    def hops_ms(self) -> dict[str, float | None]:
        """Milliseconds per hop: accept (request → accepted), store, deliver."""

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000, 1)

        return {
            "accepted": ms(self.sent_at, self.accepted_at),
            "stored": ms(self.accepted_at, self.stored_at),
            "delivered": ms(self.stored_at, self.delivered_at),
            "total": ms(self.sent_at, self.delivered_at),
        }

    def describe(self) -> str:
        item = (
            "none"
            if self.item is None
            else json.dumps({k: self.item[k] for k in sorted(self.item) if k != "message"})
        )
        return (
            f"trace of {self.notification_id}:\n"
            f"  accepted : {self.accepted_at}\n"
            f"  queue    : {self.queue or 'not seen (no delivery line yet)'}\n"
            f"  stored   : {item}\n"
            f"  delivered: {len(self.delivery_lines)} line(s) {self.delivery_lines[:3]}"
        )


@dataclass(frozen=True)
class Tracer:
    """Reads the evidence from the deployed stack (works on the sandbox and on AWS)."""

    dynamodb: Any
    logs: Any
    table_name: str
    processor_log_group: str

    def item(self, notification_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key={"id": {"S": notification_id}}, ConsistentRead=True
        )
        raw = response.get("Item")
        if raw is None:
            return None
        return {k: next(iter(v.values())) for k, v in raw.items()}

    def delivery_lines(
        self, notification_id: str, since: float, kind: str = "notification.delivered"
    ) -> list[dict[str, Any]]:
        """The processor's JSON log lines of `kind` for this id (oldest first)."""
        lines = ProcessorLogs(self.logs, self.processor_log_group).lines(
            notification_id, since, kind
        )
        return [line for line in lines if line.get("id") == notification_id]

    def collect(self, trace: Trace) -> Trace:
        since = trace.sent_at or 0
        trace.item = self.item(trace.notification_id)
        trace.delivery_lines = self.delivery_lines(trace.notification_id, since)
        if trace.item and "delivered_at" in trace.item:
            trace.delivered_at = parse_time(trace.item["delivered_at"])
        if trace.item and trace.accepted_at is None:
            trace.accepted_at = parse_time(trace.item["accepted_at"])
        return trace

    def wait_for_delivery(self, trace: Trace, timeout: float = 30.0) -> Trace:
        def probe() -> Trace | None:
            return trace if self.collect(trace).complete else None

        def describe() -> str:
            since = trace.sent_at or 0
            denied = describe_denials(self.logs, self.processor_log_group, since)
            return f"{trace.describe()}\n  {denied}"

        return eventually(probe, timeout=timeout, interval=0.2, describe=describe)
