"""CloudWatch fidelity plugin: SQS age metric, EMF extraction and alarms that really fire."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from harness.lambdas import create_function
from harness.waiting import eventually
from sandbox.plugins.cloudwatch_fidelity import emf_metric_data, evaluation_window


def _emf_line(namespace: str, **root: object) -> str:
    metrics = [{"Name": "Latency", "Unit": "Milliseconds"}]
    meta = {"Namespace": namespace, "Dimensions": [["Service"]], "Metrics": metrics}
    return json.dumps(
        {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [meta]}, **root}
    )


def _maximum(cloudwatch, namespace: str, metric: str, dimensions: list[dict]) -> float | None:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max((p["Maximum"] for p in points), default=None)


def test_emf_parsing_follows_the_specification() -> None:
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 1_700_000_000_000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "App",
                        "Dimensions": [["Service", "Stage"], []],
                        "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Gone"}],
                    }
                ],
            },
            "Service": "api",
            "Stage": 1,
            "Latency": [3, 4],
        }
    )
    data = list(emf_metric_data(line, fallback_ms=0))
    assert [ns for ns, _ in data] == ["App", "App"]  # "Gone" has no value: no metric
    with_dims, without = (d for _, d in data)
    assert with_dims["Dimensions"] == [
        {"Name": "Service", "Value": "api"},
        {"Name": "Stage", "Value": "1"},
    ]
    assert without["Dimensions"] == []
    assert with_dims["Values"] == [3, 4] and with_dims["Unit"] == "Milliseconds"
    assert with_dims["Timestamp"] == datetime.fromtimestamp(1_700_000_000, UTC)
    for not_emf in ("plain text", "{not json", '{"_aws": {}}', "[1]"):
        assert list(emf_metric_data(not_emf, fallback_ms=0)) == []


@pytest.mark.sandbox
def test_sqs_publishes_approximate_age_of_oldest_message(aws, unique) -> None:
    sqs, cloudwatch = aws("sqs"), aws("cloudwatch")
    name = unique("age")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="waiting")
    dims = [{"Name": "QueueName", "Value": name}]
    age = eventually(
        lambda: (_maximum(cloudwatch, "AWS/SQS", "ApproximateAgeOfOldestMessage", dims) or 0) >= 1,
        timeout=20,
        interval=0.5,
        describe=lambda: repr(cloudwatch.list_metrics(Namespace="AWS/SQS", Dimensions=dims)),
    )
    assert age


@pytest.mark.sandbox
@pytest.mark.parametrize(
    ("log_group", "emf_header"),
    [("/aws/lambda/{}", False), ("/app/{}", True)],
    ids=["lambda-log-group", "emf-header"],
)
def test_emf_log_events_become_metrics(aws, unique, log_group: str, emf_header: bool) -> None:
    logs, cloudwatch = aws("logs"), aws("cloudwatch")
    group, namespace, service = log_group.format(unique("fn")), unique("Emf"), unique("svc")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    if emf_header:
        logs.meta.events.register(
            "before-sign.cloudwatch-logs.PutLogEvents",
            lambda request, **_: request.headers.__setitem__("x-amzn-logs-format", "json/emf"),
        )
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms, "message": "START RequestId: 1"},
            {"timestamp": now_ms, "message": _emf_line(namespace, Service=service, Latency=42)},
        ],
    )
    dims = [{"Name": "Service", "Value": service}]
    assert eventually(lambda: _maximum(cloudwatch, namespace, "Latency", dims), timeout=5) == 42


EMF_FUNCTION = """import json, time
def handler(event, context):
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
        {"Namespace": event["ns"], "Dimensions": [["Service"]],
         "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": "fn", "Latency": 42}))
"""


@pytest.mark.sandbox
def test_emf_printed_by_a_lambda_function_becomes_a_metric(aws, unique) -> None:
    iam, lam, cloudwatch = aws("iam"), aws("lambda"), aws("cloudwatch")
    name, namespace = unique("emf-fn"), unique("EmfFn")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    create_function(lam, name, EMF_FUNCTION, Role=role)
    assert "FunctionError" not in lam.invoke(
        FunctionName=name, Payload=json.dumps({"ns": namespace})
    )
    dims = [{"Name": "Service", "Value": "fn"}]
    # LocalStack pushes the function's logs after the invocation returns.
    assert eventually(lambda: _maximum(cloudwatch, namespace, "Latency", dims), timeout=15) == 42


@pytest.mark.sandbox
def test_emf_needs_a_lambda_log_group_or_the_header(aws, unique) -> None:
    logs, cloudwatch = aws("logs"), aws("cloudwatch")
    group, namespace = unique("/app/plain"), unique("Emf")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    message = _emf_line(namespace, Service="x", Latency=1)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
    )
    # EMF extraction runs inside PutLogEvents, so nothing can still be on its way.
    assert cloudwatch.list_metrics(Namespace=namespace)["Metrics"] == []


@pytest.mark.sandbox
@pytest.mark.parametrize(
    "metric", ["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"]
)
def test_alarm_on_sqs_metric_goes_to_alarm(aws, unique, metric: str) -> None:
    sqs, cloudwatch = aws("sqs"), aws("cloudwatch")
    name, alarm = unique("alarmed"), unique("alarm")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/SQS",
        MetricName=metric,
        Dimensions=[{"Name": "QueueName", "Value": name}],
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    sqs.send_message(QueueUrl=url, MessageBody="backlog")

    def state() -> str:
        return cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]

    # Report interval 2 s + one 10 s evaluation period, with slack for a loaded machine.
    eventually(lambda: state() == "ALARM", timeout=45, interval=0.5, describe=state)
    cloudwatch.delete_alarms(AlarmNames=[alarm])


def test_an_alarm_judges_only_its_evaluation_periods() -> None:
    alarm = {"EvaluationPeriods": 1, "TreatMissingData": "notBreaching"}
    # LocalStack looks back EvaluationPeriods + 2 periods (oldest first).
    assert evaluation_window([5.0, None, 0.0], alarm) == [0.0]
    assert evaluation_window([5.0, 0.0, None], alarm) == [None]
    assert evaluation_window([5.0, None, 0.0], {**alarm, "EvaluationPeriods": 2}) == [None, 0.0]
    # With missing data ignored, AWS looks back for datapoints: the whole lookback stays.
    assert evaluation_window([5.0, None, None], {**alarm, "TreatMissingData": "missing"}) == [
        5.0,
        None,
        None,
    ]


@pytest.mark.sandbox
def test_a_breach_older_than_the_evaluation_period_does_not_alarm(aws, unique) -> None:
    """On AWS a one-period alarm ignores a breach two periods back; stock LocalStack alarmed."""
    cloudwatch = aws("cloudwatch")
    namespace, alarm = unique("Fidelity"), unique("alarm")
    now = datetime.now(UTC)
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Depth", "Value": 5, "Timestamp": now - timedelta(seconds=15)},
            {"MetricName": "Depth", "Value": 0, "Timestamp": now},
        ],
    )
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace=namespace,
        MetricName="Depth",
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )

    def state() -> str:
        return cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]

    try:
        first = eventually(
            lambda: state() if state() != "INSUFFICIENT_DATA" else None, timeout=30, interval=0.5
        )
        history = cloudwatch.describe_alarm_history(AlarmName=alarm)["AlarmHistoryItems"]
        assert first == "OK", history
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])


@pytest.mark.sandbox
def test_a_missing_dashboard_is_resource_not_found_as_on_aws(aws, unique) -> None:
    """Terraform's AWS provider recreates a dashboard on this 404; LocalStack's 400 failed it."""
    cloudwatch, name = aws("cloudwatch"), unique("dashboard")
    with pytest.raises(ClientError) as missing:
        cloudwatch.get_dashboard(DashboardName=name)
    error = missing.value.response
    assert error["Error"]["Code"] == "ResourceNotFound"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Message"] == f"Dashboard {name} does not exist."
    cloudwatch.put_dashboard(DashboardName=name, DashboardBody='{"widgets": []}')
    try:
        assert cloudwatch.get_dashboard(DashboardName=name)["DashboardName"] == name
    finally:
        cloudwatch.delete_dashboards(DashboardNames=[name])


@pytest.mark.sandbox
def test_deleting_dashboards_one_of_which_is_missing_deletes_none_as_on_aws(aws, unique) -> None:
    cloudwatch, kept, missing = aws("cloudwatch"), unique("dashboard"), unique("dashboard")
    cloudwatch.put_dashboard(DashboardName=kept, DashboardBody='{"widgets": []}')
    try:
        with pytest.raises(ClientError) as failed:
            cloudwatch.delete_dashboards(DashboardNames=[kept, missing])
        error = failed.value.response
        assert error["Error"]["Code"] == "ResourceNotFound"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert error["Error"]["Message"] == f"The specified dashboard does not exist. [{missing}]"
        assert cloudwatch.get_dashboard(DashboardName=kept)["DashboardName"] == kept
    finally:
        cloudwatch.delete_dashboards(DashboardNames=[kept])
    with pytest.raises(ClientError, match="ResourceNotFound"):
        cloudwatch.get_dashboard(DashboardName=kept)
