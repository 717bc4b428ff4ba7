"""REST API throttling enforced: token buckets per stage method, 429 THROTTLED past the limit.

Why: the stock next_gen API Gateway stores a stage's method settings (`throttlingRateLimit`,
`throttlingBurstLimit`) but never enforces them, so the sandbox would pass every request of a
burst that AWS sheds with 429. Clients' back-off and retry paths could not be exercised.

AWS behaviour reproduced (developer guide, "Throttle requests to your REST APIs for better
throughput in API Gateway", docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-request-throttling.html; API reference `MethodSetting`):

- API Gateway uses the token bucket algorithm, a token per request: the bucket holds at most
  `burst` tokens and refills at `rate` tokens per second; a request that finds no token is
  throttled with `429 Too Many Requests`.
- Per-API, per-stage limits are applied at the method level of the stage: the stage's method
  settings `*/*` are the default of every method, a `{resource_path}/{http_method}` entry overrides
  them for that method (each method of the stage has its own bucket). A limit of -1 (Terraform's
  default) means that method-level throttling is off.
- The account-level limit (10,000 requests per second, burst 5,000, per account and Region,
  across all APIs) applies after the method's own limit; here it is one bucket per account and
  Region with those default quotas.
- The throttled request gets the THROTTLED gateway response (default status 429, body
  `{"message":"Too Many Requests"}`, header `x-amzn-ErrorType: TooManyRequestsException`),
  shaped by the API's own THROTTLED / DEFAULT_4XX response when it defines one (see
  `gateway_responses.py`). It is rejected after routing and before the authorizer and the
  integration run, so a throttled request never reaches a Lambda function.

Not reproduced: usage plans and API keys (per-client throttles and quotas), AWS's regional limit,
AWS's "best effort" slack. When the limits of a method change (stage updated, redeployed), its
bucket starts again full. moto gives a method-settings entry created for another setting (e.g.
only logging) default throttling of 1000 rps / burst 2000 (AWS: the account's 10,000 / 5,000):
non-binding either way for a sandbox.

Relies on these internals of localstack-core 2026.3.0 (re-check them on upgrade):
- `localstack.services.apigateway.next_gen.execute_api.handlers.preprocess_request`, the
  CompositeHandler (`.handlers` list) the `RestApiGateway` chain runs right after `route_request`;
  the step is inserted first in it, i.e. before the Cognito authorizer that
  `cognito_authorizer.py` appends there, whichever plugin loads first;
- `RestApiInvocationContext`: `.account_id`, `.region`, `.api_id`, `.stage`, `.resource`
  (`path`), `.resource_method` (`httpMethod`), `.stage_configuration` (moto's `Stage.to_json()`,
  fetched for every invocation, whose `methodSettings` keys are `*/*` or `<path>/<METHOD>` with
  the path as given in the patch, `~1` for `/`);
- `gateway_response.ThrottledError` (type THROTTLED, 429, `TooManyRequestsException`), turned into
  the response by `handlers.gateway_exception.GatewayExceptionHandler`;
- `localstack.services.plugins.SERVICE_PLUGINS.plugin_manager` (plux `add_listener`): the step is
  added when the apigateway provider loads, because importing the handler chain takes seconds.
  Failing loudly: at start-up the target modules are looked up (not imported) and a missing one
  makes the `on_infra_start` hook raise, which stops LocalStack's start-up; when the provider
  loads, a missing symbol raises plux's `PluginException`, which plux re-raises so the API Gateway
  provider fails to load (every API Gateway call errors, naming this plugin) rather than serve
  requests unthrottled.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localstack.runtime import hooks
from plux import PluginException

from sandbox.plugins import patching
from sandbox.plugins.patching import APIGATEWAY_PROVIDER, EXECUTE_API, Target

if TYPE_CHECKING:
    from localstack.http import Response
    from localstack.services.apigateway.next_gen.execute_api.context import (
        RestApiInvocationContext,
    )
    from rolo.gateway.chain import HandlerChain

LOG = logging.getLogger(__name__)

TARGET_MODULES = (f"{EXECUTE_API}.handlers", f"{EXECUTE_API}.gateway_response")
INTERNALS = (
    Target(f"{EXECUTE_API}.handlers:preprocess_request.handlers"),
    Target(f"{EXECUTE_API}.gateway_response:ThrottledError", params=("message",)),
    *(
        Target(f"{EXECUTE_API}.context:RestApiInvocationContext.{name}")
        for name in (
            "account_id",
            "region",
            "api_id",
            "stage",
            "resource",
            "resource_method",
            "stage_configuration",
            "request",
        )
    ),
)
ALL_METHODS = "*/*"
RATE = "throttlingRateLimit"
BURST = "throttlingBurstLimit"
THROTTLED_MESSAGE = "Too Many Requests"


@dataclass(frozen=True)
class Limits:
    """Steady-state requests per second and bucket size."""

    rate: float
    burst: int


ACCOUNT_LIMITS = Limits(rate=10_000.0, burst=5_000)


class TokenBucket:
    """A token bucket: `burst` tokens at most, refilled at `rate` per second. Thread-safe, O(1)."""

    __slots__ = ("_clock", "_lock", "_tokens", "_updated", "limits")

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(max(limits.burst, 0))
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(now - self._updated, 0.0)
        self._updated = now
        self._tokens = min(float(self.limits.burst), self._tokens + elapsed * self.limits.rate)

    def take(self) -> bool:
        """Take a token if there is one (True), else leave the bucket as it is (False)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def give_back(self) -> None:
        """Return a token taken for a request that a later bucket throttled."""
        with self._lock:
            self._tokens = min(float(self.limits.burst), self._tokens + 1.0)

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens


class Throttles:
    """The buckets of every stage method and account/Region, made on first use.

    A bucket is replaced (full) when the limits it was made for change, so updated stage
    settings apply to the next request without any cache to invalidate.
    """

    def __init__(
        self,
        account_limits: Limits = ACCOUNT_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account_limits = account_limits
        self._clock = clock
        self._buckets: dict[tuple, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, key: tuple, limits: Limits) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.limits != limits:
            with self._lock:
                bucket = self._buckets.get(key)
                if bucket is None or bucket.limits != limits:
                    bucket = self._buckets[key] = TokenBucket(limits, self._clock)
        return bucket

    def admit(self, account: tuple, method: tuple, method_limits: Limits | None) -> bool:
        """True when the method's bucket (if it has limits) and the account's both have a token."""
        method_bucket = self.bucket(method, method_limits) if method_limits else None
        if method_bucket is not None and not method_bucket.take():
            return False
        if not self.bucket(account, self.account_limits).take():
            if method_bucket is not None:
                method_bucket.give_back()
            return False
        return True


THROTTLES = Throttles()


def method_setting_keys(resource_path: str, http_method: str) -> tuple[str, ...]:
    """The keys a method's own entry can have in `methodSettings`: the resource path as written
    in the patch path, with its slashes escaped as `~1` (the API reference's form) or not."""
    path = resource_path.strip("/")
    escaped = path.replace("/", "~1")
    return (
        f"~1{escaped}/{http_method}",
        f"{path}/{http_method}",
        f"{escaped}/{http_method}",
    )


def method_limits(
    method_settings: dict[str, Any] | None, resource_path: str, http_method: str
) -> Limits | None:
    """The method's limits: its own entry's over `*/*`'s; None when neither sets them (or -1)."""
    settings = method_settings or {}
    default = settings.get(ALL_METHODS) or {}
    own = next(
        (settings[k] for k in method_setting_keys(resource_path, http_method) if k in settings),
        {},
    )
    rate = own.get(RATE, default.get(RATE))
    burst = own.get(BURST, default.get(BURST))
    if rate is None or burst is None:
        return None
    rate, burst = float(rate), int(burst)
    if rate < 0 or burst < 0:
        return None  # -1: method-level throttling off
    return Limits(rate=rate, burst=burst)


def enforce_throttling(
    chain: HandlerChain, context: RestApiInvocationContext, response: Response
) -> None:
    """preprocess_request step: THROTTLED (429) when the method's or the account's bucket is dry."""
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        ThrottledError,
    )

    resource_path = (context.resource or {}).get("path") or "/"
    http_method = (context.resource_method or {}).get("httpMethod") or context.request.method
    stage = context.stage_configuration or {}
    limits = method_limits(stage.get("methodSettings"), resource_path, http_method)
    account = (context.account_id, context.region)
    method = (*account, context.api_id, context.stage, resource_path, http_method)
    if not THROTTLES.admit(account, method, limits):
        LOG.debug("throttled %s %s %s (%s)", context.api_id, http_method, resource_path, limits)
        raise ThrottledError(THROTTLED_MESSAGE)


def add_throttling_step() -> None:
    """Insert the step first in `preprocess_request` (once): before any authorizer step.

    Raises plux's PluginException (the API Gateway provider then fails to load) when the
    LocalStack internals it relies on are missing.
    """
    try:
        from localstack.services.apigateway.next_gen.execute_api import handlers
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
            ThrottledError,
        )

        patching.check(INTERNALS)
        steps = handlers.preprocess_request.handlers
        if not isinstance(steps, list) or ThrottledError("").status_code != "429":
            raise TypeError("preprocess_request.handlers / ThrottledError changed shape")
    except Exception as e:
        raise PluginException(
            f"sandbox api_throttling: LocalStack internals missing, refusing to serve API "
            f"Gateway unthrottled: {e!r}"
        ) from e
    if enforce_throttling not in steps:
        steps.insert(0, enforce_throttling)


@hooks.on_infra_start()
def register_api_throttling() -> None:
    """Check the target modules exist (without importing them) and hook the step in on load."""
    missing = [name for name in TARGET_MODULES if importlib.util.find_spec(name) is None]
    if missing:  # raised out of LocalStack's start-up hooks: the sandbox does not start
        raise RuntimeError(f"sandbox api_throttling: LocalStack modules missing: {missing}")
    patching.when_provider_loads("apigateway", add_throttling_step, APIGATEWAY_PROVIDER)
