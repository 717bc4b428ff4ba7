"""Opaque pagination tokens (base64url JSON) and the merge of the sharded priority index.

A token is bound to its query (the user, or the priority and the shard count) and checked
field by field, so a malformed or edited token is a 400 naming `next_token` and never
widens access: authorization is decided on the query, and the token only moves the start.
Tokens are not signed (the functions share no secret); they are opaque, not confidential.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

from notifications.errors import FieldError, RequestError, bad_request
from notifications.keys import shard_key
from notifications.timestamps import parse_timestamp
from notifications.validation import ID_MAX

FIELD: Final = "next_token"
VERSION: Final = 1
MAX_TOKEN_CHARS: Final = 4096
END: Final = "end"

#: The position after an item in one index partition: (accepted_at, id).
Position = tuple[str, str]


def invalid(reason: str) -> RequestError:
    return bad_request([FieldError(FIELD, "invalid", f"Malformed pagination token: {reason}.")])


def encode(payload: dict[str, Any]) -> str:
    raw = json.dumps({"v": VERSION, **payload}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode(token: str) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise invalid("empty or too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError) as exc:
        raise invalid("not base64url JSON") from exc
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise invalid("unknown version")
    return data


def _position(value: object) -> Position:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, str) and part for part in value)
    ):
        raise invalid("bad position")
    accepted_at, notification_id = value
    # Bounded here: the id becomes part of an ExclusiveStartKey, and a key over DynamoDB's
    # limit is a ValidationException (a 500), not a 400, if it gets that far.
    if len(notification_id) > ID_MAX:
        raise invalid("bad position")
    try:
        parse_timestamp(accepted_at)
    except ValueError as exc:
        raise invalid("bad position") from exc
    return accepted_at, notification_id


# --- a user's notifications (GSI by_user) -------------------------------------------------


def user_token(user_id: str, last: Position) -> str:
    return encode({"u": user_id, "after": list(last)})


def user_position(token: str, user_id: str) -> Position:
    """Where a page of `user_id`'s notifications resumes; 400 for another query's token."""
    data = decode(token)
    if data.get("u") != user_id:
        raise invalid("issued for another query")
    return _position(data.get("after"))


# --- a priority's notifications (GSI by_priority, n shards) -------------------------------

#: Per shard: None = from the newest, a Position = after it, END = exhausted.
ShardCursor = Position | str | None


def priority_token(priority: str, cursors: Sequence[ShardCursor]) -> str:
    return encode({"p": priority, "c": [list(c) if isinstance(c, tuple) else c for c in cursors]})


def priority_cursors(token: str | None, priority: str, shards: int) -> list[ShardCursor]:
    """The shard cursors in a token (all None without one); 400 for another query's token."""
    if token is None:
        return [None] * shards
    data = decode(token)
    cursors = data.get("c")
    if data.get("p") != priority or not isinstance(cursors, list) or len(cursors) != shards:
        raise invalid("issued for another query")
    return [c if c is None or c == END else _position(c) for c in cursors]


@dataclass(frozen=True)
class ShardPage:
    """One shard's answer: items newest first and whether the shard has more after them."""

    items: list[dict[str, Any]]
    has_more: bool


def merge_shards(
    priority: str,
    cursors: Sequence[ShardCursor],
    limit: int,
    read_shard: Callable[[str, Position | None, int], ShardPage],
) -> tuple[list[dict[str, Any]], str | None]:
    """Read each live shard (up to `limit` items after its cursor), keep the newest `limit`.

    A k-way merge on `accepted_at` keeps each shard's own order (the index's order among
    equal timestamps), so what is taken from a shard is a prefix of its page and its cursor
    moves to the last item taken: the next page neither repeats nor skips an item.
    """
    pages: dict[int, ShardPage] = {}
    for n, cursor in enumerate(cursors):
        if cursor != END:
            start = cursor if isinstance(cursor, tuple) else None
            pages[n] = read_shard(shard_key(priority, n), start, limit)
    streams = [[(item["accepted_at"], n, item) for item in page.items] for n, page in pages.items()]
    taken = list(islice(heapq.merge(*streams, key=lambda entry: entry[0], reverse=True), limit))
    new_cursors: list[ShardCursor] = list(cursors)
    for n, page in pages.items():
        mine = [item for _, shard, item in taken if shard == n]
        if mine:
            new_cursors[n] = (mine[-1]["accepted_at"], mine[-1]["id"])
        if len(mine) == len(page.items) and not page.has_more:
            new_cursors[n] = END
    items = [item for _, _, item in taken]
    if all(cursor == END for cursor in new_cursors):
        return items, None
    return items, priority_token(priority, new_cursors)
