"""Storing a notification exactly once: a conditional put on `attribute_not_exists(id)`.

A redelivered message (SQS is at-least-once) then neither adds an item nor overwrites the
stored one, whatever changed in between.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError

CONDITION = "attribute_not_exists(id)"


class Table(Protocol):
    """The part of a boto3 DynamoDB Table resource the store uses."""

    def put_item(self, **kwargs: Any) -> Any: ...


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
            self.table.put_item(Item=item, ConditionExpression=CONDITION)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
