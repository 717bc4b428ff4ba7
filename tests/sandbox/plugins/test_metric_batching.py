"""Lambda and SQS metrics batched per second (sandbox/plugins/metric_batching.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from harness.lambdas import create_function
from harness.waiting import eventually


def test_the_internals_it_replaces_are_there() -> None:
    from localstack.services.lambda_.invocation import metrics, version_manager
    from localstack.services.sqs import provider as sqs_provider
    from localstack.utils.cloudwatch import cloudwatch_util

    for name in ("record_cw_metric_invocation", "record_cw_metric_error"):
        parameters = list(inspect.signature(getattr(metrics, name)).parameters)
        assert parameters == ["function_name", "account_id", "region_name"]
        assert name in vars(version_manager)  # imported by name: the module global is replaced
    parameters = list(inspect.signature(cloudwatch_util.publish_sqs_metric).parameters)
    assert parameters == ["account_id", "region", "queue_name", "metric", "value", "unit"]
    assert "publish_sqs_metric" in vars(sqs_provider)
    source = inspect.getsource(sqs_provider.CloudwatchDispatcher.dispatch_sqs_metric)
    assert "publish_sqs_metric," in source  # looked up as the module global at call time


def test_datapoints_become_one_statistic_set_per_metric_and_second() -> None:
    from sandbox.plugins.metric_batching import MetricBatcher

    batcher = MetricBatcher(clock=lambda: 1000.5)
    for _ in range(3):
        batcher.lambda_invocation(function_name="f", account_id="1", region_name="r")
    batcher.lambda_error(function_name="f", account_id="1", region_name="r")
    for size in (10, 30):
        batcher.sqs_metric("1", "r", "q", "SentMessageSize", size, "Bytes")
    sets = batcher.take()
    lambda_key = ("1", "r", "AWS/Lambda")
    invocations = sets[((*lambda_key, "Invocations", (("FunctionName", "f"),), "Count"), 1000)]
    errors = sets[((*lambda_key, "Errors", (("FunctionName", "f"),), "Count"), 1000)]
    sizes = sets[(("1", "r", "AWS/SQS", "SentMessageSize", (("QueueName", "q"),), "Bytes"), 1000)]
    assert (invocations.count, invocations.total) == (4, 4)
    assert (errors.count, errors.total) == (1, 1)
    assert (sizes.count, sizes.total, sizes.minimum, sizes.maximum) == (2, 40, 10, 30)
    assert batcher.take() == {}


def test_a_late_flush_stamps_each_set_with_the_second_it_was_recorded_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flush held up by a busy sandbox must not move datapoints to a later period."""
    from sandbox.plugins import metric_batching

    now = [1000.2]
    batcher = metric_batching.MetricBatcher(clock=lambda: now[0])
    key = ("1", "r", "AWS/ApiGateway", "5XXError", (("ApiName", "a"),), "Count")
    batcher.record(key)
    now[0] = 1012.7  # the next request, 12 s later; the flush runs later still
    batcher.record(key)
    published: list[dict] = []

    class CloudWatch:
        def put_metric_data(self, Namespace: str, MetricData: list[dict]) -> None:
            published.extend(MetricData)

    class Clients:
        cloudwatch = CloudWatch()

    monkeypatch.setattr("localstack.aws.connect.connect_to", lambda **_: Clients())
    batcher.flush()
    stamps = sorted(d["Timestamp"] for d in published)
    assert stamps == [datetime.fromtimestamp(s, UTC) for s in (1000, 1012)]
    assert all(d["StatisticValues"]["Sum"] == 1 for d in published)


def total(cloudwatch, namespace: str, metric: str, dimension: tuple[str, str], stat: str) -> float:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": dimension[0], "Value": dimension[1]}],
        StartTime=now - timedelta(minutes=2),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=[stat],
    )["Datapoints"]
    if stat == "Maximum":
        return max((p[stat] for p in points), default=0)
    return sum(p[stat] for p in points)


@pytest.mark.sandbox
def test_lambda_invocations_and_errors_reach_cloudwatch(aws: Callable, unique: Callable) -> None:
    lam, cloudwatch = aws("lambda"), aws("cloudwatch")
    name = unique("metrics")
    code = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError()\n"
    create_function(lam, name, code)
    try:
        for fail in (False, False, False, True, True):
            lam.invoke(FunctionName=name, Payload=b'{"fail": true}' if fail else b"{}")
        dimension = ("FunctionName", name)

        def sums() -> tuple[float, float]:
            return (
                total(cloudwatch, "AWS/Lambda", "Invocations", dimension, "Sum"),
                total(cloudwatch, "AWS/Lambda", "Errors", dimension, "Sum"),
            )

        eventually(lambda: sums() == (5, 2), timeout=10, describe=lambda: f"sums {sums()}")
    finally:
        lam.delete_function(FunctionName=name)


@pytest.mark.sandbox
def test_sqs_message_metrics_reach_cloudwatch(aws: Callable, unique: Callable) -> None:
    sqs, cloudwatch = aws("sqs"), aws("cloudwatch")
    name = unique("metrics")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        for body in ("a" * 10, "b" * 30):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        dimension = ("QueueName", name)

        def seen() -> tuple[float, float, float]:
            return (
                total(cloudwatch, "AWS/SQS", "NumberOfMessagesSent", dimension, "Sum"),
                total(cloudwatch, "AWS/SQS", "SentMessageSize", dimension, "Sum"),
                total(cloudwatch, "AWS/SQS", "SentMessageSize", dimension, "Maximum"),
            )

        eventually(lambda: seen() == (2, 40, 30), timeout=10, describe=lambda: f"{seen()}")
    finally:
        sqs.delete_queue(QueueUrl=url)
