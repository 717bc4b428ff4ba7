"""Keys of the `by_priority` index: `"<priority>#<n>"` spreads one priority over n shards.

The shard comes from a stable hash of the id (not Python's salted `hash()`), so every writer
and every redelivery of one notification chooses the same shard.
"""

from __future__ import annotations

import hashlib

from notifications.priorities import PRIORITIES

DEFAULT_SHARDS = 4


def shard_of(notification_id: str, shards: int) -> int:
    if shards < 1:
        raise ValueError("shards must be >= 1")
    digest = hashlib.sha256(notification_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def priority_shard(priority: str, notification_id: str, shards: int) -> str:
    return shard_key(priority, shard_of(notification_id, shards))


def shard_key(priority: str, shard: int) -> str:
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}")
    return f"{priority}#{shard}"


def shard_keys(priority: str, shards: int) -> list[str]:
    """Every partition key of one priority in the `by_priority` index."""
    return [shard_key(priority, n) for n in range(shards)]
