"""Pagination tokens (round trip, tampering) and the newest-first merge of priority shards."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest

from notifications import pagination
from notifications.errors import RequestError
from notifications.keys import priority_shard
from notifications.pagination import END, ShardPage, merge_shards


def refused(call, *args) -> list[tuple[str, str]]:
    with pytest.raises(RequestError) as caught:
        call(*args)
    assert caught.value.status == 400
    return [(e.field, e.code) for e in caught.value.errors]


def forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def test_user_token_round_trips_and_is_opaque_base64url() -> None:
    token = pagination.user_token("alice", ("2026-01-01T00:00:00.000Z", "id-1"))
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert pagination.user_position(token, "alice") == ("2026-01-01T00:00:00.000Z", "id-1")


def test_priority_token_round_trips() -> None:
    cursors = [None, ("2026-01-01T00:00:00.000Z", "x"), END, None]
    token = pagination.priority_token("high", cursors)
    assert pagination.priority_cursors(token, "high", 4) == cursors
    assert pagination.priority_cursors(None, "high", 4) == [None] * 4


GOOD_AFTER = ["2026-01-01T00:00:00.000Z", "id-1"]


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "%%%",
        "A",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        forge([1, 2]),
        forge({"v": 2, "u": "alice", "after": GOOD_AFTER}),
        forge({"u": "alice", "after": GOOD_AFTER}),
        forge({"v": 1, "u": "bob", "after": GOOD_AFTER}),  # another user's token
        forge({"v": 1, "u": "alice", "after": ["yesterday", "id-1"]}),
        forge({"v": 1, "u": "alice", "after": ["2026-01-01T00:00:00.000Z", 5]}),
        forge({"v": 1, "u": "alice", "after": ["2026-01-01T00:00:00.000Z", ""]}),
        forge({"v": 1, "u": "alice", "after": [*GOOD_AFTER, "extra"]}),
        forge({"v": 1, "u": "alice"}),
        forge({"v": 1, "u": "alice", "after": ["2026-01-01T00:00:00.000Z", "i" * 129]}),
        forge(
            {"v": 1, "u": "alice", "after": ["\u0662\u0660\u0662\u0666-01-01T00:00:00.000Z", "i"]}
        ),
        "x" * 5000,
    ],
)
def test_tampered_user_tokens_are_400_naming_next_token(token: str) -> None:
    assert refused(pagination.user_position, token, "alice") == [("next_token", "invalid")]


def test_every_truncation_of_a_token_is_refused_or_harmless() -> None:
    token = pagination.user_token("alice", ("2026-01-01T00:00:00.000Z", "id-1"))
    for cut in range(len(token)):
        with pytest.raises(RequestError):
            pagination.user_position(token[:cut], "alice")


@pytest.mark.parametrize(
    ("token", "priority", "shards"),
    [
        (pagination.priority_token("high", [None] * 4), "low", 4),  # another priority
        (pagination.priority_token("high", [None] * 4), "high", 3),  # shard count changed
        (pagination.user_token("alice", tuple(GOOD_AFTER)), "high", 4),  # another route's
        (forge({"v": 1, "p": "high", "c": [None, None, None, "later"]}), "high", 4),
        (forge({"v": 1, "p": "high", "c": "all"}), "high", 4),
        (
            forge({"v": 1, "p": "high", "c": [None, None, None, [GOOD_AFTER[0], "i" * 3000]]}),
            "high",
            4,
        ),
    ],
)
def test_tampered_priority_tokens_are_400(token: str, priority: str, shards: int) -> None:
    assert refused(pagination.priority_cursors, token, priority, shards) == [
        ("next_token", "invalid")
    ]


def shard_reader(table: Any):
    """The query function's read of one shard, over moto's index."""
    from query.reader import NotificationReader

    return NotificationReader("t", table=table).shard_page


def fill(table: Any, count: int, shards: int, seed: int) -> None:
    rng = random.Random(seed)
    for n in range(count):
        notification_id = f"id-{n:04d}"
        second = rng.randrange(0, 30)  # few distinct timestamps: many ties across shards
        table.put_item(
            Item={
                "id": notification_id,
                "user_id": "u",
                "priority": "high",
                "accepted_at": f"2026-01-01T00:00:{second:02d}.000Z",
                "priority_shard": priority_shard("high", notification_id, shards),
            }
        )


@pytest.mark.parametrize(("count", "limit"), [(0, 5), (1, 5), (37, 5), (40, 10), (40, 40), (9, 1)])
def test_paging_a_priority_returns_every_item_once_newest_first(
    count: int, limit: int, notifications_table: Any
) -> None:
    shards = 4
    table = notifications_table
    fill(table, count, shards, seed=count * 100 + limit)
    cursors = pagination.priority_cursors(None, "high", shards)
    seen: list[dict] = []
    for _ in range(count + 2):
        items, token = merge_shards("high", cursors, limit, shard_reader(table))
        assert len(items) <= limit
        seen += items
        if token is None:
            break
        cursors = pagination.priority_cursors(token, "high", shards)  # via the opaque token
    else:
        pytest.fail("pagination did not end")
    stored = [i["id"] for i in table.scan()["Items"]]
    assert sorted(i["id"] for i in seen) == sorted(stored)  # none lost, none repeated
    stamps = [i["accepted_at"] for i in seen]
    assert stamps == sorted(stamps, reverse=True)  # newest first across pages and shards


def test_exhausted_shards_are_not_read_again() -> None:
    reads: list[str] = []

    def read(shard: str, after, limit: int) -> ShardPage:
        reads.append(shard)
        if shard == "low#0":
            return ShardPage([{"id": "a", "accepted_at": "2026-01-01T00:00:01.000Z"}], False)
        return ShardPage(
            [
                {"id": f"b{n}", "accepted_at": f"2026-01-01T00:00:0{9 - n}.000Z"}
                for n in range(limit)
            ],
            True,
        )

    items, token = merge_shards("low", [None, None], 2, read)
    assert [i["id"] for i in items] == ["b0", "b1"]
    cursors = pagination.priority_cursors(token, "low", 2)
    assert cursors == [None, ("2026-01-01T00:00:08.000Z", "b1")]  # shard 0: nothing taken yet
    reads.clear()
    items, token = merge_shards("low", [END, cursors[1]], 2, read)
    assert reads == ["low#1"]
