"""Strict validation of the POST body and of the topic message.

Every violation is reported (not only the first), each naming its field, so a client fixes a
request in one round trip. Limits (also in docs/contract.md):

- `user_id`: `^[A-Za-z0-9._@+-]{1,128}$`
- `message`: 1..1000 Unicode code points of any script, with at least one visible character
  (not only white space, control or format characters such as NUL or zero-width spaces,
  combining marks or ANSI escape sequences)
- `priority`: one of PRIORITIES
- no other field; a body over 16 KiB (UTF-8 bytes) is refused with 413 before parsing.

JSON is parsed strictly too: duplicate keys, `NaN`/`Infinity` and lone surrogates (`"\\ud800"`,
which no UTF-8 store can hold) are refused rather than silently resolved.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Final

from notifications.errors import FieldError, RequestError, bad_request
from notifications.model import Notification
from notifications.priorities import PRIORITIES, Priority
from notifications.timestamps import parse_timestamp

USER_ID_MAX: Final = 128
USER_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._@+-]{1,128}", re.ASCII)
MESSAGE_MAX_CHARS: Final = 1000
MAX_BODY_BYTES: Final = 16 * 1024
REQUEST_FIELDS: Final = ("user_id", "message", "priority")
ID_MAX: Final = 128
SENDER_MAX: Final = 128
BODY: Final = "body"
#: ANSI/VT escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ST`, other `ESC
#: [intermediates] final`): a terminal draws nothing for them.
ANSI_ESCAPE: Final = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]", re.ASCII
)
#: Unicode categories that draw nothing on their own: controls, format characters (zero-width
#: space, joiners, BOM), surrogates, unassigned, separators (spaces, line/paragraph) and
#: combining marks (they only modify a base character).
INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})
#: Letters and symbols that are assigned a visible category but render as blanks.
BLANK_GLYPHS: Final = frozenset("\u115f\u1160\u2800\u3164\uffa0")


@dataclass(frozen=True)
class NotificationRequest:
    """A valid POST body."""

    user_id: str
    message: str
    priority: Priority

    def as_dict(self) -> dict[str, str]:
        return {"user_id": self.user_id, "message": self.message, "priority": self.priority}


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(body: str | bytes | None) -> dict[str, Any]:
    """The JSON object in `body`, or RequestError 413 (too large) / 400 (anything else)."""
    if body is None or body == "" or body == b"":
        raise bad_request([FieldError(BODY, "missing", "A JSON object body is required.")])
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(
            413,
            "Request body too large",
            [FieldError(BODY, "too_large", f"The body exceeds {MAX_BODY_BYTES} bytes.")],
        )
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKeyError as exc:
        raise bad_request(
            [FieldError(exc.key, "duplicate_field", "The field appears more than once.")]
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(
            [FieldError(BODY, "invalid_json", "The body is not valid JSON.")]
        ) from exc
    if not isinstance(data, dict):
        raise bad_request([FieldError(BODY, "not_object", "The body must be a JSON object.")])
    return data


def _has_lone_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _string_field(data: dict[str, Any], field: str) -> tuple[str | None, FieldError | None]:
    """The field's str value, or the error for a missing, null, non-string or bad-Unicode one."""
    if field not in data:
        return None, FieldError(field, "missing", "This field is required.")
    value = data[field]
    if value is None:
        return None, FieldError(field, "null", "This field may not be null.")
    if not isinstance(value, str):
        return None, FieldError(field, "wrong_type", f"Expected a string, got {_json_type(value)}.")
    if _has_lone_surrogate(value):
        return None, FieldError(field, "invalid_unicode", "Contains an unpaired surrogate.")
    return value, None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_user_id(value: str, field: str = "user_id") -> FieldError | None:
    if value == "":
        return FieldError(field, "too_short", "Must not be empty.")
    if len(value) > USER_ID_MAX:
        return FieldError(field, "too_long", f"At most {USER_ID_MAX} characters.")
    if not USER_ID_PATTERN.fullmatch(value):
        return FieldError(field, "pattern", "Only letters A-Z a-z, digits and . _ @ + - allowed.")
    return None


def has_visible_character(text: str) -> bool:
    """Whether `text` shows anything once escape sequences and invisible characters are gone."""
    return any(
        unicodedata.category(char) not in INVISIBLE_CATEGORIES and char not in BLANK_GLYPHS
        for char in ANSI_ESCAPE.sub("", text)
    )


def check_message(value: str) -> FieldError | None:
    if value == "":
        return FieldError("message", "too_short", "Must not be empty.")
    if len(value) > MESSAGE_MAX_CHARS:  # code points, as the contract counts
        return FieldError("message", "too_long", f"At most {MESSAGE_MAX_CHARS} characters.")
    if not has_visible_character(value):
        return FieldError("message", "blank", "Must contain a visible character.")
    return None


def check_priority(value: str) -> FieldError | None:
    if value not in PRIORITIES:
        return FieldError("priority", "invalid_choice", f"One of: {', '.join(PRIORITIES)}.")
    return None


_CHECKS = {"user_id": check_user_id, "message": check_message, "priority": check_priority}


def _check_fields(data: dict[str, Any], fields: tuple[str, ...]) -> tuple[dict[str, str], list]:
    values: dict[str, str] = {}
    errors: list[FieldError] = []
    for field in fields:
        value, error = _string_field(data, field)
        if error is None and value is not None and field in _CHECKS:
            error = _CHECKS[field](value)
        if error is not None:
            errors.append(error)
        elif value is not None:
            values[field] = value
    return values, errors


def validate_request(data: dict[str, Any]) -> NotificationRequest:
    """The request in a parsed body, or RequestError 400 listing every violation."""
    values, errors = _check_fields(data, REQUEST_FIELDS)
    errors += [
        FieldError(key, "unknown_field", "This field is not allowed.")
        for key in sorted(set(data) - set(REQUEST_FIELDS))
    ]
    if errors:
        raise bad_request(errors)
    return NotificationRequest(values["user_id"], values["message"], values["priority"])  # type: ignore[arg-type]


def parse_request(body: str | bytes | None) -> NotificationRequest:
    """Parse and validate a POST body: the one entry point the ingest function uses."""
    return validate_request(parse_json_object(body))


def parse_topic_message(body: str) -> Notification:
    """The notification in a topic (SQS) message body; RequestError 400 when it is not one.

    Unknown fields are ignored (tolerant reader): a producer that adds a field must not send
    every message to the dead-letter queue.
    """
    data = parse_json_object(body)
    fields = ("id", "user_id", "message", "priority", "sender", "accepted_at")
    values, errors = _check_fields(data, fields)
    for field, limit in (("id", ID_MAX), ("sender", SENDER_MAX)):
        if field in values and not 0 < len(values[field]) <= limit:
            errors.append(FieldError(field, "length", f"1..{limit} characters."))
    if "accepted_at" in values:
        try:
            parse_timestamp(values["accepted_at"])
        except ValueError:
            errors.append(FieldError("accepted_at", "format", "ISO 8601 UTC with milliseconds."))
    if errors:
        raise bad_request(errors)
    return Notification(**values)  # type: ignore[arg-type]
