"""Lambda handler of the three priority queues (handler `processor.app.handler`).

Powertools' BatchProcessor returns a partial batch response, so a bad record (invalid JSON,
failed validation, a store error) fails alone and only it is retried, then dead-lettered.
The event source mapping must enable `ReportBatchItemFailures`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from notifications.errors import RequestError
from notifications.keys import DEFAULT_SHARDS
from notifications.timestamps import now
from notifications.validation import parse_topic_message
from processor.delivery import DeliveryMetrics, latency_ms, log_delivered, source_queue
from processor.store import NotificationStore

logger = Logger()
batch = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@dataclass
class Settings:
    store: NotificationStore
    shards: int
    retention_days: int
    clock: Callable[[], datetime] = now


_settings: Settings | None = None


def settings() -> Settings:
    """Built from the environment on first use (tests assign `_settings`)."""
    global _settings
    if _settings is None:
        _settings = Settings(
            store=NotificationStore(os.environ["TABLE_NAME"]),
            shards=int(os.environ.get("PRIORITY_SHARDS", DEFAULT_SHARDS)),
            retention_days=int(os.environ.get("RETENTION_DAYS", "30")),
        )
    return _settings


def process(record: SQSRecord, metrics: DeliveryMetrics) -> None:
    """Store one record's notification once and deliver it; raise to fail the record."""
    config = settings()
    try:
        notification = parse_topic_message(record.body)
    except RequestError as error:
        logger.warning(
            "notification.invalid",
            extra={"message_id": record.message_id, "errors": error.body().get("errors", [])},
        )
        raise
    stored_at = config.clock()
    item = notification.to_item(
        stored_at=stored_at, shards=config.shards, retention_days=config.retention_days
    )
    if not config.store.put_once(item):
        logger.info("notification.duplicate", extra={"id": notification.id})
        return
    latency = latency_ms(notification, stored_at)
    log_delivered(logger, notification, source_queue(record.event_source_arn), latency)
    metrics.record(notification.priority, latency)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics = DeliveryMetrics()
    try:
        return process_partial_response(
            event=event,
            record_handler=lambda record: process(record, metrics),
            processor=batch,
            context=context,
        )
    finally:
        metrics.flush()
