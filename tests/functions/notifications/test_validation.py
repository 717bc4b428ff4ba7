"""The POST body's validation: every violation reported, each naming its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from notifications.errors import RequestError
from notifications.validation import (
    MAX_BODY_BYTES,
    MESSAGE_MAX_CHARS,
    parse_request,
    parse_topic_message,
)

VALID = {"user_id": "alice", "message": "hello", "priority": "high"}
COMBINING_ACUTE = "\u0301"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points, one glyph


def body(**changes: Any) -> str:
    data = {**VALID, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def refused(raw: str | bytes | None) -> tuple[int, list[tuple[str, str]]]:
    with pytest.raises(RequestError) as caught:
        parse_request(raw)
    error = caught.value
    return error.status, [(e.field, e.code) for e in error.errors]


@pytest.mark.parametrize(
    "message",
    [
        "x",
        "x" * MESSAGE_MAX_CHARS,
        "héllo wörld",
        "こんにちは世界",
        "مرحبا بالعالم",
        "👍" * MESSAGE_MAX_CHARS,  # 1000 code points, 4000 UTF-8 bytes
        FAMILY * (MESSAGE_MAX_CHARS // 5),  # ZWJ sequences count per code point
        "e" + COMBINING_ACUTE * (MESSAGE_MAX_CHARS - 1),
        "  padded  ",
        "line\nbreak\ttab",
    ],
    ids=["1", "N", "latin", "cjk", "rtl", "emoji-N", "zwj-N", "combining-N", "padded", "ctrl"],
)
def test_accepts_any_unicode_up_to_the_limit(message: str) -> None:
    request = parse_request(body(message=message))
    assert request.message == message  # stored as sent: no normalisation, no trimming


@pytest.mark.parametrize(
    "user_id", ["a", "A" * 128, "alice.smith+tag@example.com", "user_name-1", "0"]
)
def test_accepts_user_ids_of_the_pattern(user_id: str) -> None:
    assert parse_request(body(user_id=user_id)).user_id == user_id


@pytest.mark.parametrize("priority", ["high", "medium", "low"])
def test_accepts_each_priority(priority: str) -> None:
    assert parse_request(body(priority=priority)).priority == priority


def test_accepts_escaped_unicode_and_bytes() -> None:
    escaped = json.dumps({**VALID, "message": "😀é"})  # ensure_ascii: \ud83d\ude00 pairs
    assert "\\ud83d" in escaped
    assert parse_request(escaped).message == "😀é"
    assert parse_request(escaped.encode()).message == "😀é"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (body(message="x" * (MESSAGE_MAX_CHARS + 1)), [("message", "too_long")]),
        (body(message="👍" * (MESSAGE_MAX_CHARS + 1)), [("message", "too_long")]),
        (body(message="e" + COMBINING_ACUTE * MESSAGE_MAX_CHARS), [("message", "too_long")]),
        (body(message=""), [("message", "too_short")]),
        (body(message=" \t\n\u3000\u00a0"), [("message", "blank")]),
        (body(message="\u200b\u200c\u200d\u2060\ufeff"), [("message", "blank")]),  # zero-width
        (body(message="\u0000\u0000"), [("message", "blank")]),
        (body(message="\u001b[31m\u001b[1;4m \u001b[0m"), [("message", "blank")]),  # ANSI SGR
        (body(message="\u001b]0;title\u0007\u001bc"), [("message", "blank")]),  # OSC, RIS
        (body(message=COMBINING_ACUTE * 3), [("message", "blank")]),
        (body(message="\u3164\u2800"), [("message", "blank")]),  # Hangul filler, Braille blank
        (body(message="\ud800 lone"), [("message", "invalid_unicode")]),
        (body(user_id=""), [("user_id", "too_short")]),
        (body(user_id="a" * 129), [("user_id", "too_long")]),
        (body(user_id="alice smith"), [("user_id", "pattern")]),
        (body(user_id="ålice"), [("user_id", "pattern")]),
        (body(user_id="alice\n"), [("user_id", "pattern")]),
        (body(user_id="alice/../bob"), [("user_id", "pattern")]),
        (body(priority="urgent"), [("priority", "invalid_choice")]),
        (body(priority="HIGH"), [("priority", "invalid_choice")]),
        (body(priority=""), [("priority", "invalid_choice")]),
        (body(priority=...), [("priority", "missing")]),
        (body(user_id=None), [("user_id", "null")]),
        (body(message=None), [("message", "null")]),
        (body(user_id=42), [("user_id", "wrong_type")]),
        (body(message=1.5), [("message", "wrong_type")]),
        (body(message=True), [("message", "wrong_type")]),
        (body(priority=False), [("priority", "wrong_type")]),
        (body(priority=1), [("priority", "wrong_type")]),
        (body(message=["hi"]), [("message", "wrong_type")]),
        (body(message={"text": "hi"}), [("message", "wrong_type")]),
        (body(extra="x"), [("extra", "unknown_field")]),
        (body(zeta=1, alpha=None), [("alpha", "unknown_field"), ("zeta", "unknown_field")]),
    ],
)
def test_refuses_each_violation_naming_its_field(raw: str, expected: list) -> None:
    assert refused(raw) == (400, expected)


def test_reports_every_violation_at_once_in_field_order() -> None:
    raw = json.dumps({"user_id": None, "message": 7, "priority": "urgent", "to": "bob"})
    assert refused(raw) == (
        400,
        [
            ("user_id", "null"),
            ("message", "wrong_type"),
            ("priority", "invalid_choice"),
            ("to", "unknown_field"),
        ],
    )


def test_reports_every_missing_field() -> None:
    assert refused("{}") == (
        400,
        [("user_id", "missing"), ("message", "missing"), ("priority", "missing")],
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{", [("body", "invalid_json")]),
        ("{'user_id': 'a'}", [("body", "invalid_json")]),
        ('{"user_id": "a",}', [("body", "invalid_json")]),
        ('{"message": NaN}', [("body", "invalid_json")]),
        ('{"message": Infinity}', [("body", "invalid_json")]),
        (b"\xff\xfe{}", [("body", "invalid_json")]),
        ("[]", [("body", "not_object")]),
        ('"text"', [("body", "not_object")]),
        ("null", [("body", "not_object")]),
        ("", [("body", "missing")]),
        (None, [("body", "missing")]),
        ('{"priority": "high", "priority": "low"}', [("priority", "duplicate_field")]),
    ],
)
def test_refuses_malformed_bodies(raw: str | bytes | None, expected: list) -> None:
    assert refused(raw) == (400, expected)


def test_body_over_the_limit_is_413_before_parsing() -> None:
    padding = "x" * MAX_BODY_BYTES
    assert refused(f"{{{padding}") == (413, [("body", "too_large")])


def test_body_limit_counts_utf8_bytes_not_characters() -> None:
    small = body(message="a")
    exact = small + " " * (MAX_BODY_BYTES - len(small.encode()))  # trailing JSON white space
    assert len(exact.encode()) == MAX_BODY_BYTES
    parse_request(exact)  # at the limit: accepted
    assert refused(exact + " ")[0] == 413
    # 4-byte characters: far fewer characters than bytes
    assert refused("👍" * (MAX_BODY_BYTES // 4 + 1))[0] == 413


def test_error_body_shape() -> None:
    with pytest.raises(RequestError) as caught:
        parse_request(body(priority="x"))
    assert caught.value.body() == {
        "message": "Invalid request",
        "errors": [
            {"field": "priority", "code": "invalid_choice", "message": "One of: high, medium, low."}
        ],
    }


TOPIC = {
    "id": "0b7c3d4e-1111-4222-8333-944455556666",
    "user_id": "alice",
    "message": "hi",
    "priority": "low",
    "sender": "sub-1",
    "accepted_at": "2026-01-31T12:00:00.123Z",
}


def test_topic_message_round_trip_ignores_unknown_fields() -> None:
    notification = parse_topic_message(json.dumps({**TOPIC, "added_later": 1}))
    assert notification.to_message() == TOPIC


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"accepted_at": "2026-01-31T12:00:00Z"}, "accepted_at", "format"),
        ({"accepted_at": "2026-13-31T12:00:00.123Z"}, "accepted_at", "format"),
        ({"id": ""}, "id", "length"),
        ({"sender": None}, "sender", "null"),
        ({"priority": "urgent"}, "priority", "invalid_choice"),
        ({"message": "x" * (MESSAGE_MAX_CHARS + 1)}, "message", "too_long"),
    ],
)
def test_topic_message_is_validated(changes: dict, field: str, code: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_topic_message(json.dumps({**TOPIC, **changes}))
    assert [(e.field, e.code) for e in caught.value.errors] == [(field, code)]
