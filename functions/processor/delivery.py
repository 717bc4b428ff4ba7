"""The simulated delivery: one structured log line and the EMF metrics, per priority.

Metrics are aggregated per batch and flushed as one EMF document per priority whose only
dimension is `priority` (no `service` dimension), as docs/contract.md names them.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime
from typing import Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from notifications.model import Notification

DELIVERED: Final = "NotificationsDelivered"
LATENCY: Final = "EndToEndLatency"
MAX_VALUES_PER_DOCUMENT: Final = 100  # EMF's limit of values per metric


def source_queue(event_source_arn: str) -> str:
    """The queue name at the end of `arn:aws:sqs:<region>:<account>:<name>`."""
    return event_source_arn.rsplit(":", 1)[-1]


def latency_ms(notification: Notification, delivered_at: datetime) -> int:
    """Milliseconds from acceptance to delivery; 0 when clocks disagree the other way."""
    return max(0, round((delivered_at - notification.accepted()).total_seconds() * 1000))


def log_delivered(logger: Logger, notification: Notification, queue: str, latency: int) -> None:
    logger.info(
        "notification.delivered",
        extra={
            "id": notification.id,
            "user_id": notification.user_id,
            "priority": notification.priority,
            "source_queue": queue,
            "latency_ms": latency,
        },
    )


class DeliveryMetrics:
    """Latencies of one batch, by priority, until `flush` prints them as EMF."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
        self.latencies: dict[str, list[int]] = defaultdict(list)

    def record(self, priority: str, latency: int) -> None:
        self.latencies[priority].append(latency)

    def flush(self) -> None:
        for priority, values in sorted(self.latencies.items()):
            for start in range(0, len(values), MAX_VALUES_PER_DOCUMENT):
                chunk = values[start : start + MAX_VALUES_PER_DOCUMENT]
                metrics = EphemeralMetrics(namespace=self.namespace, service="")
                metrics.add_dimension(name="priority", value=priority)
                metrics.add_metric(name=DELIVERED, unit=MetricUnit.Count, value=len(chunk))
                for value in chunk:
                    metrics.add_metric(name=LATENCY, unit=MetricUnit.Milliseconds, value=value)
                metrics.flush_metrics()
        self.latencies.clear()
