"""The caller from the authorizer's claims, and the notification's item and message forms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.errors import RequestError
from notifications.identity import caller_from_event, parse_groups
from notifications.model import Notification, public_view
from notifications.timestamps import format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("value", "groups"),
    [
        ("admins", {"admins"}),
        ("admins,ops", {"admins", "ops"}),
        ("[admins ops]", {"admins", "ops"}),
        ("[admins, ops]", {"admins", "ops"}),
        (["admins", "ops"], {"admins", "ops"}),
        ("", set()),
        (None, set()),
        ("administrators", {"administrators"}),  # not a substring match
    ],
)
def test_groups_claim_forms(value: object, groups: set[str]) -> None:
    assert parse_groups(value) == groups


def test_caller_from_claims_and_401_without_them() -> None:
    event = {"requestContext": {"authorizer": {"claims": {"cognito:username": "al", "sub": "s"}}}}
    caller = caller_from_event(event)
    assert (caller.username, caller.sub, caller.groups) == ("al", "s", frozenset())
    for broken in ({}, {"requestContext": {}}, {"requestContext": {"authorizer": {"claims": {}}}}):
        with pytest.raises(RequestError) as caught:
            caller_from_event(broken)
        assert caught.value.status == 401
        assert caught.value.body() == {"message": "Unauthorized"}


NOTIFICATION = Notification(
    id="n-1",
    user_id="alice",
    message="hi",
    priority="high",
    sender="sub-1",
    accepted_at="2026-01-31T23:59:59.999Z",
)


def test_item_has_the_contract_attributes() -> None:
    stored = datetime(2026, 2, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    item = NOTIFICATION.to_item(stored_at=stored, shards=4, retention_days=30)
    assert set(item) == {
        "id", "user_id", "message", "priority", "sender", "accepted_at",
        "stored_at", "priority_shard", "expires_at",
    }  # fmt: skip
    assert item["stored_at"] == "2026-02-01T00:00:00.500Z"
    assert item["priority_shard"] in {"high#0", "high#1", "high#2", "high#3"}
    accepted = datetime(2026, 1, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    assert item["expires_at"] == int(accepted.timestamp()) + 30 * 86400
    assert set(public_view(item)) == set(item) - {"priority_shard", "expires_at"}


def test_timestamps_are_fixed_width_utc_milliseconds() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 8000, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-03-04T05:06:07.008Z"
    assert parse_timestamp("2026-03-04T05:06:07.008Z") == moment
    arabic_indic = "2026-03-04T05:06:07.008Z".translate({48 + d: 0x0660 + d for d in range(10)})
    for bad in (
        "2026-03-04T05:06:07Z",
        "2026-03-04 05:06:07.008Z",
        "2026-03-04T05:06:07+00:00",
        arabic_indic,  # digits of another script: not ASCII, not the fixed-width sort order
    ):
        with pytest.raises(ValueError):
            parse_timestamp(bad)
