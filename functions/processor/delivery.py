"""The delivery of one notification: its channels, its log line and its metrics, together.

Channels, in order: the deliveries topic (optional; `DELIVERIES_TOPIC_ARN`), whose subscribers
are the users' e-mail addresses (one subscription per address, filtered on `user_id`), then the
`notification.delivered` log line. The metrics are emitted with each delivery as one EMF
document (only dimension `priority`), never batched: a function killed later loses nothing
already delivered from the dashboard.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from notifications.model import Notification

DELIVERED: Final = "NotificationsDelivered"
LATENCY: Final = "EndToEndLatency"
DELIVERED_LINE: Final = "notification.delivered"


def latency_ms(notification: Notification, delivered_at: datetime) -> int:
    """Milliseconds from acceptance to delivery; 0 when clocks disagree the other way."""
    return max(0, round((delivered_at - notification.accepted()).total_seconds() * 1000))


def deliveries_message(notification: Notification) -> dict[str, Any]:
    """What the deliveries topic carries: the e-mail's text, and attributes to filter on."""
    return {
        "Subject": f"New {notification.priority} priority notification",
        "Message": notification.message,
        "MessageAttributes": {
            "user_id": {"DataType": "String", "StringValue": notification.user_id},
            "priority": {"DataType": "String", "StringValue": notification.priority},
            "notification_id": {"DataType": "String", "StringValue": notification.id},
        },
    }


class Delivery:
    def __init__(
        self,
        logger: Logger,
        deliveries_topic_arn: str | None = None,
        sns: Any = None,
        namespace: str | None = None,
    ) -> None:
        self.logger = logger
        self.topic_arn = deliveries_topic_arn or None
        self._sns = sns
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE")

    @property
    def sns(self) -> Any:
        if self._sns is None:
            import boto3

            self._sns = boto3.client("sns")
        return self._sns

    def deliver(self, notification: Notification, queue: str, delivered_at: datetime) -> int:
        """Send on every channel; raises (delivering nothing more) when a channel fails."""
        latency = latency_ms(notification, delivered_at)
        if self.topic_arn is not None:
            self.sns.publish(TopicArn=self.topic_arn, **deliveries_message(notification))
        self.logger.info(
            DELIVERED_LINE,
            extra={
                "id": notification.id,
                "user_id": notification.user_id,
                "priority": notification.priority,
                "source_queue": queue,
                "latency_ms": latency,
                "email": self.topic_arn is not None,
            },
        )
        self.emit_metrics(notification.priority, latency)
        return latency

    def emit_metrics(self, priority: str, latency: int) -> None:
        metrics = EphemeralMetrics(namespace=self.namespace, service="")
        metrics.add_dimension(name="priority", value=priority)
        metrics.add_metric(name=DELIVERED, unit=MetricUnit.Count, value=1)
        metrics.add_metric(name=LATENCY, unit=MetricUnit.Milliseconds, value=latency)
        metrics.flush_metrics()
