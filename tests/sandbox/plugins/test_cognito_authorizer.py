"""Cognito user-pool authorizers on REST APIs reject what AWS rejects and pass the claims on."""

from __future__ import annotations

import json
import pickle
import time
import types
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import extract_compact

from harness.lambdas import create_function
from sandbox.config import SandboxConfig

pytestmark = pytest.mark.sandbox

PASSWORD = "Passw0rd!x"
SCOPE = "aws.cognito.signin.user.admin"
CLAIMS_TEMPLATE = (
    '{"sub": "$context.authorizer.claims.sub",'
    ' "user": "$context.authorizer.claims[\'cognito:username\']"}'
)


@dataclass(frozen=True)
class Pool:
    id: str
    arn: str
    client_id: str
    sub: str

    def tokens(self, cognito) -> dict[str, str]:
        return cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
        )["AuthenticationResult"]


def make_pool(cognito) -> Pool:
    pool = cognito.create_user_pool(PoolName=f"pool-{uuid.uuid4().hex[:8]}")["UserPool"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="web", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    user = cognito.admin_create_user(UserPoolId=pool["Id"], Username="alice")["User"]
    cognito.admin_set_user_password(
        UserPoolId=pool["Id"], Username="alice", Password=PASSWORD, Permanent=True
    )
    sub = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    return Pool(pool["Id"], pool["Arn"], client_id, sub)


@dataclass(frozen=True)
class Api:
    id: str
    root_id: str
    authorizer_id: str
    url: str


def add_method(apigw, api: Api, path: str, integration: dict, scopes: list[str] | None = None):
    resource_id = apigw.create_resource(restApiId=api.id, parentId=api.root_id, pathPart=path)["id"]
    apigw.put_method(
        restApiId=api.id,
        resourceId=resource_id,
        httpMethod="GET",
        authorizationType="COGNITO_USER_POOLS",
        authorizerId=api.authorizer_id,
        **({"authorizationScopes": scopes} if scopes else {}),
    )
    apigw.put_integration(restApiId=api.id, resourceId=resource_id, httpMethod="GET", **integration)
    if integration["type"] == "MOCK":
        ids = {"restApiId": api.id, "resourceId": resource_id, "httpMethod": "GET"}
        apigw.put_method_response(**ids, statusCode="200")
        apigw.put_integration_response(
            **ids, statusCode="200", responseTemplates={"application/json": CLAIMS_TEMPLATE}
        )


def mock_integration() -> dict:
    return {"type": "MOCK", "requestTemplates": {"application/json": '{"statusCode": 200}'}}


def new_api(apigw, sandbox: SandboxConfig, pool: Pool) -> Api:
    api_id = apigw.create_rest_api(name=f"api-{uuid.uuid4().hex[:8]}")["id"]
    root_id = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    authorizer_id = apigw.create_authorizer(
        restApiId=api_id,
        name="cognito",
        type="COGNITO_USER_POOLS",
        providerARNs=[pool.arn],
        identitySource="method.request.header.Authorization",
    )["id"]
    url = f"{sandbox.endpoint}/_aws/execute-api/{api_id}/test"
    return Api(api_id, root_id, authorizer_id, url)


@pytest.fixture(scope="module")
def cognito(aws: Callable) -> object:
    return aws("cognito-idp")


@pytest.fixture(scope="module")
def pool(cognito) -> Pool:
    return make_pool(cognito)


@pytest.fixture(scope="module")
def api(aws: Callable, sandbox: SandboxConfig, pool: Pool) -> Api:
    """/claims (ID token), /scoped (access token with SCOPE), both MOCK echoing the claims."""
    apigw = aws("apigateway")
    api = new_api(apigw, sandbox, pool)
    add_method(apigw, api, "claims", mock_integration())
    add_method(apigw, api, "scoped", mock_integration(), scopes=[SCOPE])
    apigw.create_deployment(restApiId=api.id, stageName="test")
    return api


def call(url: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def moto_bundled_key() -> RSAKey:
    """The private key published in moto's package (kid "dummy"): what moto would sign every
    pool's tokens with if the sandbox did not give each pool a key of its own."""
    from moto.utilities.utils import load_resource  # here: every pytest worker collects this

    return RSAKey.import_key(load_resource("moto.cognitoidp.models", "resources/jwks-private.json"))


def claims_of(token: str) -> dict:
    """A token's claims, unverified (the tests re-sign them)."""
    return json.loads(extract_compact(token.encode()).payload)


def resign(token: str, key: RSAKey, kid: str | None = None, **changes: object) -> str:
    """The claims (with `changes`) signed by `key` under `kid` (by default the key's own)."""
    header = {"alg": "RS256", "kid": kid or key.kid or "dummy"}
    return jwt.encode(header, {**claims_of(token), **changes}, key)


def jwks(sandbox: SandboxConfig, pool: Pool) -> KeySet:
    url = f"{sandbox.endpoint}/{pool.id}/.well-known/jwks.json"
    with urllib.request.urlopen(url, timeout=10) as response:
        return KeySet.import_key_set(json.load(response))


def test_each_pool_signs_with_its_own_key_on_its_jwks(sandbox, pool, cognito) -> None:
    other = make_pool(cognito)
    mine, theirs = jwks(sandbox, pool), jwks(sandbox, other)
    moto_modulus = moto_bundled_key().as_dict()["n"]
    for keys, owner in ((mine, pool), (theirs, other)):
        (key,) = keys.keys
        assert key.as_dict()["n"] != moto_modulus
        assert not key.is_private
        token = owner.tokens(cognito)["IdToken"]
        assert extract_compact(token.encode()).protected["kid"] == key.kid
        jwt.decode(token, key, algorithms=["RS256"])  # raises unless signed by this key
    assert mine.keys[0].kid != theirs.keys[0].kid
    assert mine.keys[0].as_dict()["n"] != theirs.keys[0].as_dict()["n"]


def test_motos_published_key_is_imported_once_not_for_each_new_pool(monkeypatch) -> None:
    """moto imports its published key into every new pool (131 ms: that JWK has no primes to
    start from) before the pool gets its own: imported at most once per process now."""
    from joserfc import jwk
    from moto.cognitoidp.models import CognitoIdpUserPool

    from sandbox.plugins.moto_providers import sign_with_a_key_per_pool

    sign_with_a_key_per_pool()  # as the sandbox does (idempotent)
    imported = []
    original = jwk.RSAKey.import_key

    def counted(value, *args, **kwargs):
        imported.append(value.get("kid") if isinstance(value, dict) else value)
        return original(value, *args, **kwargs)

    monkeypatch.setattr(jwk.RSAKey, "import_key", counted)
    pools = [CognitoIdpUserPool("123456789012", "us-east-1", f"p{i}", {}) for i in range(3)]
    assert imported.count("dummy") <= 1, imported  # 0 when this process imported it before
    kids = {pool.json_web_key.kid for pool in pools}
    assert len(kids) == 3 and "dummy" not in kids  # each pool still has a key of its own
    # Another JWK is imported for itself, never answered with the cached one.
    other = new_key_jwk()
    from moto.cognitoidp import models

    assert models.jwk.RSAKey.import_key(other).kid == other["kid"]


def new_key_jwk() -> dict:
    from sandbox.plugins.moto_providers import new_signing_key

    return new_signing_key().as_dict(private=True)


def test_a_pool_key_pickles_with_its_private_part() -> None:
    """Saving a pool's state (pickle) keeps its key: tokens it signed still verify after."""
    from sandbox.plugins.moto_providers import new_signing_key

    key = new_signing_key()
    again = pickle.loads(pickle.dumps(key))
    assert (again.kid, again.is_private) == (key.kid, True)
    token = jwt.encode({"alg": "RS256", "kid": key.kid}, {"sub": "s"}, again)
    assert jwt.decode(token, key, algorithms=["RS256"]).claims == {"sub": "s"}


def stand_in_pool() -> types.SimpleNamespace:
    """What `verify` reads of a moto pool, with a key this test holds (a unit test of the rules:
    the sandbox's own pools never hand out their private key)."""
    from sandbox.plugins.moto_providers import new_signing_key

    return types.SimpleNamespace(
        id="us-east-1_Unit", region="us-east-1", json_web_key=new_signing_key()
    )


def test_verify_accepts_the_pool_key_and_refuses_expiry_and_a_foreign_kid() -> None:
    # Imported here, not at the top: the plugin imports LocalStack's and moto's Cognito modules
    # (0.35 s), which every test worker would pay for at collection.
    from sandbox.plugins.cognito_authorizer import InvalidToken, verify

    pool = stand_in_pool()
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool.id}"
    now = int(time.time())
    claims = {"iss": issuer, "sub": "s", "token_use": "id", "exp": now + 60, "iat": now}
    good = jwt.encode({"alg": "RS256", "kid": pool.json_web_key.kid}, claims, pool.json_web_key)
    assert verify(good, {issuer: pool}, [])["sub"] == "s"  # control: only the fault differs
    bad = {
        "expired": resign(good, pool.json_web_key, exp=now - 60, iat=now - 3600),
        "foreign kid": resign(good, pool.json_web_key, kid="dummy"),
        "moto's bundled key": resign(good, moto_bundled_key(), kid=pool.json_web_key.kid),
    }
    for reason, token in bad.items():
        with pytest.raises(InvalidToken):
            verify(token, {issuer: pool}, [])
            pytest.fail(f"{reason}: accepted")


def _missing(pool: Pool, cognito) -> None:
    return None


def _malformed(pool: Pool, cognito) -> str:
    return "Bearer not.a.jwt"


def _forged(pool: Pool, cognito) -> str:
    return resign(pool.tokens(cognito)["IdToken"], RSAKey.generate_key(2048))


def _moto_key(pool: Pool, cognito) -> str:
    """The pool's own claims signed with the key published in moto's package."""
    return resign(pool.tokens(cognito)["IdToken"], moto_bundled_key(), kid="dummy")


def _other_pool(pool: Pool, cognito) -> str:
    return make_pool(cognito).tokens(cognito)["IdToken"]


@pytest.mark.parametrize(
    "bad_token",
    [_missing, _malformed, _forged, _moto_key, _other_pool],
    ids=["missing", "malformed", "forged", "moto-bundled-key", "other-pool"],
)
def test_bad_tokens_get_401_unauthorized(api, pool, cognito, bad_token) -> None:
    assert call(f"{api.url}/claims", bad_token(pool, cognito)) == (401, {"message": "Unauthorized"})


ECHO_AUTHORIZER = """
    import json

    def handler(event, context):
        claims = event["requestContext"]["authorizer"]["claims"]
        return {"statusCode": 200, "body": json.dumps(claims)}
"""


def test_claims_reach_an_aws_proxy_lambda(aws, sandbox, pool, cognito) -> None:
    lam = aws("lambda")
    name = f"fn-{uuid.uuid4().hex[:8]}"
    function_arn = create_function(lam, name, ECHO_AUTHORIZER)
    apigw = aws("apigateway")
    api = new_api(apigw, sandbox, pool)
    uri = (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )
    integration = {"type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": uri}
    add_method(apigw, api, "me", integration)
    lam.add_permission(  # API Gateway may invoke only what a permission admits, as on AWS
        FunctionName=name,
        StatementId="apigateway",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api.id}/*",
    )
    apigw.create_deployment(restApiId=api.id, stageName="test")
    try:
        status, claims = call(f"{api.url}/me", pool.tokens(cognito)["IdToken"])
        assert status == 200
        assert (claims["sub"], claims["cognito:username"], claims["token_use"]) == (
            pool.sub,
            "alice",
            "id",
        )
        assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.id}"
        datetime.strptime(claims["exp"], "%a %b %d %H:%M:%S UTC %Y")  # a date, as on AWS
        assert call(f"{api.url}/me", None) == (401, {"message": "Unauthorized"})
    finally:
        lam.delete_function(FunctionName=name)
