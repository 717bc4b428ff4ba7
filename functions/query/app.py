"""Lambda handler of the three read routes (handler `query.app.handler`).

Authorization (docs/contract.md): a caller reads their own notifications; members of
ADMIN_GROUP read anyone's, and only they list by priority. The caller is the ID token's `sub`
(notifications.identity), which is also the `user_id` notifications are addressed to.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from notifications import pagination
from notifications.api import install_error_handlers, json_response
from notifications.errors import FieldError, RequestError, bad_request
from notifications.identity import Caller, caller_from_event
from notifications.keys import DEFAULT_SHARDS
from notifications.model import public_view
from notifications.validation import ID_MAX, check_priority, check_user_id
from query.reader import NotificationReader

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

logger = Logger()
app = APIGatewayRestResolver()
install_error_handlers(app, logger)

_reader: NotificationReader | None = None


def reader() -> NotificationReader:
    """Built from the environment on first use (tests assign `_reader`)."""
    global _reader
    if _reader is None:
        _reader = NotificationReader(os.environ["TABLE_NAME"])
    return _reader


def shards() -> int:
    return int(os.environ.get("PRIORITY_SHARDS", DEFAULT_SHARDS))


def admin_group() -> str:
    return os.environ.get("ADMIN_GROUP", "admins")


def caller() -> Caller:
    return caller_from_event(app.current_event.raw_event)


def is_admin(who: Caller) -> bool:
    return who.is_in(admin_group())


def forbidden() -> RequestError:
    return RequestError(403, "Forbidden")


def query_limit() -> int:
    raw = app.current_event.get_query_string_value("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request([FieldError("limit", "invalid", f"An integer 1..{MAX_LIMIT}.")])
    return int(raw)


def next_token() -> str | None:
    return app.current_event.get_query_string_value("next_token")


def page(items: list[dict[str, Any]], token: str | None) -> Response:
    return json_response(200, {"items": [public_view(i) for i in items], "next_token": token})


def path_id(raw: str) -> str:
    """The `id` path parameter, bounded before it becomes a key (DynamoDB refuses long keys)."""
    notification_id = unquote(raw)
    if len(notification_id) > ID_MAX:
        raise bad_request([FieldError("id", "too_long", f"At most {ID_MAX} characters.")])
    return notification_id


def path_user_id(raw: str) -> str:
    """The `userId` path parameter, held to the body's `user_id` rules."""
    user_id = unquote(raw)
    if (error := check_user_id(user_id, field="userId")) is not None:
        raise bad_request([error])
    return user_id


@app.get("/notifications/<notification_id>")
def get_notification(notification_id: str) -> Response:
    who = caller()
    item = reader().get(path_id(notification_id))
    if item is None:
        raise RequestError(404, "Notification not found")
    if item.get("user_id") != who.sub and not is_admin(who):
        raise forbidden()
    return json_response(200, public_view(item))


@app.get("/users/<user_id>/notifications")
def list_user_notifications(user_id: str) -> Response:
    who = caller()
    user_id = path_user_id(user_id)
    if user_id != who.sub and not is_admin(who):
        raise forbidden()
    limit = query_limit()
    token = next_token()
    after = pagination.user_position(token, user_id) if token is not None else None
    items, more = reader().user_page(user_id, after, limit)
    last = items[-1] if items else None
    follow = (
        pagination.user_token(user_id, (last["accepted_at"], last["id"])) if more and last else None
    )
    return page(items, follow)


@app.get("/notifications")
def list_by_priority() -> Response:
    if not is_admin(caller()):
        raise forbidden()
    priority = app.current_event.get_query_string_value("priority")
    errors = []
    if priority is None:
        errors.append(FieldError("priority", "missing", "This parameter is required."))
    elif (error := check_priority(priority)) is not None:
        errors.append(error)
    try:
        limit = query_limit()
    except RequestError as error:
        errors += error.errors
    if errors:
        raise bad_request(errors)
    assert priority is not None
    cursors = pagination.priority_cursors(next_token(), priority, shards())
    items, token = pagination.merge_shards(priority, cursors, limit, reader().shard_page)
    return page(items, token)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
