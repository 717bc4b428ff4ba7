"""AWS providers served entirely by the moto backend bundled with LocalStack.

Why: the stock DynamoDB provider downloads a JDK and DynamoDB Local at first use (and answers 500
offline), and the open-source core has no provider at all for cognito-idp and
application-autoscaling (every call answers 501, which also triggers an outbound licence-catalog
lookup). moto implements all of them in-process.

LocalStack/moto internals relied on:
- `localstack.services.plugins.aws_provider` / `Service.for_provider`: providers are plux entry
  points `<api>:<name>` in `localstack.aws.provider`; a service without a stock provider loads
  `<api>:default`, others are selected with `PROVIDER_OVERRIDE_<API>` (see `sandbox/config.py`).
- `localstack.aws.skeleton.Skeleton` accepts a plain dict as dispatch table.
- `localstack.services.moto.call_moto(context)` dispatches the parsed request to moto in-process;
  moto raises `NotImplementedError` for actions it lacks, which the skeleton would turn into 501.
- `moto.cognitoidp.models.cognitoidp_backends` (pool `extended_config["UserPoolTags"]`) for the
  Cognito tag operations moto lacks; `moto.applicationautoscaling.models
  .applicationautoscaling_backends` (an attribute `sandbox_tags` of ours) for Auto Scaling tags.
- `moto.cognitoidp.models.CognitoIdpUserPool.__init__` sets `json_web_key` (a joserfc RSAKey
  loaded from moto's package, the same for every pool) and `create_jwt` signs with it through the
  module's `jwt.encode` under the fixed header `kid` "dummy": both are replaced (below).
- `localstack.services.dynamodb.packages.DynamoDBLocalPackageInstaller`: refused outright, so that
  nothing can download DynamoDB Local or its JDK (`SKIP_INFRA_DOWNLOADS` does not cover it).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from joserfc.jwk import RSAKey
from localstack.aws.api import CommonServiceException, RequestContext, ServiceRequest
from localstack.aws.skeleton import DispatchTable
from localstack.aws.spec import load_service
from localstack.runtime import hooks
from localstack.services.moto import call_moto
from localstack.services.plugins import Service, aws_provider

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

DYNAMODB_LOCAL = "localstack.services.dynamodb.packages:DynamoDBLocalPackageInstaller"
PREPARE_INSTALLATION = Target(f"{DYNAMODB_LOCAL}._prepare_installation", params=("self", "target"))
INSTALL = Target(f"{DYNAMODB_LOCAL}._install", params=("self", "target"))
COGNITO_MODELS = "moto.cognitoidp.models"
POOL_INIT = Target(
    f"{COGNITO_MODELS}:CognitoIdpUserPool.__init__",
    params=("self", "account_id", "region", "name", "extended_config"),
)
COGNITO_JWT = Target(f"{COGNITO_MODELS}:jwt")
COGNITO_JWK = Target(f"{COGNITO_MODELS}:jwk")
COGNITO_INTERNALS = (
    POOL_INIT,
    COGNITO_JWT,
    COGNITO_JWK,
    Target(f"{COGNITO_MODELS}:jwk.RSAKey.import_key", params=("value",)),
    Target(f"{COGNITO_MODELS}:load_resource"),
    Target(f"{COGNITO_MODELS}:jwt.encode", params=("header", "claims", "key")),
    Target(f"{COGNITO_MODELS}:CognitoIdpUserPool.create_jwt"),
)
INTERNALS = (
    PREPARE_INSTALLATION,
    INSTALL,
    *COGNITO_INTERNALS,
    Target("localstack.services.moto:call_moto", params=("context",)),
    Target("localstack.aws.spec:load_service"),
    Target("localstack.services.plugins:Service.for_provider"),
    Target(f"{COGNITO_MODELS}:cognitoidp_backends"),
)

Handler = Callable[[RequestContext, ServiceRequest], object]


class MotoProvider:
    """A provider with no code of its own: the dispatch table sends every operation to moto."""

    def __init__(self, service: str, shims: dict[str, Handler] | None = None) -> None:
        self.service = service
        self.shims = shims or {}

    def dispatch_table(self) -> DispatchTable:
        operations = load_service(self.service).operation_names
        return {op: self.shims.get(op, _call_moto) for op in operations}

    def create_service(self) -> Service:
        return Service.for_provider(self, dispatch_table_factory=MotoProvider.dispatch_table)


def _call_moto(context: RequestContext, request: ServiceRequest) -> object:
    """Call moto; an action moto lacks answers 400 (a 501 would phone home for the catalog)."""
    try:
        return call_moto(context)
    except NotImplementedError as e:
        op = f"{context.service.service_name}.{context.operation.name}"
        raise CommonServiceException(
            "UnsupportedOperation",
            f"sandbox: moto does not implement {op} (add a shim in {__name__})",
            status_code=400,
        ) from e


# --- Cognito user pool tags: moto keeps CreateUserPool's UserPoolTags but has no tag operations.


def _user_pool_tags(context: RequestContext, arn: str) -> dict[str, str]:
    from moto.cognitoidp.models import cognitoidp_backends

    pool_id = arn.rsplit("/", 1)[-1]
    pool = cognitoidp_backends[context.account_id][context.region].user_pools.get(pool_id)
    if pool is None:
        raise CommonServiceException("ResourceNotFoundException", f"{arn} not found", 400)
    return pool.extended_config.setdefault("UserPoolTags", {})


def _cognito_tag(context: RequestContext, request: ServiceRequest) -> dict:
    _user_pool_tags(context, request["ResourceArn"]).update(request.get("Tags") or {})
    return {}


def _cognito_untag(context: RequestContext, request: ServiceRequest) -> dict:
    tags = _user_pool_tags(context, request["ResourceArn"])
    for key in request.get("TagKeys") or []:
        tags.pop(key, None)
    return {}


def _cognito_list_tags(context: RequestContext, request: ServiceRequest) -> dict:
    return {"Tags": dict(_user_pool_tags(context, request["ResourceArn"]))}


# --- Cognito signing keys: moto signs every pool's tokens with one private key published in its
# package (kid "dummy"), so anyone with moto could forge a token any sandbox pool would accept.
# On AWS each pool has keys of its own that never leave Cognito. Here each pool gets an RSA key
# generated when it is created, kept on the pool as `json_web_key` (moto's own attribute, so the
# key is saved and restored with the pool's state), with a `kid` of its own in every token header
# and on the pool's JWKS (served by sandbox/plugins/cognito_authorizer.py).

SIGNING_KEY_BITS = 2048


class PoolSigningKey(RSAKey):
    """A pool's RSA key that pickles as its JWK (private part included): the cryptography key
    inside an RSAKey does not pickle, and the key must be saved and restored with its pool."""

    def __reduce__(self) -> tuple[Callable[[dict], PoolSigningKey], tuple[dict]]:
        return (_signing_key_from_jwk, (self.as_dict(private=True),))


def _signing_key_from_jwk(jwk: dict) -> PoolSigningKey:
    return PoolSigningKey.import_key(jwk)


def new_signing_key() -> PoolSigningKey:
    """A fresh RS256 key with a unique `kid`, as a pool's JWKS lists it."""
    parameters = {"kid": str(uuid.uuid4()), "alg": "RS256", "use": "sig"}
    return PoolSigningKey.generate_key(SIGNING_KEY_BITS, parameters=parameters)


class _JwtSignedWithTheKeysKid:
    """joserfc's `jwt` module as moto's Cognito models see it, except that `encode` puts the
    signing key's own `kid` in the header instead of moto's fixed "dummy"."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def encode(self, header: dict, claims: dict, key: Any, *args: Any, **kwargs: Any) -> str:
        return self.module.encode({**header, "kid": key.kid}, claims, key, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


class _RSAKeyImportingEachJwkOnce:
    """joserfc's `RSAKey` class, except that `import_key` of a JWK seen before returns the key
    imported then. Every new pool imports moto's published key (before `init_with_own_key`
    replaces it): that JWK has no primes, and recovering them took 131 ms a pool, three times
    the cost of the pool's own new key (39 ms)."""

    def __init__(self, rsa_key: Any) -> None:
        self.rsa_key = rsa_key
        self._imported: dict[str, Any] = {}
        self._lock = threading.Lock()

    def import_key(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(value, dict):
            return self.rsa_key.import_key(value, *args, **kwargs)
        seen = json.dumps(value, sort_keys=True)
        with self._lock:
            if seen not in self._imported:
                self._imported[seen] = self.rsa_key.import_key(value)
            return self._imported[seen]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rsa_key, name)


class _BundledKeyImportedOnce:
    """joserfc's `jwk` module as moto's Cognito models see it, with `RSAKey` as above."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.RSAKey = _RSAKeyImportingEachJwkOnce(module.RSAKey)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


def sign_with_a_key_per_pool() -> None:
    """Give each user pool created from now on a signing key of its own (idempotent).

    Raises when moto's internals moved, rather than leaving every pool on the published key."""
    patching.check(COGNITO_INTERNALS)

    @patching.wrap(POOL_INIT)
    def init_with_own_key(moto_init: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        if not hasattr(self, "json_web_key"):
            raise RuntimeError("sandbox: moto's user pool has no json_web_key to replace")
        self.json_web_key = new_signing_key()

    jwt = COGNITO_JWT.resolve()
    if not isinstance(jwt, _JwtSignedWithTheKeysKid):
        patching.replace(COGNITO_JWT, _JwtSignedWithTheKeysKid(jwt))
    jwk = COGNITO_JWK.resolve()
    if not isinstance(jwk, _BundledKeyImportedOnce):
        patching.replace(COGNITO_JWK, _BundledKeyImportedOnce(jwk))


# --- Application Auto Scaling tags: moto ignores them; kept by ARN on the moto backend of the
# request's account and Region (an attribute of ours), so that snapshots keep them with the rest.


def _aas_tags(context: RequestContext) -> dict[str, dict[str, str]]:
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    backend = applicationautoscaling_backends[context.account_id][context.region]
    with _aas_lock:
        return backend.__dict__.setdefault("sandbox_tags", {})


_aas_lock = threading.Lock()


def _aas_register(context: RequestContext, request: ServiceRequest) -> object:
    response = _call_moto(context, request)
    arn = response.get("ScalableTargetARN") if isinstance(response, dict) else None
    if arn and request.get("Tags"):
        tags = _aas_tags(context)
        with _aas_lock:
            tags.setdefault(arn, {}).update(request["Tags"])
    return response


def _aas_tag(context: RequestContext, request: ServiceRequest) -> dict:
    tags = _aas_tags(context)
    with _aas_lock:
        tags.setdefault(request["ResourceARN"], {}).update(request.get("Tags") or {})
    return {}


def _aas_untag(context: RequestContext, request: ServiceRequest) -> dict:
    tags = _aas_tags(context)
    with _aas_lock:
        for key in request.get("TagKeys") or []:
            tags.get(request["ResourceARN"], {}).pop(key, None)
    return {}


def _aas_list_tags(context: RequestContext, request: ServiceRequest) -> dict:
    tags = _aas_tags(context)
    with _aas_lock:
        return {"Tags": dict(tags.get(request["ResourceARN"], {}))}


# --- Provider entry points (see pyproject.toml).


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    return MotoProvider("dynamodb").create_service()


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto() -> Service:
    """Streams must come from the tables' backend (the stock one reads DynamoDB Local)."""
    return MotoProvider("dynamodbstreams").create_service()


@aws_provider(api="cognito-idp", name="default")
def cognito_idp_moto() -> Service:
    sign_with_a_key_per_pool()
    shims = {
        "TagResource": _cognito_tag,
        "UntagResource": _cognito_untag,
        "ListTagsForResource": _cognito_list_tags,
    }
    return MotoProvider("cognito-idp", shims).create_service()


@aws_provider(api="application-autoscaling", name="default")
def application_autoscaling_moto() -> Service:
    shims = {
        "RegisterScalableTarget": _aas_register,
        "TagResource": _aas_tag,
        "UntagResource": _aas_untag,
        "ListTagsForResource": _aas_list_tags,
    }
    return MotoProvider("application-autoscaling", shims).create_service()


@hooks.on_infra_start()
def refuse_dynamodb_local_download() -> None:
    """Make any attempt to install DynamoDB Local (and its JDK) fail instead of downloading."""
    patching.check((PREPARE_INSTALLATION, INSTALL))  # the rest when the providers load

    def refuse(self: object, target: object) -> None:
        raise RuntimeError("sandbox: DynamoDB Local must never be downloaded; DynamoDB is moto")

    patching.replace(PREPARE_INSTALLATION, refuse)
    patching.replace(INSTALL, refuse)
