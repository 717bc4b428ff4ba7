"""Accepting a notification: id, timestamp, publish — at most once per Idempotency-Key.

Idempotency is Powertools' (DynamoDB persistence): the key is the caller's `sub` with the
header's value, so two callers never share a key; the body is the payload checked on a
retry, so reusing a key for another notification is refused (422) instead of answered with
the first one's id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from ingest.publisher import Publisher
from notifications.identity import Caller
from notifications.model import Notification
from notifications.timestamps import format_timestamp, now
from notifications.validation import NotificationRequest

IDEMPOTENCY_TTL_SECONDS: Final = 24 * 3600


def new_id() -> str:
    return str(uuid.uuid4())


class Ingest:
    def __init__(
        self,
        publisher: Publisher,
        persistence: BasePersistenceLayer,
        clock: Callable[[], datetime] = now,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        self.publisher = publisher
        self.clock = clock
        self.make_id = make_id
        self.config = IdempotencyConfig(
            event_key_jmespath="[caller, key]",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
        )
        self._once = idempotent_function(
            data_keyword_argument="attempt", persistence_store=persistence, config=self.config
        )(self._attempt)

    def accept(
        self,
        request: NotificationRequest,
        caller: Caller,
        idempotency_key: str | None,
        lambda_context: Any = None,
    ) -> dict[str, str]:
        """Publish `request`; with a key, a retry returns the first answer and publishes nothing."""
        if idempotency_key is None:
            return self._publish(request, caller.sub)
        if lambda_context is not None:
            self.config.register_lambda_context(lambda_context)
        attempt = {"caller": caller.sub, "key": idempotency_key, "request": request.as_dict()}
        return self._once(attempt=attempt)

    def _attempt(self, attempt: dict[str, Any]) -> dict[str, str]:
        return self._publish(NotificationRequest(**attempt["request"]), attempt["caller"])

    def _publish(self, request: NotificationRequest, sender: str) -> dict[str, str]:
        notification = Notification(
            id=self.make_id(),
            user_id=request.user_id,
            message=request.message,
            priority=request.priority,
            sender=sender,
            accepted_at=format_timestamp(self.clock()),
        )
        self.publisher.publish(notification)
        return {"id": notification.id, "status": "accepted"}
