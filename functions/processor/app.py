"""Lambda handler of the three priority queues (handler `processor.app.handler`).

Per record: store once, deliver, record the delivery (docs/contract.md, "Delivery"):

    put_once (with a delivery lease) ─▶ deliver ─▶ mark_delivered
       └ exists ─▶ delivered: `notification.duplicate`, nothing else
                 ─▶ our own lease (the put's reply was lost): deliver
                 ─▶ another attempt's lease, still running: wait for it (then a duplicate),
                    or fail the record to retry later
                 ─▶ a lease that ran out (its attempt died): take it over, deliver

so a redelivered message completes whatever its first attempt did not, whichever step died, and
two copies of one message processed at the same time deliver it once.
A body that can never be a notification is dead-lettered at once with its reason
(processor/dead_letters.py); any other failure fails only its record (Powertools'
BatchProcessor returns a partial batch response; the mapping needs ReportBatchItemFailures),
and SQS retries it, then moves it to the DLQ after maxReceiveCount receives.

A batch that runs short of time stops before the next record and reports the rest as failed
(retried later), instead of being killed in the middle of one.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

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
from notifications.timestamps import format_timestamp, now
from notifications.validation import parse_topic_message
from processor.dead_letters import DeadLetters, queue_name
from processor.delivery import Delivery
from processor.store import NotificationStore

#: Time kept back for one more record: a store, a delivery and a mark, with one slow retry.
RECORD_RESERVE_MS: Final = 2000
#: How often an attempt looks again while another attempt holds the delivery lease.
LEASE_POLL_SECONDS: Final = 0.05

logger = Logger()
# With `logger`, each failed record is logged with its exception (e.g. an AccessDenied naming
# the action and resource), not only counted in the batch response.
batch = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False, logger=logger)


class OutOfTime(Exception):
    """Raised for the records a batch had no time left for: they are retried, not lost."""


class LeaseHeld(Exception):
    """Another attempt is still delivering this notification: retry the record later."""


@dataclass
class Settings:
    store: NotificationStore
    delivery: Delivery
    dead_letters: DeadLetters
    shards: int
    retention_days: int
    clock: Callable[[], datetime] = now
    reserve_ms: int = RECORD_RESERVE_MS
    remaining_ms: Callable[[], int] = field(default=lambda: 1 << 30)
    now_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)


_settings: Settings | None = None


def settings() -> Settings:
    """Built from the environment on first use (tests assign `_settings`)."""
    global _settings
    if _settings is None:
        _settings = Settings(
            store=NotificationStore(os.environ["TABLE_NAME"]),
            delivery=Delivery(logger, os.environ.get("DELIVERIES_TOPIC_ARN")),
            dead_letters=DeadLetters(),
            shards=int(os.environ.get("PRIORITY_SHARDS", DEFAULT_SHARDS)),
            retention_days=int(os.environ.get("RETENTION_DAYS", "30")),
        )
    return _settings


def dead_letter(record: SQSRecord, error: RequestError) -> None:
    errors = error.body().get("errors", [])
    moved_to = settings().dead_letters.send(
        source_queue_arn=record.event_source_arn,
        message_id=record.message_id,
        body=record.body,
        reason="invalid_message",
        errors=errors,
    )
    logger.warning(
        "notification.invalid",
        extra={"message_id": record.message_id, "errors": errors, "dead_letter_id": moved_to},
    )


def process(record: SQSRecord) -> None:
    """Store, deliver and mark one record's notification; raise to fail the record."""
    config = settings()
    left_ms = config.remaining_ms()
    if left_ms < config.reserve_ms:
        raise OutOfTime(f"{left_ms} ms left, {config.reserve_ms} ms needed")
    try:
        notification = parse_topic_message(record.body)
    except RequestError as error:
        dead_letter(record, error)
        return
    owner, until_ms = str(uuid.uuid4()), config.now_ms() + left_ms
    item = notification.to_item(
        stored_at=config.clock(), shards=config.shards, retention_days=config.retention_days
    )
    item.update(lease_owner=owner, lease_until=until_ms)
    if not config.store.put_once(item) and not acquire_lease(notification.id, owner, until_ms):
        logger.info("notification.duplicate", extra={"id": notification.id})
        return
    delivered_at = config.clock()
    config.delivery.deliver(notification, queue_name(record.event_source_arn), delivered_at)
    config.store.mark_delivered(notification.id, format_timestamp(delivered_at))


def acquire_lease(notification_id: str, owner: str, until_ms: int) -> bool:
    """For a stored notification: True when this attempt may deliver it, False when delivered.

    Raises LeaseHeld when another attempt still holds the lease and this one has no time left
    to wait for it.
    """
    config = settings()
    while True:
        lease = config.store.lease(notification_id)
        if lease.delivered:
            return False
        if lease.owner == owner:  # our own put committed; its reply was lost
            break
        if lease.until_ms <= config.now_ms():  # its attempt died: take over
            if config.store.take_over(notification_id, lease.owner, owner, until_ms):
                break
            continue
        if config.remaining_ms() < config.reserve_ms:
            raise LeaseHeld(f"{notification_id} is being delivered by another attempt")
        time.sleep(LEASE_POLL_SECONDS)
    logger.info("notification.resumed", extra={"id": notification_id})
    return True


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    config.remaining_ms = context.get_remaining_time_in_millis
    result = process_partial_response(
        event=event, record_handler=process, processor=batch, context=context
    )
    if failures := result.get("batchItemFailures"):
        logger.warning("batch.partial_failure", extra={"failed": len(failures)})
    return result
