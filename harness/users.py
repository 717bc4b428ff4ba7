"""Test users in the stack's Cognito user pool: created with unique names, removed afterwards.

Works the same on the sandbox and on AWS (AdminCreateUser + a permanent password, then
USER_PASSWORD_AUTH for an ID token). Only users this object created are ever deleted.

A user *is* its `sub` to the API (the recipient `user_id`, whose notifications it reads); the
username is for people reading logs. Only members of the sender group may send
(`create(sender=True)`), as the stack's contract says (docs/contract.md).
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any


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
    created: list[str] = field(default_factory=list)

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
        return User(username, password, self.id_token(username, password), self.sub(username))

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
        while self.created:
            username = self.created.pop()
            with contextlib.suppress(self.cognito.exceptions.UserNotFoundException):
                self.cognito.admin_delete_user(UserPoolId=self.user_pool_id, Username=username)
