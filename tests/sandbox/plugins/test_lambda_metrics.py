"""Lambda Invocations/Errors metrics, aggregated per second (sandbox/plugins/lambda_metrics.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from harness.lambdas import create_function
from harness.waiting import eventually


def test_the_internals_it_replaces_are_there() -> None:
    from localstack.services.lambda_.invocation import metrics, version_manager

    for name in ("record_cw_metric_invocation", "record_cw_metric_error"):
        original = getattr(metrics, name)
        assert list(inspect.signature(original).parameters) == [
            "function_name",
            "account_id",
            "region_name",
        ]
        assert name in vars(version_manager)  # imported by name: the module global is patched


def test_counts_are_taken_once() -> None:
    from sandbox.plugins.lambda_metrics import LambdaMetricCounter

    counter = LambdaMetricCounter()
    for _ in range(3):
        counter.invocation(function_name="f", account_id="1", region_name="r")
    counter.error(function_name="f", account_id="1", region_name="r")
    assert counter.take() == {("1", "r", "f", "Invocations"): 4, ("1", "r", "f", "Errors"): 1}
    assert counter.take() == {}


@pytest.mark.sandbox
def test_invocations_and_errors_reach_cloudwatch(aws: Callable, unique: Callable) -> None:
    lam, cloudwatch = aws("lambda"), aws("cloudwatch")
    name = unique("metrics")
    code = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError()\n"
    create_function(lam, name, code)
    try:
        started = datetime.now(UTC) - timedelta(minutes=1)
        for fail in (False, False, False, True, True):
            lam.invoke(FunctionName=name, Payload=b'{"fail": true}' if fail else b"{}")

        def total(metric: str) -> float:
            points = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda",
                MetricName=metric,
                Dimensions=[{"Name": "FunctionName", "Value": name}],
                StartTime=started,
                EndTime=datetime.now(UTC) + timedelta(minutes=1),
                Period=60,
                Statistics=["Sum", "SampleCount"],
            )["Datapoints"]
            return sum(p["Sum"] for p in points)

        eventually(
            lambda: total("Invocations") == 5 and total("Errors") == 2,
            timeout=10,
            describe=lambda: f"Invocations {total('Invocations')}, Errors {total('Errors')}",
        )
    finally:
        lam.delete_function(FunctionName=name)
