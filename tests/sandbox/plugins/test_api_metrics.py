"""API Gateway metrics for REST APIs (sandbox/plugins/api_metrics.py)."""

from __future__ import annotations

import inspect
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from harness.waiting import eventually
from sandbox.config import SandboxConfig
from sandbox.plugins.api_metrics import Invocation, datapoints, detailed

# ------------------------------------------------------------------ no server


def test_the_internals_it_patches_are_there() -> None:
    from localstack.services.apigateway.models import RestApiDeployment
    from localstack.services.apigateway.next_gen.execute_api.context import (
        RestApiInvocationContext,
    )
    from localstack.services.apigateway.next_gen.execute_api.gateway import RestApiGateway
    from localstack.services.apigateway.next_gen.execute_api.handlers.integration import (
        IntegrationHandler,
    )

    process = inspect.signature(RestApiGateway.process_with_context).parameters
    assert list(process) == ["self", "context", "response"]
    assert list(inspect.signature(IntegrationHandler.__call__).parameters) == [
        "self",
        "chain",
        "context",
        "response",
    ]
    context = RestApiInvocationContext(None)
    for name in ("deployment", "stage", "stage_configuration", "resource", "resource_method"):
        assert getattr(context, name) is None
    context.sandbox_integration_ms = 1.5  # extra attributes are kept
    assert context.get("sandbox_integration_ms") == 1.5
    assert list(inspect.signature(RestApiDeployment).parameters) == [
        "account_id",
        "region",
        "rest_api",
    ]


def by_metric(invocation: Invocation) -> dict[tuple[str, tuple], float]:
    return {(key[3], key[4]): value for key, value in datapoints(invocation)}


def test_a_5xx_counts_once_with_its_latencies_per_api_and_stage() -> None:
    points = by_metric(Invocation("1", "r", "api", "v1", 502, 12.5, integration_ms=10.0))
    stage = (("ApiName", "api"), ("Stage", "v1"))
    assert points == {
        ("Count", stage): 1,
        ("5XXError", stage): 1,
        ("4XXError", stage): 0,
        ("Latency", stage): 12.5,
        ("IntegrationLatency", stage): 10.0,
    }


def test_a_request_that_never_reached_the_backend_has_no_integration_latency() -> None:
    invocation = Invocation("1", "r", "api", "v1", 401, 3.0, method=("/things", "GET"))
    points = by_metric(invocation)
    method = (("ApiName", "api"), ("Method", "GET"), ("Resource", "/things"), ("Stage", "v1"))
    assert points[("4XXError", method)] == 1 and points[("5XXError", method)] == 0
    assert not [metric for metric, _ in points if metric == "IntegrationLatency"]
    assert {unit for (_, _, _, _, _, unit), _ in datapoints(invocation)} == {
        "Count",
        "Milliseconds",
    }


def test_detailed_metrics_follow_the_method_settings() -> None:
    assert not detailed(None, "/things", "GET")
    assert detailed({"*/*": {"metricsEnabled": True}}, "/things", "GET")
    own_off = {"*/*": {"metricsEnabled": True}, "~1things/GET": {"metricsEnabled": False}}
    assert not detailed(own_off, "/things", "GET")
    assert detailed(own_off, "/things", "POST")


# ------------------------------------------------------------------ against the sandbox


def make_api(aws: Callable, sandbox: SandboxConfig, name: str) -> str:
    """GET /ok (MOCK 200) and GET /broken (MOCK 500), stage `test` with detailed metrics."""
    apigw = aws("apigateway")
    api_id = apigw.create_rest_api(name=name)["id"]
    root_id = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    for path, status in (("ok", "200"), ("broken", "500")):
        resource = apigw.create_resource(restApiId=api_id, parentId=root_id, pathPart=path)["id"]
        ids = {"restApiId": api_id, "resourceId": resource, "httpMethod": "GET"}
        apigw.put_method(**ids, authorizationType="NONE")
        apigw.put_integration(
            **ids,
            type="MOCK",
            requestTemplates={"application/json": f'{{"statusCode": {status}}}'},
        )
        apigw.put_method_response(**ids, statusCode=status)
        apigw.put_integration_response(
            **ids, statusCode=status, selectionPattern="" if status == "200" else "5\\d{2}"
        )
    apigw.create_deployment(restApiId=api_id, stageName="test")
    apigw.update_stage(
        restApiId=api_id,
        stageName="test",
        patchOperations=[{"op": "replace", "path": "/*/*/metrics/enabled", "value": "true"}],
    )
    return f"{sandbox.endpoint}/_aws/execute-api/{api_id}/test"


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def statistic(cloudwatch, metric: str, dimensions: dict[str, str], stat: str) -> float:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApiGateway",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=600,
        Statistics=[stat],
    )["Datapoints"]
    return sum(p[stat] for p in points)


@pytest.mark.sandbox
def test_requests_reach_cloudwatch_per_api_stage_and_method(
    aws: Callable, sandbox: SandboxConfig, unique: Callable
) -> None:
    name = unique("metrics-api")
    url = make_api(aws, sandbox, name)
    statuses = [status_of(f"{url}/ok") for _ in range(3)]
    statuses += [status_of(f"{url}/broken") for _ in range(2)]
    statuses.append(status_of(f"{url}/nowhere"))
    assert statuses[:5] == [200, 200, 200, 500, 500] and 400 <= statuses[5] < 500, statuses

    cloudwatch = aws("cloudwatch")
    stage = {"ApiName": name, "Stage": "test"}
    # Each request once, whether stored per method (routed) or per stage (matched nothing).
    expected = {
        ("Count", "Sum"): 6,
        ("5XXError", "Sum"): 2,
        ("4XXError", "Sum"): 1,
        ("Latency", "SampleCount"): 6,
        ("IntegrationLatency", "SampleCount"): 5,  # not for the request that matched nothing
    }

    def seen() -> dict:
        return {(m, s): statistic(cloudwatch, m, stage, s) for m, s in expected}

    eventually(lambda: seen() == expected, timeout=15, describe=lambda: f"{seen()}")
    assert statistic(cloudwatch, "Count", {"ApiName": name}, "Sum") == 6
    broken = {**stage, "Method": "GET", "Resource": "/broken"}
    assert statistic(cloudwatch, "5XXError", broken, "Sum") == 2
    assert statistic(cloudwatch, "Latency", stage, "Maximum") > 0
