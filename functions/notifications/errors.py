"""Error bodies of the API: `{"message", "errors": [{"field", "code", "message"}]}`.

Clients branch on `field` and `code`, so both are stable identifiers; `message` is for humans.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


class RequestError(Exception):
    """A request the API refuses with a 4xx status and a list of field errors."""

    def __init__(self, status: int, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.errors if self.status in FIELD_STATUSES else None)


#: The statuses whose body lists field errors (docs/contract.md); the others carry a message.
FIELD_STATUSES = (400, 413, 415)


def error_body(message: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    """The JSON error body; `errors` is present for FIELD_STATUSES only (as the contract says)."""
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = [asdict(error) for error in errors]
    return body


def bad_request(errors: list[FieldError]) -> RequestError:
    return RequestError(400, "Invalid request", errors)
