"""Reads of the notifications table and its two indexes, newest first."""

from __future__ import annotations

from typing import Any

from notifications.pagination import Position, ShardPage


class NotificationReader:
    """The table's reads; the boto3 Table (endpoint from the environment) is created lazily."""

    def __init__(self, table_name: str, table: Any = None) -> None:
        self.table_name = table_name
        self._table = table

    @property
    def table(self) -> Any:
        if self._table is None:
            import boto3

            self._table = boto3.resource("dynamodb").Table(self.table_name)
        return self._table

    def get(self, notification_id: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"id": notification_id}).get("Item")

    def _newest_first(
        self, index: str, key: str, value: str, start: dict[str, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": value},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        answer = self.table.query(**kwargs)
        return answer.get("Items", []), "LastEvaluatedKey" in answer

    def user_page(
        self, user_id: str, after: Position | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` of `user_id`'s notifications after `after`; and whether more may follow."""
        start = None
        if after is not None:
            start = {"user_id": user_id, "accepted_at": after[0], "id": after[1]}
        return self._newest_first("by_user", "user_id", user_id, start, limit)

    def shard_page(self, shard: str, after: Position | None, limit: int) -> ShardPage:
        """Up to `limit` notifications of one `by_priority` partition after `after`."""
        start = None
        if after is not None:
            start = {"priority_shard": shard, "accepted_at": after[0], "id": after[1]}
        items, more = self._newest_first("by_priority", "priority_shard", shard, start, limit)
        return ShardPage(items=items, has_more=more)
