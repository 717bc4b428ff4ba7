"""Test users in the stack's Cognito user pool: created with unique names, removed afterwards.

Works the same on the sandbox and on AWS (AdminCreateUser + a permanent password, then
USER_PASSWORD_AUTH for an ID token). Only users this object created are ever deleted.

A user *is* its `sub` to the API (the recipient `user_id`, whose notifications it reads); the
username is for people reading logs. Only members of the sender group may send
(`create(sender=True)`), as the stack's contract says (docs/contract.md).

Given the stack's table (`notifications=`, the sandbox's callers pass it), `cleanup()` also
removes every notification the factory's users sent or received: the sandbox's DynamoDB (moto)
answers a Query on an index by reading the whole table, so what every run left behind made each
later run slower (a developer's sandbox, `make e2e-repeat`: a query function timing out after
17 runs).
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

IN_LIMIT = 100  # DynamoDB's most operands for one IN


@dataclass(frozen=True)
class Notifications:
    """The stack's notifications table, to remove what test users sent or received."""

    dynamodb: Any
    table_name: str

    def forget(self, subs: Iterable[str]) -> int:
        """Delete every item whose recipient or sender is one of `subs`; how many were deleted."""
        subs = sorted(set(subs))
        deleted = 0
        for start in range(0, len(subs), IN_LIMIT):
            chunk = subs[start : start + IN_LIMIT]
            values = {f":s{n}": {"S": sub} for n, sub in enumerate(chunk)}
            among = ", ".join(values)
            pages = self.dynamodb.get_paginator("scan").paginate(
                TableName=self.table_name,
                FilterExpression=f"user_id IN ({among}) OR sender IN ({among})",
                ExpressionAttributeValues=values,
                ProjectionExpression="id",
            )
            for page in pages:
                for item in page.get("Items", []):
                    self.dynamodb.delete_item(TableName=self.table_name, Key={"id": item["id"]})
                    deleted += 1
        return deleted


@dataclass(frozen=True)
class User:
    username: str  # for humans
    password: str
    id_token: str
    sub: str  # the identity: what notifications are addressed to and listed by


@dataclass
class UserFactory:
    cognito: Any
    user_pool_id: str
    client_id: str
    admin_group: str
    sender_group: str
    prefix: str = "t"
    notifications: Notifications | None = None  # see the module's doc
    created: list[str] = field(default_factory=list)
    subs: list[str] = field(default_factory=list)  # of every user created, deleted ones too

    def create(
        self,
        *,
        admin: bool = False,
        sender: bool = False,
        name: str | None = None,
        username: str | None = None,
    ) -> User:
        """A new user named `<name>-<random>`, or exactly `username` (to re-use a freed name)."""
        username = username or f"{name or self.prefix}-{uuid.uuid4().hex[:12]}"
        password = f"Pw-{secrets.token_urlsafe(12)}-9a"
        self.cognito.admin_create_user(
            UserPoolId=self.user_pool_id, Username=username, MessageAction="SUPPRESS"
        )
        self.created.append(username)
        self.cognito.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=username, Password=password, Permanent=True
        )
        groups = [
            g for g, wanted in ((self.admin_group, admin), (self.sender_group, sender)) if wanted
        ]
        for group in groups:
            self.cognito.admin_add_user_to_group(
                UserPoolId=self.user_pool_id, Username=username, GroupName=group
            )
        sub = self.sub(username)
        self.subs.append(sub)
        return User(username, password, self.id_token(username, password), sub)

    def id_token(self, username: str, password: str) -> str:
        result = self.cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        return result["AuthenticationResult"]["IdToken"]

    def sub(self, username: str) -> str:
        user = self.cognito.admin_get_user(UserPoolId=self.user_pool_id, Username=username)
        return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")

    def delete(self, user: User) -> None:
        """Delete one user this factory created (its username is free again afterwards)."""
        self.created.remove(user.username)
        self.cognito.admin_delete_user(UserPoolId=self.user_pool_id, Username=user.username)

    def cleanup(self) -> None:
        """Delete the users this factory created (and, given the table, their notifications)."""
        if self.notifications is not None and self.subs:
            self.notifications.forget(self.subs)
            self.subs.clear()
        while self.created:
            username = self.created.pop()
            with contextlib.suppress(self.cognito.exceptions.UserNotFoundException):
                self.cognito.admin_delete_user(UserPoolId=self.user_pool_id, Username=username)
