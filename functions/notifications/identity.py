"""The caller, from the claims the API Gateway Cognito authorizer puts in the event.

The caller *is* the token's `sub`: Cognito never reuses it, while a username is free again once
its user is deleted, so a new "alice" must not inherit the old one's notifications (AWS
recommends `sub` as the user's stable identifier). The username is kept for logs and humans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from notifications.errors import RequestError


@dataclass(frozen=True)
class Caller:
    sub: str  # the token's `sub`: the identity (recipient `user_id`, owner, sender)
    username: str  # `cognito:username`: for humans and logs only, never compared
    groups: frozenset[str]

    def is_in(self, group: str) -> bool:
        return group in self.groups


def parse_groups(value: Any) -> frozenset[str]:
    """`cognito:groups` as a set: a list, or the string API Gateway makes of it.

    REST APIs pass claims as strings: one group is `admins`, several come comma- or
    space-separated, sometimes in brackets (`[admins, ops]`).
    """
    if isinstance(value, list):
        return frozenset(str(group) for group in value if group)
    if isinstance(value, str):
        return frozenset(part for part in re.split(r"[\s,\[\]]+", value) if part)
    return frozenset()


def caller_from_event(event: dict[str, Any]) -> Caller:
    """The authenticated caller; 401 when the authorizer's claims are missing."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    username = claims.get("cognito:username")
    sub = claims.get("sub")
    if not isinstance(username, str) or not username or not isinstance(sub, str) or not sub:
        raise RequestError(401, "Unauthorized")
    return Caller(sub=sub, username=username, groups=parse_groups(claims.get("cognito:groups")))
