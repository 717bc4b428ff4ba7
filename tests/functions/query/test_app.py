"""The read routes: authorization, pagination through the opaque token, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lambda_fakes import FakeContext, api_event, claims, response_json

from notifications.keys import priority_shard
from query import app
from query.reader import NotificationReader

# A caller is their `sub`; usernames are for humans only (claims(u) has sub "sub-<u>").
ALICE = claims("alice")
BOB = claims("bob")
ADMIN = claims("root", groups="[admins, ops]")
#: A later user who got the name "alice" after the first was deleted: a new sub.
NEW_ALICE = claims("alice", sub="sub-alice-2")


def stored(table: Any, n: int, user: str, priority: str = "high") -> None:
    notification_id = f"{user.removeprefix('sub-')}-{n:03d}"
    table.put_item(
        Item={
            "id": notification_id,
            "user_id": user,
            "message": f"message {n}",
            "priority": priority,
            "sender": "sub-x",
            "accepted_at": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z",
            "stored_at": "2026-01-01T01:00:00.000Z",
            "priority_shard": priority_shard(priority, notification_id, 4),
            "expires_at": 1,
        }
    )


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch, notifications_table: Any) -> Iterator[Any]:
    table = notifications_table
    for n in range(7):
        stored(table, n, "sub-alice", "high" if n % 2 else "low")
    for n in range(3):
        stored(table, n, "sub-bob", "high")
    monkeypatch.setattr(app, "_reader", NotificationReader("notifications", table=table))
    yield table


def get(path: str, who: dict, **query: str) -> tuple[int, dict]:
    response = app.handler(api_event("GET", path, who=who, query=query or None), FakeContext())
    return response["statusCode"], response_json(response)


@pytest.mark.parametrize(
    ("who", "status"),
    [(ALICE, 200), (BOB, 403), (ADMIN, 200), (claims("x", groups="ops"), 403), (NEW_ALICE, 403)],
)
def test_one_notification_for_its_recipient_or_an_admin(table, who: dict, status: int) -> None:
    code, body = get("/notifications/alice-003", who)
    assert code == status
    if status == 200:
        assert body["id"] == "alice-003" and body["message"] == "message 3"
        assert "priority_shard" not in body and "expires_at" not in body
    else:
        assert body == {"message": "Forbidden"}


def test_unknown_notification_is_404(table) -> None:
    assert get("/notifications/nope", ALICE) == (404, {"message": "Notification not found"})


def field_codes(body: dict) -> list[tuple[str, str]]:
    return [(error["field"], error["code"]) for error in body["errors"]]


@pytest.mark.parametrize("who", [ALICE, ADMIN])
def test_an_id_longer_than_any_notification_id_is_400_before_the_table(table, who) -> None:
    # 3,000 bytes would be over DynamoDB's 2 KB key limit (a 500 if it reached GetItem)
    code, body = get("/notifications/" + "i" * 3000, who)
    assert (code, field_codes(body)) == (400, [("id", "too_long")])
    code, body = get("/notifications/" + "%C3%A9" * 129, who)  # percent-decoded, then counted
    assert (code, field_codes(body)) == (400, [("id", "too_long")])


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [("u" * 3000, "too_long"), ("al%20ice", "pattern"), ("%C3%A5lice", "pattern")],
)
def test_a_user_id_path_parameter_breaking_the_user_id_rules_is_400(table, user_id, expected):
    code, body = get(f"/users/{user_id}/notifications", ADMIN)
    assert (code, field_codes(body)) == (400, [("userId", expected)])


@pytest.mark.parametrize(
    ("who", "status"), [(ALICE, 200), (BOB, 403), (ADMIN, 200), (NEW_ALICE, 403)]
)
def test_a_users_list_for_that_user_or_an_admin(table, who: dict, status: int) -> None:
    code, body = get("/users/sub-alice/notifications", who)
    assert code == status
    if status == 200:
        assert [i["id"] for i in body["items"]] == [f"alice-{n:03d}" for n in range(6, -1, -1)]
        assert body["next_token"] is None


def test_a_users_list_pages_through_the_token(table) -> None:
    seen: list[str] = []
    token = None
    for _ in range(10):
        query = {"limit": "3", **({"next_token": token} if token else {})}
        code, body = get("/users/sub-alice/notifications", ALICE, **query)
        assert code == 200 and len(body["items"]) <= 3
        seen += [i["id"] for i in body["items"]]
        token = body["next_token"]
        if token is None:
            break
    assert seen == [f"alice-{n:03d}" for n in range(6, -1, -1)]


def test_another_users_token_is_400_not_their_data(table) -> None:
    _, first = get("/users/sub-bob/notifications", BOB, limit="1")
    code, body = get("/users/sub-alice/notifications", ALICE, next_token=first["next_token"])
    assert code == 400
    assert [e["field"] for e in body["errors"]] == ["next_token"]


@pytest.mark.parametrize("token", ["garbage", "eyJ2IjoxfQ", "", "x" * 5000])
def test_malformed_tokens_are_400(table, token: str) -> None:
    code, body = get("/users/sub-alice/notifications", ALICE, next_token=token)
    assert code == 400
    assert body["errors"][0]["field"] == "next_token"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", "٣"])
def test_bad_limits_are_400(table, limit: str) -> None:
    code, body = get("/users/sub-alice/notifications", ALICE, limit=limit)
    assert code == 400
    assert body["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("who", [ALICE, BOB, claims("x", groups="administrators")])
def test_listing_by_priority_is_for_admins_only(table, who: dict) -> None:
    assert get("/notifications", who, priority="high") == (403, {"message": "Forbidden"})


def test_by_priority_merges_shards_newest_first(table) -> None:
    seen: list[dict] = []
    token = None
    for _ in range(10):
        query = {"priority": "high", "limit": "2", **({"next_token": token} if token else {})}
        code, body = get("/notifications", ADMIN, **query)
        assert code == 200
        seen += body["items"]
        token = body["next_token"]
        if token is None:
            break
    expected = {i["id"] for i in table.scan()["Items"] if i["priority"] == "high"}
    assert [i["id"] for i in seen if i["id"] in expected] == [i["id"] for i in seen]
    assert sorted(i["id"] for i in seen) == sorted(expected)
    stamps = [i["accepted_at"] for i in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert len({priority_shard("high", i, 4) for i in expected}) > 1  # really several shards


def test_by_priority_validates_every_parameter(table) -> None:
    code, body = get("/notifications", ADMIN, priority="urgent", limit="0")
    assert code == 400
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("priority", "invalid_choice"),
        ("limit", "invalid"),
    ]
    code, body = get("/notifications", ADMIN)
    assert (code, body["errors"][0]["code"]) == (400, "missing")


def test_a_priority_token_is_bound_to_its_priority(table) -> None:
    _, first = get("/notifications", ADMIN, priority="high", limit="1")
    code, body = get("/notifications", ADMIN, priority="low", next_token=first["next_token"])
    assert code == 400 and body["errors"][0]["field"] == "next_token"


def test_without_claims_is_401(table) -> None:
    assert get("/users/sub-alice/notifications", {}) == (401, {"message": "Unauthorized"})
