"""Accepting a notification: id, timestamp, publish — one notification per Idempotency-Key.

Idempotency is Powertools' (DynamoDB persistence): the key is the caller's `sub` with the
header's value, so two callers never share a key; the body is the payload checked on a
retry, so reusing a key for another notification is refused (422) instead of answered with
the first one's id.

With a key, the notification id is derived from the caller, the key and the request
(`keyed_id`), not drawn at random: a retry after a failure that struck between the publish and
the idempotency record (a timeout, a crash) publishes the *same* id again, and the processor's
store-once turns the two messages into one notification.
"""

from __future__ import annotations

import json
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
#: Namespace of the name-based (UUIDv5) ids of keyed requests; never change it.
KEYED_ID_NAMESPACE: Final = uuid.UUID("6f1d3c1e-8a8e-4c43-9a43-4d0f6e1f6a10")


def new_id() -> str:
    return str(uuid.uuid4())


def keyed_id(caller_sub: str, idempotency_key: str, request: NotificationRequest) -> str:
    """The id of a keyed request: the same caller, key and request always give the same id."""
    name = json.dumps([caller_sub, idempotency_key, request.as_dict()], ensure_ascii=False)
    return str(uuid.uuid5(KEYED_ID_NAMESPACE, name))


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
            return self._publish(request, caller.sub, self.make_id())
        if lambda_context is not None:
            self.config.register_lambda_context(lambda_context)
        attempt = {"caller": caller.sub, "key": idempotency_key, "request": request.as_dict()}
        return self._once(attempt=attempt)

    def _attempt(self, attempt: dict[str, Any]) -> dict[str, str]:
        request = NotificationRequest(**attempt["request"])
        sender = attempt["caller"]
        return self._publish(request, sender, keyed_id(sender, attempt["key"], request))

    def _publish(
        self, request: NotificationRequest, sender: str, notification_id: str
    ) -> dict[str, str]:
        notification = Notification(
            id=notification_id,
            user_id=request.user_id,
            message=request.message,
            priority=request.priority,
            sender=sender,
            accepted_at=format_timestamp(self.clock()),
        )
        self.publisher.publish(notification)
        return {"id": notification.id, "status": "accepted"}
