"""The notification's durable facts: stored once, delivered by one attempt at a time, recorded once.

- `put_once`: a conditional put on `attribute_not_exists(id)`. A redelivered message (SQS is
  at-least-once) neither adds an item nor overwrites the stored one. The item carries a delivery
  lease (`lease_owner`, `lease_until` in epoch ms): the attempt that stored it may deliver it
  until its function would be stopped.
- `lease`: what another attempt finds (`delivered_at`, the lease); `take_over` moves an expired
  lease to a new attempt (conditional on the old owner), so two copies of one message received
  at the same time never both deliver.
- `mark_delivered`: a conditional update that sets `delivered_at` only where it is absent, made
  *after* the delivery. A redelivery of a stored but undelivered notification (its first attempt
  died between the store and the mark) therefore delivers it once its lease ran out.

A reply lost after DynamoDB committed (botocore retries the call) shows up as the condition
failing on the retry: the put's retry finds the caller's own lease, the mark's retry finds the
delivery recorded; both are "already done", which is what they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from botocore.exceptions import ClientError

STORE_CONDITION: Final = "attribute_not_exists(id)"
MARK_CONDITION: Final = "attribute_exists(id) AND attribute_not_exists(delivered_at)"
TAKE_OVER_CONDITION: Final = "lease_owner = :previous AND attribute_not_exists(delivered_at)"
CLAIM_CONDITION: Final = "attribute_not_exists(lease_owner) AND attribute_not_exists(delivered_at)"


@dataclass(frozen=True)
class Lease:
    """The delivery state another attempt finds on a stored item."""

    delivered: bool
    owner: str | None
    until_ms: int


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

    def lease(self, notification_id: str) -> Lease:
        """The item's delivery state (a strongly consistent read)."""
        item = self.table.get_item(
            Key={"id": notification_id},
            ProjectionExpression="delivered_at, lease_owner, lease_until",
            ConsistentRead=True,
        ).get("Item", {})
        return Lease(
            delivered="delivered_at" in item,
            owner=item.get("lease_owner"),
            until_ms=int(item.get("lease_until", 0)),
        )

    def take_over(
        self, notification_id: str, previous: str | None, owner: str, until_ms: int
    ) -> bool:
        """Move the delivery lease from `previous` to `owner`; False if someone else moved first."""
        values: dict[str, Any] = {":owner": owner, ":until": until_ms}
        if previous is not None:
            values[":previous"] = previous
        try:
            self.table.update_item(
                Key={"id": notification_id},
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression=TAKE_OVER_CONDITION if previous else CLAIM_CONDITION,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

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
