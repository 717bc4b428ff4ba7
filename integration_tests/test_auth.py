"""Authentication and authorization at the API: bad tokens get 401 and store nothing; only
senders send (403 otherwise); users read only their own notifications, known by their `sub`
(403 otherwise), so a user who gets a deleted user's name inherits nothing; listing by priority
is for admins only.

Crafted tokens follow tests/sandbox/plugins/test_cognito_authorizer.py: a forged one is a real
token's claims signed with a key of our own, or with the private key published in moto's package
(which the sandbox's pools must not accept: each signs with a key of its own, as on AWS). An
expired token would need the pool's private key, which neither AWS nor the sandbox hands out:
expiry is checked by the authorizer's unit test there.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.api import Api
from harness.trace import Trace, Tracer
from harness.users import User, UserFactory

pytestmark = pytest.mark.sandbox

UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}


def moto_bundled_key() -> Any:
    from joserfc.jwk import RSAKey
    from moto.utilities.utils import load_resource

    return RSAKey.import_key(load_resource("moto.cognitoidp.models", "resources/jwks-private.json"))


def resign(token: str, key: Any, kid: str) -> str:
    """The token's claims signed by `key` under `kid`."""
    from joserfc import jwt
    from joserfc.jws import extract_compact

    claims = json.loads(extract_compact(token.encode()).payload)
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


@pytest.fixture
def other_pool_token(client: Callable[..., Any], unique: Callable[[str], str]) -> Iterator[str]:
    """An ID token of a user in another user pool (deleted afterwards)."""
    cognito = client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName=unique("other-pool"))["UserPool"]["Id"]
    try:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName="other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        password = f"Pw-{secrets.token_urlsafe(12)}-9a"
        cognito.admin_create_user(UserPoolId=pool_id, Username="mallory", MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username="mallory", Password=password, Permanent=True
        )
        yield cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "mallory", "PASSWORD": password},
        )["AuthenticationResult"]["IdToken"]
    finally:
        with contextlib.suppress(Exception):
            cognito.delete_user_pool(UserPoolId=pool_id)


def delivered(api: Api, tracer: Tracer, sender: User, notification: dict[str, Any]) -> str:
    """The id of `notification` (high priority), sent by `sender` and delivered."""
    sent = api.send(sender.id_token, {"priority": "high", **notification})
    assert sent.status == 202, str(sent)
    tracer.wait_for_delivery(Trace(sent.body["id"], sent_at=sent.sent_at), timeout=20)
    return sent.body["id"]


def only_the_control_is_stored(
    api: Api,
    tracer: Tracer,
    query_table: Callable[[str], list[dict]],
    sender: User,
    refused: dict[str, Any],
) -> None:
    """Positive control after refused sends: a valid notification for the same recipient goes
    through the same pipeline; once it is stored, a refused one would have been stored too, so
    the recipient must hold the control alone."""
    control = delivered(api, tracer, sender, {**refused, "message": "control"})
    stored = [(item["id"]["S"], item["message"]["S"]) for item in query_table(refused["user_id"])]
    assert stored == [(control, "control")], f"{refused}: stored {stored}"


def bad_token(kind: str, user: User, request: pytest.FixtureRequest) -> str | None:
    if kind == "missing":
        return None
    if kind == "malformed":
        return "Bearer not.a.jwt"
    if kind == "forged":
        from joserfc.jwk import RSAKey

        return resign(user.id_token, RSAKey.generate_key(2048), kid="forged")
    if kind == "moto-bundled-key":
        return resign(user.id_token, moto_bundled_key(), kid="dummy")
    if kind == "other-pool":
        return request.getfixturevalue("other_pool_token")
    raise ValueError(kind)


@pytest.mark.lanes("high")
@pytest.mark.parametrize(
    "kind", ["missing", "malformed", "forged", "moto-bundled-key", "other-pool"]
)
def test_bad_token_is_401_and_stores_nothing(
    kind: str,
    request: pytest.FixtureRequest,
    api: Api,
    users: UserFactory,
    tracer: Tracer,
    query_table: Callable[[str], list[dict]],
) -> None:
    user = users.create(name="auth", sender=True)
    recipient = f"auth-{kind}-{uuid.uuid4().hex[:10]}"
    notification = {"user_id": recipient, "message": f"{kind} token", "priority": "high"}

    response = api.send(bad_token(kind, user, request), notification)
    assert (response.status, response.body) == (401, UNAUTHORIZED), str(response)
    # The same read with that token is refused too.
    read = api.get(f"/users/{recipient}/notifications", bad_token(kind, user, request))
    assert (read.status, read.body) == (401, UNAUTHORIZED), str(read)

    only_the_control_is_stored(api, tracer, query_table, user, notification)


@pytest.mark.lanes("high")
def test_reading_another_users_notifications_is_403(
    api: Api, users: UserFactory, tracer: Tracer
) -> None:
    shop = users.create(name="shop", sender=True)
    alice, bob = users.create(name="alice"), users.create(name="bob")
    notification_id = delivered(api, tracer, shop, {"user_id": bob.sub, "message": "for bob"})

    # Bob's list and bob's item are not alice's (nor the sender's) to read.
    for path in (f"/users/{bob.sub}/notifications", f"/notifications/{notification_id}"):
        for other in (alice, shop):
            response = api.get(path, other.id_token)
            assert response.status == 403, f"{other.username} GET {path}: {response}"
            assert "message" in response.body, str(response)
        own = api.get(path, bob.id_token)
        assert own.status == 200, f"bob GET {path}: {own}"
    listed = api.get(f"/users/{bob.sub}/notifications", bob.id_token).body["items"]
    assert [item["id"] for item in listed] == [notification_id]
    # A username is not an identity: bob's name lists nothing of bob's.
    by_name = api.get(f"/users/{bob.username}/notifications", bob.id_token)
    assert by_name.status == 403, str(by_name)


@pytest.mark.lanes("high")
def test_a_reader_cannot_send_to_anyone_and_nothing_is_stored(
    api: Api, users: UserFactory, tracer: Tracer, query_table: Callable[[str], list[dict]]
) -> None:
    """Only the sender group sends: a reader (an admin too) is refused 403 for another user,
    for themselves and even for an invalid body, and nothing of theirs reaches the table."""
    shop = users.create(name="shop", sender=True)
    reader, admin = users.create(name="reader"), users.create(name="admin", admin=True)
    victim = users.create(name="victim")
    phish = {"message": "phish: reset your password", "priority": "high"}
    for who, body in [
        (reader, {**phish, "user_id": victim.sub}),
        (reader, {**phish, "user_id": reader.sub}),
        (reader, {"user_id": 42}),
        (admin, {**phish, "user_id": victim.sub}),
    ]:
        response = api.send(who.id_token, body)
        assert (response.status, response.body) == (403, FORBIDDEN), f"{who.username}: {response}"

    for recipient in (victim, reader):
        only_the_control_is_stored(
            api, tracer, query_table, shop, {**phish, "user_id": recipient.sub}
        )


@pytest.mark.lanes("high")
def test_a_recreated_username_reads_nothing_of_its_predecessor(
    api: Api, users: UserFactory, tracer: Tracer
) -> None:
    shop = users.create(name="shop", sender=True)
    first = users.create(name="reused")
    notification_id = delivered(api, tracer, shop, {"user_id": first.sub, "message": "private"})
    first_list = api.get(f"/users/{first.sub}/notifications", first.id_token)
    assert [i["id"] for i in first_list.body["items"]] == [notification_id], str(first_list)

    users.delete(first)
    second = users.create(username=first.username)  # the freed name, a new user
    assert (second.username, second.sub != first.sub) == (first.username, True)

    own = api.get(f"/users/{second.sub}/notifications", second.id_token)
    assert (own.status, own.body["items"]) == (200, []), str(own)
    for path in (f"/users/{first.sub}/notifications", f"/notifications/{notification_id}"):
        response = api.get(path, second.id_token)
        assert (response.status, response.body) == (403, FORBIDDEN), f"GET {path}: {response}"


@pytest.mark.lanes()
def test_listing_by_priority_is_for_admins_only(api: Api, users: UserFactory) -> None:
    user, admin = users.create(name="plain"), users.create(name="admin", admin=True)
    response = api.get("/notifications?priority=high", user.id_token)
    assert response.status == 403, str(response)
    assert api.get("/notifications?priority=high", admin.id_token).status == 200
