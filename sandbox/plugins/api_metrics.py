"""API Gateway's CloudWatch metrics for REST APIs, which LocalStack does not emit.

Why: the stack alarms on `AWS/ApiGateway` `5XXError` (per API and stage); without the metric the
alarm can never fire in the sandbox, and no test can show that it would.

AWS behaviour reproduced (developer guide, "Amazon API Gateway dimensions and metrics",
docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html):
- per request, in namespace `AWS/ApiGateway`: `Count` (1), `4XXError` and `5XXError` (1 when the
  answer is a 4xx / 5xx, else 0, so Sum counts them and Average is the rate), `Latency` (ms
  from receiving the request to answering it) and `IntegrationLatency` (ms spent in the
  backend, only for requests that reached it);
- dimensions `ApiName` and `ApiName, Stage`; with detailed metrics (the stage's method settings
  `metricsEnabled`, for `*/*` or the method's own entry) also `ApiName, Method, Resource, Stage`
  for requests that matched a method. LocalStack's CloudWatch matches a query's dimensions as a
  subset of a datapoint's (AWS matches them exactly), so each request is stored once, under its
  most specific set (`ApiName, Stage`, or the per-method one): a query by `ApiName, Stage` or by
  `ApiName` then finds every request once, as AWS's aggregates do; storing every set would
  count a request two or three times in them.
Throttled (429), unauthorized (401) and unmatched requests are counted: AWS counts every request.

Not reproduced: the `CacheHitCount`/`CacheMissCount` metrics (no stage cache in the sandbox),
one-minute granularity (datapoints go out once a second through the metric batcher, the same
statistic sets CloudWatch aggregates), HTTP and WebSocket APIs (`ApiId` dimensions).

Cheap: every datapoint goes to `metric_batching.BATCHER`, which publishes statistic sets once a
second (one PutMetricData call per account, region and namespace), never a request per datapoint.

Relies on these internals of localstack-core 2026.3.0 (checked when the provider loads: a missing
one raises plux's PluginException, so the API Gateway provider fails to load, naming this plugin):
- `localstack.services.apigateway.next_gen.execute_api.gateway.RestApiGateway.process_with_context`
  (every REST API invocation, context and response; the response is final when it returns);
- `...execute_api.handlers.integration.IntegrationHandler.__call__` (the backend call);
- `RestApiInvocationContext`: `.deployment` (`.account_id`, `.region`, `.rest_api.rest_api`
  `name`), `.stage`, `.stage_configuration` (`methodSettings`), `.resource` (`path`),
  `.resource_method` (`httpMethod`); the context takes extra attributes (rolo RequestContext);
- applied through `sandbox.plugins.patching` (targets checked, see INTERNALS);
- `localstack.services.plugins.SERVICE_PLUGINS.plugin_manager` (plux `add_listener`): the patch is
  applied when the apigateway provider loads, because importing the handler chain takes seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.api_throttling import ALL_METHODS, method_setting_keys
from sandbox.plugins.metric_batching import BATCHER, Key
from sandbox.plugins.patching import APIGATEWAY_PROVIDER, EXECUTE_API, Target

if TYPE_CHECKING:
    from localstack.services.apigateway.next_gen.execute_api.context import (
        RestApiInvocationContext,
    )

LOG = logging.getLogger(__name__)
PROCESS_WITH_CONTEXT = Target(
    f"{EXECUTE_API}.gateway:RestApiGateway.process_with_context",
    params=("self", "context", "response"),
    exact=True,
)
INTEGRATION_CALL = Target(
    f"{EXECUTE_API}.handlers.integration:IntegrationHandler.__call__",
    params=("self", "chain", "context", "response"),
    exact=True,
)
INTERNALS = (PROCESS_WITH_CONTEXT, INTEGRATION_CALL)
NAMESPACE: Final = "AWS/ApiGateway"
INTEGRATION_MS: Final = "sandbox_integration_ms"  # set on the invocation context
METRICS_ENABLED: Final = "metricsEnabled"


@dataclass(frozen=True)
class Invocation:
    """What one REST API request contributes to the metrics."""

    account: str
    region: str
    api_name: str
    stage: str
    status: int
    latency_ms: float
    integration_ms: float | None = None
    method: tuple[str, str] | None = None  # (resource path, HTTP method) with detailed metrics


def datapoints(invocation: Invocation) -> list[tuple[Key, float]]:
    """(batcher key, value) for every metric of the request, under its most specific dimension
    set (see the module docstring)."""
    api = (("ApiName", invocation.api_name),)
    dimensions = (*api, ("Stage", invocation.stage))
    if invocation.method is not None:
        resource, http_method = invocation.method
        dimensions = (*api, ("Method", http_method), ("Resource", resource), dimensions[-1])
    values: list[tuple[str, float, str]] = [
        ("Count", 1.0, "Count"),
        ("4XXError", float(400 <= invocation.status < 500), "Count"),
        ("5XXError", float(500 <= invocation.status < 600), "Count"),
        ("Latency", invocation.latency_ms, "Milliseconds"),
    ]
    if invocation.integration_ms is not None:
        values.append(("IntegrationLatency", invocation.integration_ms, "Milliseconds"))
    return [
        ((invocation.account, invocation.region, NAMESPACE, metric, dimensions, unit), value)
        for metric, value, unit in values
    ]


def detailed(method_settings: dict[str, Any] | None, resource: str, http_method: str) -> bool:
    """Detailed metrics on for this method: its own `metricsEnabled`, else `*/*`'s."""
    settings = method_settings or {}
    for key in (*method_setting_keys(resource, http_method), ALL_METHODS):
        if METRICS_ENABLED in (settings.get(key) or {}):
            return bool(settings[key][METRICS_ENABLED])
    return False


def invocation_of(context: RestApiInvocationContext, status: int, started: float) -> Invocation:
    deployment = context.deployment
    stage = context.stage or ""
    resource = (context.resource or {}).get("path")
    http_method = (context.resource_method or {}).get("httpMethod")
    method = None
    if resource and http_method:
        method_settings = (context.stage_configuration or {}).get("methodSettings")
        if detailed(method_settings, resource, http_method):
            method = (resource, http_method)
    return Invocation(
        account=deployment.account_id,
        region=deployment.region,
        api_name=deployment.rest_api.rest_api.get("name") or context.api_id or "",
        stage=stage,
        status=status,
        latency_ms=(time.perf_counter() - started) * 1000,
        integration_ms=context.get(INTEGRATION_MS),
        method=method,
    )


def record(context: RestApiInvocationContext, status: int, started: float) -> None:
    if context.deployment is None:  # no deployed stage: not an API request AWS would count
        return
    for key, value in datapoints(invocation_of(context, status, started)):
        BATCHER.record(key, value)


def apply_patches() -> None:
    """Time every REST API invocation and its backend call (once).

    Raises (the API Gateway provider then fails to load, see `patching.when_provider_loads`)
    when the LocalStack internals it relies on are missing.
    """
    patching.check(INTERNALS)

    @patching.wrap(PROCESS_WITH_CONTEXT)
    def _measured(fn: Any, self: Any, context: Any, response: Any) -> None:
        started = time.perf_counter()
        try:
            fn(self, context, response)
        except Exception:
            record(context, 500, started)  # LocalStack answers an escaped error with a 500
            raise
        record(context, response.status_code, started)

    @patching.wrap(INTEGRATION_CALL)
    def _backend_timed(fn: Any, self: Any, chain: Any, context: Any, response: Any) -> None:
        started = time.perf_counter()
        try:
            fn(self, chain, context, response)
        finally:
            setattr(context, INTEGRATION_MS, (time.perf_counter() - started) * 1000)


@hooks.on_infra_start()
def register_api_metrics() -> None:
    """Publish API Gateway metrics for every REST API request (see the module docstring)."""
    patching.check(INTERNALS, import_modules=False)  # the handler chain is imported on load
    patching.when_provider_loads("apigateway", apply_patches, APIGATEWAY_PROVIDER)
