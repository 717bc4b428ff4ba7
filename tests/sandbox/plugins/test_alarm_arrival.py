"""Alarms evaluated when their metric's datapoints arrive (sandbox/plugins/alarm_arrival.py)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from harness.waiting import eventually
from sandbox.plugins.alarm_arrival import ArrivalEvaluator, may_change_state

ALARM = {
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:depth",
    "Namespace": "AWS/SQS",
    "MetricName": "ApproximateNumberOfMessagesVisible",
    "Dimensions": [{"Name": "QueueName", "Value": "q"}],
    "Statistic": "Maximum",
    "ComparisonOperator": "GreaterThanThreshold",
    "Threshold": 0.0,
    "StateValue": "OK",
}


def test_only_a_breaching_datapoint_can_move_an_alarm_in_ok() -> None:
    assert not may_change_state(ALARM, [{"Value": 0.0}])
    assert may_change_state(ALARM, [{"Value": 0.0}, {"Value": 3.0}])
    assert may_change_state(ALARM, [{"Values": [0.0, 1.0]}])
    stats = {"SampleCount": 2, "Sum": 2.0, "Minimum": 0.0, "Maximum": 2.0}
    assert may_change_state(ALARM, [{"StatisticValues": stats}])
    assert not may_change_state({**ALARM, "Statistic": "Minimum"}, [{"StatisticValues": stats}])


@pytest.mark.parametrize(
    "change",
    [
        {"StateValue": "ALARM"},  # a recovery shows in non-breaching datapoints
        {"StateValue": "INSUFFICIENT_DATA"},  # any datapoint may end it
        {"Statistic": "Sum"},  # a small datapoint still adds to the period's sum
        {"Statistic": "SampleCount"},
    ],
)
def test_any_datapoint_may_move_other_alarms(change: dict) -> None:
    assert may_change_state({**ALARM, **change}, [{"Value": 0.0}])


def _evaluator(scheduled: set[str]) -> tuple[ArrivalEvaluator, list[str], threading.Event]:
    evaluated: list[str] = []
    done = threading.Event()

    def evaluate(arn: str) -> None:
        evaluated.append(arn)
        done.set()

    return ArrivalEvaluator(evaluate, lambda: scheduled), evaluated, done


def test_datapoints_of_the_alarm_metric_evaluate_it() -> None:
    evaluator, evaluated, done = _evaluator({ALARM["AlarmArn"]})
    other = {**ALARM, "AlarmArn": "other", "Dimensions": [{"Name": "QueueName", "Value": "x"}]}
    stored = [SimpleNamespace(alarm=ALARM), SimpleNamespace(alarm=other)]
    datum = {
        "MetricName": ALARM["MetricName"],
        "Dimensions": [{"Name": "QueueName", "Value": "q"}],
        "Value": 4.0,
    }
    evaluator.arrived(stored, "AWS/SQS", [datum])
    assert done.wait(5)
    assert evaluated == [ALARM["AlarmArn"]]


def test_other_metrics_and_unscheduled_alarms_are_not_evaluated() -> None:
    evaluator, evaluated, done = _evaluator(set())  # e.g. deleted since
    stored = [SimpleNamespace(alarm=ALARM)]
    same = {"MetricName": ALARM["MetricName"], "Dimensions": ALARM["Dimensions"], "Value": 4.0}
    evaluator.arrived(stored, "Other/Namespace", [same])  # another namespace: not queued
    evaluator.arrived(stored, "AWS/SQS", [{**same, "Dimensions": []}])  # other dimensions
    assert evaluator._pending == {}
    evaluator.arrived(stored, "AWS/SQS", [same])  # queued, then skipped: not scheduled
    assert evaluator._pending
    assert eventually(lambda: not evaluator._pending, timeout=5, interval=0.05)
    assert not done.wait(0.2)
    assert evaluated == []


@pytest.mark.sandbox
def test_a_breaching_datapoint_alarms_before_the_timer_would(aws, unique) -> None:
    """The timer evaluates a 60 s x 2 alarm every 120 s from its creation; the datapoint's
    arrival evaluates it at once. The deadline tells the two apart (the timer cannot fire in
    it), it is not a speed check."""
    cloudwatch = aws("cloudwatch")
    namespace, alarm = unique("Arrival"), unique("alarm")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace=namespace,
        MetricName="Depth",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        DatapointsToAlarm=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )

    def alarm_state() -> str:
        return cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]

    try:
        cloudwatch.put_metric_data(
            Namespace=namespace, MetricData=[{"MetricName": "Depth", "Value": 0}]
        )
        eventually(lambda: alarm_state() == "OK", timeout=60, interval=0.5, describe=alarm_state)
        cloudwatch.put_metric_data(
            Namespace=namespace, MetricData=[{"MetricName": "Depth", "Value": 3}]
        )
        eventually(lambda: alarm_state() == "ALARM", timeout=60, interval=0.5, describe=alarm_state)
        history = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")[
            "AlarmHistoryItems"
        ]
        summaries = [item["HistorySummary"] for item in history]
        assert len(summaries) == 2, summaries  # INSUFFICIENT_DATA -> OK -> ALARM, each once
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
