"""The notification's two durable facts: stored once, and delivered (recorded once).

- `put_once`: a conditional put on `attribute_not_exists(id)`. A redelivered message (SQS is
  at-least-once) neither adds an item nor overwrites the stored one.
- `mark_delivered`: a conditional update that sets `delivered_at` only where it is absent, made
  *after* the delivery. A redelivery of a stored but undelivered notification (its first attempt
  died between the store and the mark) therefore delivers it; a delivered one is left alone.

A reply lost after DynamoDB committed (botocore retries the call) shows up as the condition
failing on the retry; both methods treat that as "already done", which is what it is.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from botocore.exceptions import ClientError

STORE_CONDITION: Final = "attribute_not_exists(id)"
MARK_CONDITION: Final = "attribute_exists(id) AND attribute_not_exists(delivered_at)"


class Table(Protocol):
    """The part of a boto3 DynamoDB Table resource the store uses."""

    def put_item(self, **kwargs: Any) -> Any: ...
    def get_item(self, **kwargs: Any) -> Any: ...
    def update_item(self, **kwargs: Any) -> Any: ...


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class NotificationStore:
    def __init__(self, table_name: str, table: Table | None = None) -> None:
        self.table_name = table_name
        self._table = table

    @property
    def table(self) -> Table:
        if self._table is None:
            import boto3

            self._table = boto3.resource("dynamodb").Table(self.table_name)
        return self._table

    def put_once(self, item: dict[str, Any]) -> bool:
        """Store `item`; False when an item with its id exists already (nothing written)."""
        try:
            self.table.put_item(Item=item, ConditionExpression=STORE_CONDITION)
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def is_delivered(self, notification_id: str) -> bool:
        """True once `delivered_at` is on the item (a strongly consistent read)."""
        answer = self.table.get_item(
            Key={"id": notification_id},
            ProjectionExpression="delivered_at",
            ConsistentRead=True,
        )
        return "delivered_at" in answer.get("Item", {})

    def mark_delivered(self, notification_id: str, delivered_at: str) -> bool:
        """Record the delivery; False when it was recorded already (nothing written)."""
        try:
            self.table.update_item(
                Key={"id": notification_id},
                UpdateExpression="SET delivered_at = :at",
                ConditionExpression=MARK_CONDITION,
                ExpressionAttributeValues={":at": delivered_at},
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True
