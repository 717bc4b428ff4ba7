"""CloudWatch alarms evaluated when a datapoint of their metric arrives, not only on a timer.

LocalStack evaluates each metric alarm on a timer of EvaluationPeriods x Period seconds from its
creation, so a breach is seen up to that long after the datapoint arrived, and a recovery up to
that long after the breaching datapoint left the window. AWS evaluates standard-resolution
alarms every minute against datapoints that are at most a minute old, i.e. as they arrive at the
granularity it offers. Here a PutMetricData (also the sandbox's own SQS, Lambda and EMF metrics)
queues every alarm on the same namespace, metric name and dimensions for an evaluation at once,
by LocalStack's own evaluation (`calculate_alarm_state`, with cloudwatch_fidelity's window
patches): the same periods, evaluation periods, datapoints to alarm and missing-data treatment,
only sooner. The timer stays: missing data and ageing datapoints still need it.

An arrival that cannot change the alarm's state is not evaluated: a datapoint that does not
breach, for an alarm in OK on Maximum, Minimum or Average (the timer sees such alarms recover
or age anyway). Evaluations of one alarm never overlap (one lock around `calculate_alarm_state`),
so a transition and its alarm actions happen once. LocalStack stores datapoints by whole second
and queries windows that end before `now`, so an evaluation waits for the arrival's second to
have passed (at most a second) to see the datapoint.

Relies on these internals of localstack-core 2026.3.0 (re-check them on upgrade):
- `localstack.services.cloudwatch.provider_v2.CloudwatchProvider.put_metric_data` and
  `.alarm_scheduler.scheduled_alarms` (ARN -> task for every alarm the timer evaluates);
- `localstack.services.cloudwatch.models.cloudwatch_stores[account][region].alarms`
  (ARN -> LocalStackMetricAlarm with the MetricAlarm dict `.alarm`);
- `localstack.services.cloudwatch.alarm_scheduler.calculate_alarm_state(alarm_arn)`, looked up
  by `schedule_metric_alarm` when it schedules an alarm (so a patch covers the timer too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

LOG = logging.getLogger(__name__)

# Statistics for which a datapoint that does not breach cannot make the period breach.
BOUNDED_BY_DATAPOINT = {"Maximum", "Minimum", "Average"}
COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
STAT_KEY = {"Maximum": "Maximum", "Minimum": "Minimum"}


def metric_key(namespace: str, name: str, dimensions: Iterable[dict[str, str]]) -> tuple:
    return namespace, name, frozenset((d["Name"], d["Value"]) for d in dimensions or [])


def datum_values(datum: dict[str, Any], statistic: str) -> list[float]:
    """The values a datum contributes to an alarm's statistic (a statistic set: its own)."""
    if "StatisticValues" in datum:
        stats = datum["StatisticValues"]
        if statistic == "Average" and stats.get("SampleCount"):
            return [stats["Sum"] / stats["SampleCount"]]
        return [stats[STAT_KEY.get(statistic, "Maximum")]]
    if "Values" in datum:
        return list(datum["Values"])
    return [datum["Value"]] if "Value" in datum else []


def may_change_state(alarm: dict[str, Any], data: list[dict[str, Any]]) -> bool:
    """Whether these datapoints of the alarm's metric could move it: anything but non-breaching
    datapoints for an alarm in OK on a statistic no single datapoint can push past the bound."""
    statistic = alarm.get("Statistic")
    compare = COMPARE.get(alarm.get("ComparisonOperator", ""))
    if alarm.get("StateValue") != "OK" or statistic not in BOUNDED_BY_DATAPOINT or not compare:
        return True
    threshold = alarm["Threshold"]
    return any(compare(v, threshold) for d in data for v in datum_values(d, statistic))


class ArrivalEvaluator:
    """Matches arriving datapoints to alarms and evaluates those on one background thread."""

    def __init__(self, evaluate: Any, scheduled: Any) -> None:
        self._evaluate = evaluate  # calculate_alarm_state(alarm_arn)
        self._scheduled = scheduled  # () -> the ARNs the timer evaluates
        # ARN -> epoch second after which its earliest unevaluated datapoint is visible; a later
        # arrival for an ARN already pending waits in `_again`, so a steady stream of datapoints
        # never postpones an evaluation.
        self._pending: dict[str, float] = {}
        self._again: dict[str, float] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arrived(self, alarms: Iterable[Any], namespace: str, data: list[dict[str, Any]]) -> None:
        by_metric: dict[tuple, list[dict[str, Any]]] = {}
        for datum in data:
            key = metric_key(namespace, datum.get("MetricName", ""), datum.get("Dimensions"))
            by_metric.setdefault(key, []).append(datum)
        due = []
        for stored in list(alarms):
            alarm = stored.alarm
            if "MetricName" not in alarm:  # metric math and composite alarms: timer only
                continue
            key = metric_key(alarm.get("Namespace", ""), alarm["MetricName"], alarm["Dimensions"])
            if key in by_metric and may_change_state(alarm, by_metric[key]):
                due.append(alarm["AlarmArn"])
        if due:
            visible = int(time.time()) + 1.01
            with self._wake:
                for arn in due:
                    (self._again if arn in self._pending else self._pending)[arn] = visible
                self._start()
                self._wake.notify()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="alarm-arrival", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
                now = time.time()
                due = [arn for arn, visible in self._pending.items() if visible <= now]
                if not due:
                    self._wake.wait(min(self._pending.values()) - now)
                    continue
                for arn in due:
                    del self._pending[arn]
                    if arn in self._again:
                        self._pending[arn] = self._again.pop(arn)
            scheduled = self._scheduled()
            for arn in due:
                if arn not in scheduled:  # deleted, or a configuration the timer skips too
                    continue
                try:
                    self._evaluate(arn)
                except Exception as e:  # the timer tries again
                    LOG.info("alarm %s: evaluation on arrival failed: %s", arn, e)


CALCULATE_ALARM_STATE = Target(
    "localstack.services.cloudwatch.alarm_scheduler:calculate_alarm_state",
    params=("alarm_arn",),
    exact=True,
)
PUT_METRIC_DATA = Target(
    "localstack.services.cloudwatch.provider_v2:CloudwatchProvider.put_metric_data",
    params=("self", "context", "namespace", "metric_data"),
)
INTERNALS = (
    CALCULATE_ALARM_STATE,
    PUT_METRIC_DATA,
    Target("localstack.services.cloudwatch.models:cloudwatch_stores"),
)


def apply_alarm_arrival() -> None:
    """Patch PutMetricData and alarm evaluation (called from cloudwatch_fidelity's hook)."""
    from localstack.services.cloudwatch import alarm_scheduler
    from localstack.services.cloudwatch.models import cloudwatch_stores

    patching.check(INTERNALS)
    one_at_a_time = threading.Lock()

    @patching.wrap(CALCULATE_ALARM_STATE)
    def _serialised(fn: Any, alarm_arn: str) -> None:
        with one_at_a_time:
            fn(alarm_arn)

    providers: list[Any] = []

    def scheduled() -> set[str]:
        return {arn for p in providers for arn in p.alarm_scheduler.scheduled_alarms}

    evaluator = ArrivalEvaluator(alarm_scheduler.calculate_alarm_state, scheduled)

    @patching.wrap(PUT_METRIC_DATA)
    def _then_evaluate(fn: Any, self: Any, context: Any, namespace: str, *args: Any, **kw: Any):
        result = fn(self, context, namespace, *args, **kw)
        if self not in providers:
            providers.append(self)
        data = kw.get("metric_data") or (args[0] if args else None) or []
        try:
            store = cloudwatch_stores[context.account_id][context.region]
            evaluator.arrived(store.alarms.values(), namespace, data)
        except Exception as e:  # never fail the PutMetricData call
            LOG.info("alarm evaluation on arrival skipped: %s", e)
        return result
