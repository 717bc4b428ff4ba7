"""REST API stage/method throttling is enforced with token buckets, 429 THROTTLED past the limit."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from harness.waiting import eventually
from sandbox.config import SandboxConfig
from sandbox.plugins import api_throttling
from sandbox.plugins.api_throttling import Limits, Throttles, TokenBucket, method_limits

AWS_THROTTLED = {"message": "Too Many Requests"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ------------------------------------------------------------------ no server


def test_localstack_internals_the_step_relies_on() -> None:
    """Contract: the symbols named in the module docstring exist and have the expected shape."""
    from localstack.services.apigateway.next_gen.execute_api import handlers
    from localstack.services.apigateway.next_gen.execute_api.context import (
        RestApiInvocationContext,
    )
    from localstack.services.apigateway.next_gen.execute_api.gateway import RestApiGateway
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        BaseGatewayException,
        ThrottledError,
    )
    from localstack.services.apigateway.next_gen.execute_api.handlers.gateway_exception import (
        GatewayExceptionHandler,
    )
    from moto.apigateway.models import Stage
    from rolo.gateway import CompositeHandler

    # the step runs after routing, before API key validation and the method request
    chain = RestApiGateway().request_handlers
    assert isinstance(handlers.preprocess_request, CompositeHandler)
    position = chain.index(handlers.preprocess_request)
    assert chain.index(handlers.route_request) < position
    assert position < chain.index(handlers.api_key_validation_handler)
    assert position < chain.index(handlers.integration_handler)
    assert isinstance(RestApiGateway().exception_handlers[0], GatewayExceptionHandler)

    error = ThrottledError(api_throttling.THROTTLED_MESSAGE)
    assert issubclass(ThrottledError, BaseGatewayException)
    assert (error.type, error.status_code, error.code) == (
        "THROTTLED",
        "429",
        "TooManyRequestsException",
    )

    context = RestApiInvocationContext(None)
    for attribute in ("account_id", "region", "api_id", "stage", "resource", "resource_method"):
        assert hasattr(context, attribute), attribute
    assert hasattr(context, "stage_configuration")

    # moto keeps the patched settings under `*/*` and `<escaped path>/<METHOD>`
    stage = Stage(name="test", deployment_id="d")
    stage.apply_operations(
        [
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "2"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "3"},
            {"op": "replace", "path": "/~1a~1b/GET/throttling/burstLimit", "value": "7"},
        ]
    )
    settings = stage.to_json()["methodSettings"]
    assert settings["*/*"]["throttlingRateLimit"] == 2.0
    assert settings["*/*"]["throttlingBurstLimit"] == 3
    assert settings["~1a~1b/GET"]["throttlingBurstLimit"] == 7
    assert method_limits(settings, "/a/b", "GET").burst == 7
    assert method_limits(settings, "/c", "GET") == Limits(rate=2.0, burst=3)


def test_the_step_runs_before_the_cognito_authorizer() -> None:
    from localstack.services.apigateway.next_gen.execute_api import handlers

    from sandbox.plugins.cognito_authorizer import add_authorizer_step

    add_authorizer_step()  # whichever plugin hooks in first, throttling comes first
    api_throttling.add_throttling_step()
    api_throttling.add_throttling_step()  # idempotent
    steps = handlers.preprocess_request.handlers
    assert steps.count(api_throttling.enforce_throttling) == 1
    assert steps[0] is api_throttling.enforce_throttling


def test_a_missing_target_fails_the_api_gateway_provider_load(monkeypatch) -> None:
    """A PluginException from the load listener makes plux fail the provider's load (it re-raises
    PluginException, and only that): API Gateway does not start unthrottled."""
    from localstack.services.apigateway.next_gen.execute_api import handlers
    from plux import PluginException

    monkeypatch.delattr(handlers, "preprocess_request")
    with pytest.raises(PluginException, match="refusing to serve API Gateway unthrottled"):
        api_throttling.add_throttling_step()


def test_a_missing_target_module_stops_the_start_up(monkeypatch) -> None:
    monkeypatch.setattr(api_throttling, "TARGET_MODULES", ("localstack.no_such_module",))
    with pytest.raises(RuntimeError, match="no_such_module"):
        api_throttling.register_api_throttling()


def test_method_limits_resolution() -> None:
    all_methods = {"throttlingRateLimit": 2.0, "throttlingBurstLimit": 3}
    own = {"throttlingRateLimit": 10.0, "throttlingBurstLimit": 20}
    assert method_limits(None, "/things", "GET") is None
    assert method_limits({}, "/things", "GET") is None
    assert method_limits({"*/*": all_methods}, "/things", "POST") == Limits(2.0, 3)
    for key in ("~1things/GET", "things/GET"):  # escaped as the API reference says, or not
        settings = {"*/*": all_methods, key: own}
        assert method_limits(settings, "/things", "GET") == Limits(10.0, 20)
        assert method_limits(settings, "/things", "POST") == Limits(2.0, 3)
    nested = {"~1users~1{id}~1notifications/GET": own}
    assert method_limits(nested, "/users/{id}/notifications", "GET") == Limits(10.0, 20)
    assert method_limits({"~1/GET": own}, "/", "GET") == Limits(10.0, 20)
    # -1 (Terraform's default) turns method-level throttling off
    off = {"throttlingRateLimit": -1.0, "throttlingBurstLimit": -1}
    assert method_limits({"*/*": off}, "/things", "GET") is None
    assert method_limits({"*/*": all_methods, "things/GET": off}, "/things", "GET") is None


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Limits(rate=2.0, burst=3), clock)
    assert [bucket.take() for _ in range(5)] == [True, True, True, False, False]
    clock.advance(0.25)  # half a token
    assert not bucket.take()
    clock.advance(0.25)  # one token
    assert bucket.take()
    assert not bucket.take()
    clock.advance(60)  # never more than the burst
    assert bucket.tokens == 3.0
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    bucket.give_back()
    assert bucket.take()
    zero = TokenBucket(Limits(rate=5.0, burst=0), clock)
    clock.advance(10)
    assert not zero.take()  # burst 0: nothing ever passes


def test_token_bucket_is_exact_under_concurrency() -> None:
    clock = FakeClock()  # frozen: no refill while the threads race
    bucket = TokenBucket(Limits(rate=1.0, burst=100), clock)
    start = threading.Barrier(8)

    def take_many() -> int:
        start.wait()
        return sum(bucket.take() for _ in range(50))

    with ThreadPoolExecutor(8) as pool:
        taken = sum(pool.map(lambda _: take_many(), range(8)))
    assert taken == 100


def test_throttles_keep_a_bucket_per_method_and_renew_it_when_limits_change() -> None:
    clock = FakeClock()
    throttles = Throttles(account_limits=Limits(rate=1000.0, burst=1000), clock=clock)
    account = ("000000000000", "us-east-1")
    get = (*account, "api", "test", "/things", "GET")
    post = (*account, "api", "test", "/things", "POST")
    tight = Limits(rate=1.0, burst=1)
    assert throttles.admit(account, get, tight)
    assert not throttles.admit(account, get, tight)
    assert throttles.admit(account, post, tight)  # its own bucket
    assert throttles.admit(account, get, Limits(rate=1.0, burst=2))  # new limits: full again
    assert all(throttles.admit(account, get, None) for _ in range(20))  # no method limits


def test_the_account_bucket_applies_across_apis_and_refunds_the_method() -> None:
    clock = FakeClock()
    throttles = Throttles(account_limits=Limits(rate=1.0, burst=2), clock=clock)
    account = ("000000000000", "us-east-1")
    one = (*account, "api-1", "test", "/", "GET")
    two = (*account, "api-2", "test", "/", "GET")
    generous = Limits(rate=100.0, burst=5)
    assert throttles.admit(account, one, generous)
    assert throttles.admit(account, two, None)
    assert not throttles.admit(account, one, generous)  # the account is dry
    assert throttles.bucket(one, generous).tokens == 4.0  # the method's token was given back
    assert throttles.admit(("111111111111", "us-east-1"), one, None)  # another account
    clock.advance(1)
    assert throttles.admit(account, two, None)


# ------------------------------------------------------------------ through the sandbox


@dataclass(frozen=True)
class Api:
    id: str
    url: str


def call(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], object]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.load(e)


def make_api(
    aws: Callable,
    sandbox: SandboxConfig,
    name: str,
    paths: tuple[str, ...] = ("things",),
    cognito: str | None = None,
    gateway_responses: dict | None = None,
) -> Api:
    """GET /<path> for each path, MOCK 200 `{"ok": true}`; behind Cognito when `cognito` is set
    (a user pool ARN); deployed to stage `test`."""
    apigw = aws("apigateway")
    api_id = apigw.create_rest_api(name=name)["id"]
    root_id = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    auth: dict = {"authorizationType": "NONE"}
    if cognito:
        authorizer_id = apigw.create_authorizer(
            restApiId=api_id,
            name="cognito",
            type="COGNITO_USER_POOLS",
            providerARNs=[cognito],
            identitySource="method.request.header.Authorization",
        )["id"]
        auth = {"authorizationType": "COGNITO_USER_POOLS", "authorizerId": authorizer_id}
    for path in paths:
        resource = apigw.create_resource(restApiId=api_id, parentId=root_id, pathPart=path)["id"]
        ids = {"restApiId": api_id, "resourceId": resource, "httpMethod": "GET"}
        apigw.put_method(**ids, **auth)
        apigw.put_integration(
            **ids, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'}
        )
        apigw.put_method_response(**ids, statusCode="200")
        apigw.put_integration_response(
            **ids, statusCode="200", responseTemplates={"application/json": '{"ok": true}'}
        )
    for response_type, response in (gateway_responses or {}).items():
        apigw.put_gateway_response(restApiId=api_id, responseType=response_type, **response)
    apigw.create_deployment(restApiId=api_id, stageName="test")
    return Api(api_id, f"{sandbox.endpoint}/_aws/execute-api/{api_id}/test")


def throttle(aws: Callable, api: Api, key: str, rate: float, burst: int) -> None:
    """Set the stage's method settings `key` (`*/*` or `~1path/METHOD`) to rate/burst."""
    aws("apigateway").update_stage(
        restApiId=api.id,
        stageName="test",
        patchOperations=[
            {"op": "replace", "path": f"/{key}/throttling/rateLimit", "value": str(rate)},
            {"op": "replace", "path": f"/{key}/throttling/burstLimit", "value": str(burst)},
        ],
    )


def burst_of(url: str, count: int, **headers: str) -> tuple[list[int], float]:
    """`count` requests one after the other: their statuses and the seconds they took."""
    started = time.monotonic()
    statuses = [call(url, **headers)[0] for _ in range(count)]
    return statuses, time.monotonic() - started


def at_most_passed(rate: float, burst: int, seconds: float) -> int:
    """How many requests a bucket can pass in `seconds` from full (the refill included)."""
    return burst + math.floor(rate * seconds)


@pytest.mark.sandbox
def test_a_burst_past_the_limit_gets_429_and_the_bucket_refills(
    aws: Callable, sandbox: SandboxConfig, unique: Callable
) -> None:
    api = make_api(aws, sandbox, unique("thr-basic"))
    throttle(aws, api, "*/*", rate=2, burst=3)
    url = f"{api.url}/things"

    statuses, seconds = burst_of(url, 10)
    assert statuses[:3] == [200, 200, 200], statuses
    assert 429 in statuses, statuses
    assert set(statuses) == {200, 429}, statuses
    assert statuses.count(200) <= at_most_passed(2, 3, seconds), (statuses, seconds)

    # tokens come back at 2/s: the client that backs off gets through again...
    eventually(lambda: call(url)[0] == 200, timeout=5, interval=0.2, describe="no refill")
    # ...and the bucket is dry again right after: AWS's default THROTTLED response
    replies = [call(url) for _ in range(5)]
    throttled = [(status, body) for status, _, body in replies if status == 429]
    assert throttled, [r[0] for r in replies]
    assert throttled[0] == (429, AWS_THROTTLED)
    headers = next(headers for status, headers, _ in replies if status == 429)
    assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"


@pytest.mark.sandbox
def test_concurrent_requests_share_one_bucket(
    aws: Callable, sandbox: SandboxConfig, unique: Callable
) -> None:
    api = make_api(aws, sandbox, unique("thr-concurrent"))
    throttle(aws, api, "*/*", rate=1, burst=3)
    url = f"{api.url}/things"

    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: call(url)[0], range(12)))
    seconds = time.monotonic() - started
    assert set(statuses) == {200, 429}, statuses
    assert 3 <= statuses.count(200) <= at_most_passed(1, 3, seconds), (statuses, seconds)


@pytest.mark.sandbox
def test_a_per_method_setting_overrides_the_stage_default(
    aws: Callable, sandbox: SandboxConfig, unique: Callable
) -> None:
    api = make_api(aws, sandbox, unique("thr-override"), paths=("tight", "loose"))
    throttle(aws, api, "*/*", rate=1, burst=1)
    throttle(aws, api, "~1loose/GET", rate=1, burst=6)

    statuses, seconds = burst_of(f"{api.url}/loose", 9)
    assert statuses[:6] == [200] * 6, statuses
    assert statuses.count(200) <= at_most_passed(1, 6, seconds), (statuses, seconds)
    assert 429 in statuses, statuses

    # /tight keeps `*/*` and its own bucket: /loose's burst did not use its token
    statuses, seconds = burst_of(f"{api.url}/tight", 4)
    assert statuses[0] == 200, statuses
    assert statuses.count(200) <= at_most_passed(1, 1, seconds), (statuses, seconds)
    assert 429 in statuses, statuses


@pytest.mark.sandbox
def test_a_stage_without_throttling_is_not_throttled_until_its_settings_change(
    aws: Callable, sandbox: SandboxConfig, unique: Callable
) -> None:
    api = make_api(aws, sandbox, unique("thr-none"))
    url = f"{api.url}/things"
    statuses, _ = burst_of(url, 25)
    assert statuses == [200] * 25

    # the updated stage applies to the next request, without a new deployment
    throttle(aws, api, "*/*", rate=1, burst=2)
    statuses, seconds = burst_of(url, 6)
    assert statuses[:2] == [200, 200], statuses
    assert statuses.count(200) <= at_most_passed(1, 2, seconds), (statuses, seconds)
    assert 429 in statuses, statuses

    # -1 turns it off again
    throttle(aws, api, "*/*", rate=-1, burst=-1)
    statuses, _ = burst_of(url, 10)
    assert statuses == [200] * 10


@pytest.mark.sandbox
def test_throttling_comes_before_the_authorizer(
    aws: Callable, sandbox: SandboxConfig, unique: Callable
) -> None:
    pool = aws("cognito-idp").create_user_pool(PoolName=unique("thr-pool"))["UserPool"]
    api = make_api(aws, sandbox, unique("thr-auth"), cognito=pool["Arn"])
    throttle(aws, api, "*/*", rate=1, burst=1)
    url = f"{api.url}/things"

    statuses, seconds = burst_of(url, 4, Authorization="Bearer not.a.jwt")
    assert statuses[0] == 401, statuses  # admitted, then rejected by the authorizer
    assert 429 in statuses, statuses  # shed before the authorizer ran
    assert set(statuses) == {401, 429}, statuses
    assert statuses.count(401) <= at_most_passed(1, 1, seconds), (statuses, seconds)


@pytest.mark.sandbox
def test_the_apis_throttled_gateway_response_shapes_the_429(
    aws: Callable, sandbox: SandboxConfig, unique: Callable
) -> None:
    """As our stack does (stack/api/openapi.yaml): THROTTLED with its own body and a header."""
    responses = {
        "THROTTLED": {
            "statusCode": "429",
            "responseParameters": {"gatewayresponse.header.Retry-After": "'1'"},
            "responseTemplates": {
                "application/json": '{"message": "Too many requests",'
                ' "type": "$context.error.responseType"}'
            },
        }
    }
    api = make_api(aws, sandbox, unique("thr-shaped"), gateway_responses=responses)
    throttle(aws, api, "*/*", rate=1, burst=1)
    url = f"{api.url}/things"

    replies = [call(url) for _ in range(4)]
    assert replies[0][0] == 200
    status, headers, body = next(r for r in replies if r[0] != 200)
    assert status == 429
    assert body == {"message": "Too many requests", "type": "THROTTLED"}
    assert headers["Retry-After"] == "1"
    assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"
