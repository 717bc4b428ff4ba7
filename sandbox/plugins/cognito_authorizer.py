"""Cognito user-pool authorizers enforced on REST APIs, and each pool's JWKS on the gateway.

Why: the stock next_gen API Gateway stores COGNITO_USER_POOLS authorizers but lets every request
through, so the sandbox would accept what AWS rejects. Here the token is checked as AWS does
(RS256 signature with the pool's key named by the header's `kid`, `exp`, `iss` of one of the
authorizer's pools, `token_use`, scopes) and the claims reach the integration as
`requestContext.authorizer.claims`.

Tokens keep moto's issuer, `https://cognito-idp.<region>.amazonaws.com/<pool-id>` (as on AWS, so
application code that checks the issuer runs unchanged); the pool's own public key (generated
with the pool, sandbox/plugins/moto_providers.py) is served locally at
`/<pool-id>/.well-known/jwks.json` and the discovery document at
`/<pool-id>/.well-known/openid-configuration` names that issuer and that local `jwks_uri`.

LocalStack/moto internals relied on:
- `localstack.services.apigateway.next_gen.execute_api.handlers.preprocess_request`, a
  CompositeHandler run after routing; `RestApiInvocationContext.resource_method`
  (`authorizationType`, `authorizerId`, `authorizationScopes`), `.deployment.rest_api.authorizers`,
  `.context_variables["authorizer"]` (feeds Lambda proxy events and mapping templates);
  `gateway_response.UnauthorizedError` (401 `{"message": "Unauthorized"}`).
- `localstack.services.plugins.SERVICE_PLUGINS.plugin_manager` (plux `add_listener`): the step is
  added when the apigateway provider loads, because importing the handler chain takes seconds.
- `localstack.services.edge.ROUTER` for the JWKS routes.
- `moto.cognitoidp.models.cognitoidp_backends`: `CognitoIdpUserPool.json_web_key` (a joserfc
  RSAKey, the pool's signing key: moto's published one unless moto_providers replaced it).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from localstack.http import Request, Response
from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import APIGATEWAY_PROVIDER, EXECUTE_API, Target

if TYPE_CHECKING:
    from localstack.services.apigateway.next_gen.execute_api.context import (
        RestApiInvocationContext,
    )
    from moto.cognitoidp.models import CognitoIdpUserPool
    from rolo.gateway.chain import HandlerChain

LOG = logging.getLogger(__name__)
POOL_ID = r"[a-z]{2}(?:-[a-z]+)+-\d+_[0-9A-Za-z]+"
# Claims API Gateway renders as dates rather than epoch seconds.
DATE_CLAIMS = ("exp", "iat")
PREPROCESS_STEPS = Target(f"{EXECUTE_API}.handlers:preprocess_request.handlers")
INTERNALS = (
    PREPROCESS_STEPS,
    Target(f"{EXECUTE_API}.handlers:preprocess_request.append", params=("handler",)),
    Target(f"{EXECUTE_API}.gateway_response:UnauthorizedError"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.resource_method"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.deployment"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.invocation_request"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.context_variables"),
    Target("localstack.services.edge:ROUTER.add"),
    Target("moto.cognitoidp.models:cognitoidp_backends"),
    Target("moto.cognitoidp.responses:CognitoIdpJsonWebKeyResponse.json_web_key"),
)


class InvalidToken(Exception):
    """The token must be rejected (the reason is for logs and tests only; AWS says nothing)."""


def issuer(pool: CognitoIdpUserPool) -> str:
    return f"https://cognito-idp.{pool.region}.amazonaws.com/{pool.id}"


def find_pool(pool_id: str, account_id: str | None = None) -> CognitoIdpUserPool | None:
    """The moto user pool with this id (in `account_id`, or in any account when None)."""
    from moto.cognitoidp.models import cognitoidp_backends

    region = pool_id.split("_", 1)[0]
    for account, backends in list(cognitoidp_backends.items()):
        if account_id not in (None, account):
            continue
        backend = dict(backends.items()).get(region)
        pool = backend.user_pools.get(pool_id) if backend else None
        if pool is not None:
            return pool
    return None


def pools_of(provider_arns: list[str]) -> dict[str, CognitoIdpUserPool]:
    """Issuer → pool for an authorizer's `providerARNs` (arn:aws:cognito-idp:r:acct:userpool/id)."""
    pools = {}
    for arn in provider_arns:
        account_id, resource = arn.split(":")[4:6]
        pool = find_pool(resource.rsplit("/", 1)[-1], account_id)
        if pool is not None:
            pools[issuer(pool)] = pool
    return pools


def verify(token: str, pools: dict[str, CognitoIdpUserPool], scopes: list[str]) -> dict:
    """The token's claims if API Gateway would accept it for these pools and scopes."""
    try:
        compact = extract_compact(token.encode())
        pool = pools.get(json.loads(compact.payload).get("iss"))
        if pool is None:
            raise InvalidToken("issuer is not one of the authorizer's user pools")
        if compact.protected.get("kid") != pool.json_web_key.kid:
            raise InvalidToken("the token's kid is not a key of its pool")
        claims = jwt.decode(token, pool.json_web_key, algorithms=["RS256"]).claims
    except (JoseError, ValueError, AttributeError) as e:
        raise InvalidToken(f"malformed or wrongly signed token: {e}") from e
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        raise InvalidToken("token expired")
    if scopes:
        granted = set(str(claims.get("scope", "")).split())
        if claims.get("token_use") != "access" or not granted.intersection(scopes):
            raise InvalidToken("an access token with one of the method's scopes is required")
    elif claims.get("token_use") != "id":
        raise InvalidToken("an ID token is required when the method has no scopes")
    return claims


def claims_as_api_gateway_renders(claims: dict[str, Any]) -> dict[str, str]:
    """REST APIs hand claims over as strings: dates for exp/iat, lists comma-joined."""
    rendered = {}
    for name, value in claims.items():
        if name in DATE_CLAIMS and isinstance(value, int):
            value = datetime.fromtimestamp(value, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        elif isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        rendered[name] = str(value)
    return rendered


def token_from(context: RestApiInvocationContext, authorizer: dict) -> str:
    source = authorizer.get("identitySource") or "method.request.header.Authorization"
    header = source.removeprefix("method.request.header.")
    value = (context.invocation_request["headers"].get(header) or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


def enforce_cognito_authorizer(
    chain: HandlerChain, context: RestApiInvocationContext, response: Response
) -> None:
    """preprocess_request step: 401 unless the method's Cognito authorizer accepts the token."""
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        UnauthorizedError,
    )

    method = context.resource_method or {}
    if method.get("authorizationType") != "COGNITO_USER_POOLS":
        return
    authorizer = context.deployment.rest_api.authorizers.get(method.get("authorizerId"), {})
    token = token_from(context, authorizer)
    try:
        if not token:
            raise InvalidToken("no token")
        pools = pools_of(authorizer.get("providerARNs") or [])
        claims = verify(token, pools, method.get("authorizationScopes") or [])
    except InvalidToken as e:
        LOG.info("Cognito authorizer rejected %s %s: %s", context.api_id, context.request.path, e)
        raise UnauthorizedError("Unauthorized") from e
    context.context_variables["authorizer"] = {"claims": claims_as_api_gateway_renders(claims)}


def serve_jwks(request: Request, pool_id: str) -> Response:
    """The pool's public signing key (never its private part), as Cognito publishes it."""
    pool = find_pool(pool_id)
    if pool is None:
        return Response(json.dumps({"message": "user pool not found"}), status=404)
    keys = {"keys": [pool.json_web_key.as_dict(private=False)]}
    return Response(json.dumps(keys), mimetype="application/json")


def serve_openid_configuration(request: Request, pool_id: str) -> Response:
    pool = find_pool(pool_id)
    if pool is None:
        return Response(json.dumps({"message": "user pool not found"}), status=404)
    document = {
        "issuer": issuer(pool),
        "jwks_uri": f"{request.host_url.rstrip('/')}/{pool_id}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["code", "token"],
    }
    return Response(json.dumps(document), mimetype="application/json")


def add_authorizer_step() -> None:
    """Append the authorizer to `preprocess_request` (once; importing it costs seconds)."""
    from localstack.services.apigateway.next_gen.execute_api import handlers

    patching.check(INTERNALS)
    if enforce_cognito_authorizer not in handlers.preprocess_request.handlers:
        handlers.preprocess_request.append(enforce_cognito_authorizer)


@hooks.on_infra_start()
def register_cognito_authorizer() -> None:
    """Hook the authorizer into the REST API handler chain and the JWKS routes into the gateway."""
    from localstack.services.edge import ROUTER

    patching.check(INTERNALS, import_modules=False)  # the handler chain is imported on load
    patching.when_provider_loads("apigateway", add_authorizer_step, APIGATEWAY_PROVIDER)
    prefix = f'/<regex("{POOL_ID}"):pool_id>/.well-known'
    ROUTER.add(f"{prefix}/jwks.json", serve_jwks, methods=["GET"])
    ROUTER.add(f"{prefix}/openid-configuration", serve_openid_configuration, methods=["GET"])
