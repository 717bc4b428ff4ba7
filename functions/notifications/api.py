"""What the two API functions share: JSON responses and the error handlers of a resolver.

Every error leaves as the contract's JSON body, including unknown routes and crashes.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from notifications.errors import RequestError, error_body


def json_response(status: int, body: Any) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    )


def install_error_handlers(app: APIGatewayRestResolver, logger: Logger) -> None:
    @app.exception_handler(RequestError)
    def request_error(error: RequestError) -> Response:
        logger.info("request refused", extra={"status": error.status, "errors": error.body()})
        return json_response(error.status, error.body())

    @app.not_found
    def not_found(_: Exception) -> Response:
        return json_response(404, error_body("Not found"))

    @app.exception_handler(Exception)
    def crash(error: Exception) -> Response:
        logger.exception("unhandled error")
        return json_response(500, error_body("Internal server error"))
