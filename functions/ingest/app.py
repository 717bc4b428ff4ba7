"""Lambda handler of POST /notifications (handler `ingest.app.handler`).

Authorization (docs/contract.md): only members of SENDER_GROUP send; anyone else gets 403
before the body is read. API Gateway's Cognito authorizer cannot check groups, so this does.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from ingest.publisher import SnsPublisher
from ingest.service import Ingest
from notifications.api import install_error_handlers, json_response
from notifications.errors import FieldError, RequestError, bad_request, error_body
from notifications.identity import Caller, caller_from_event
from notifications.validation import parse_request

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[!-~]{1,255}")  # printable ASCII, no spaces
JSON_MEDIA_TYPE = "application/json"

logger = Logger()
app = APIGatewayRestResolver()
install_error_handlers(app, logger)

_service: Ingest | None = None


def service() -> Ingest:
    """The service, built from the environment on first use (tests assign `_service`)."""
    global _service
    if _service is None:
        _service = Ingest(
            publisher=SnsPublisher(os.environ["TOPIC_ARN"]),
            persistence=DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE_NAME"]),
        )
    return _service


def sender_group() -> str:
    return os.environ.get("SENDER_GROUP", "senders")


def _sender() -> Caller:
    """The caller, if they may send (a member of SENDER_GROUP); 403 otherwise."""
    caller = caller_from_event(app.current_event.raw_event)
    if not caller.is_in(sender_group()):
        raise RequestError(403, "Forbidden")
    return caller


def _raw_body() -> str | bytes | None:
    event = app.current_event
    if event.is_base64_encoded and event.body is not None:
        try:
            return base64.b64decode(event.body, validate=True)
        except binascii.Error as exc:
            raise bad_request([FieldError("body", "invalid_json", "Undecodable body.")]) from exc
    return event.body


def _require_json() -> None:
    """415 unless the body is declared `application/json` (charset, if given, UTF-8).

    API Gateway checks no media type for a Lambda proxy integration, so the function does,
    before reading the body: a form post or a text body is refused rather than guessed at.
    """
    declared = app.current_event.headers.get("Content-Type") or ""
    media_type, *parameters = (part.strip().lower() for part in declared.split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in parameters if p.startswith("charset=")]
    if media_type != JSON_MEDIA_TYPE or any(c not in ("utf-8", "utf8") for c in charsets):
        raise RequestError(
            415,
            "Unsupported media type",
            [FieldError("body", "unsupported_media_type", "The body must be application/json.")],
        )


def _idempotency_key() -> str | None:
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise bad_request(
            [FieldError(IDEMPOTENCY_HEADER, "invalid", "1..255 printable ASCII characters.")]
        )
    return key


@app.post("/notifications")
def post_notification() -> Response:
    caller = _sender()
    _require_json()
    request = parse_request(_raw_body())
    key = _idempotency_key()
    answer = service().accept(request, caller, key, app.lambda_context)
    logger.info("notification.accepted", extra={"id": answer["id"], "priority": request.priority})
    return json_response(202, answer)


@app.exception_handler(IdempotencyValidationError)
def key_reused(_: IdempotencyValidationError) -> Response:
    return json_response(
        422, error_body(f"{IDEMPOTENCY_HEADER} already used for a different notification")
    )


@app.exception_handler(IdempotencyAlreadyInProgressError)
def in_progress(_: IdempotencyAlreadyInProgressError) -> Response:
    return json_response(
        409, error_body(f"A request with this {IDEMPOTENCY_HEADER} is still in progress")
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
