"""The notification: the topic message, the stored item and the API's view of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from notifications.keys import priority_shard
from notifications.priorities import Priority
from notifications.timestamps import format_timestamp, parse_timestamp

#: Item attributes the API returns (the shard and the TTL are storage details).
PUBLIC_FIELDS: Final = (
    "id",
    "user_id",
    "message",
    "priority",
    "sender",
    "accepted_at",
    "stored_at",
)


@dataclass(frozen=True)
class Notification:
    """What ingest publishes on the topic and processor stores."""

    id: str
    user_id: str
    message: str
    priority: Priority
    sender: str
    accepted_at: str

    def to_message(self) -> dict[str, str]:
        """The topic message body (docs/contract.md, "Message on the topic")."""
        return asdict(self)

    def to_attributes(self) -> dict[str, dict[str, str]]:
        """The topic message's attributes: `priority`, which the queue subscriptions filter on."""
        return {"priority": {"DataType": "String", "StringValue": self.priority}}

    def accepted(self) -> datetime:
        return parse_timestamp(self.accepted_at)

    def to_item(self, *, stored_at: datetime, shards: int, retention_days: int) -> dict[str, Any]:
        """The DynamoDB item; `expires_at` counts from acceptance so a redelivery agrees."""
        expires = self.accepted() + timedelta(days=retention_days)
        return {
            **asdict(self),
            "stored_at": format_timestamp(stored_at),
            "priority_shard": priority_shard(self.priority, self.id, shards),
            "expires_at": int(expires.timestamp()),
        }


def public_view(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the API shows it."""
    return {field: item[field] for field in PUBLIC_FIELDS if field in item}
