"""Publishing on the SNS topic, with the `priority` attribute the subscriptions filter on."""

from __future__ import annotations

import json
from typing import Any, Protocol

from notifications.model import Notification


class Publisher(Protocol):
    def publish(self, notification: Notification) -> None: ...


class SnsPublisher:
    """Publishes to `topic_arn`; the boto3 client (endpoint from the environment) is lazy."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    def publish(self, notification: Notification) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns")
        self._client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(notification.to_message(), ensure_ascii=False),
            MessageAttributes=notification.to_attributes(),
        )
