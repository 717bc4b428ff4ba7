"""CloudWatch alarms and the alerts they publish, as tests observe them.

- `Alarms.wait_for_state(name, "ALARM", since=t)` polls until the alarm is in that state (entered
  at or after `t` when given); on timeout the failure shows the alarm's state, reason, reason
  data and recent history.
- `Alarms.wait_until_clear(name)`: the alarm is out of ALARM and its metric holds no breaching
  datapoint in the window its next evaluations read; returns that moment. A test that owns the
  metric's traffic from then on (a lock) judges the alarm's next transitions against its own
  traffic only: nothing sent before can still move it.
- `AlertSubscriber` is a throw-away SQS queue subscribed (raw delivery) to the alerts topic:
  `wait_for(alarm_name, "OK")` returns the alert CloudWatch published for that transition.
  `close()` removes the subscription and the queue.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.aws import admit_topic
from harness.waiting import eventually


def epoch(value: Any) -> float | None:
    """Epoch seconds of a boto3 datetime, an ISO 8601 string (AWS: `...000+0000`) or a number."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 → +00:00
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


@dataclass(frozen=True)
class Alarms:
    cloudwatch: Any

    def describe(self, name: str) -> dict[str, Any]:
        found = self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        assert found, f"no alarm named {name}"
        return found[0]

    def history(self, name: str, limit: int = 8) -> list[dict[str, Any]]:
        items = self.cloudwatch.describe_alarm_history(
            AlarmName=name, HistoryItemType="StateUpdate", MaxRecords=limit
        ).get("AlarmHistoryItems", [])
        return sorted(items, key=lambda i: epoch(i["Timestamp"]) or 0.0, reverse=True)

    def explain(self, name: str) -> str:
        """The alarm's state, reason and recent state history, for failure messages."""
        try:
            alarm = self.describe(name)
        except AssertionError as e:
            return str(e)
        lines = [
            f"alarm {name}: {alarm['StateValue']} since {alarm.get('StateUpdatedTimestamp')}",
            f"  reason: {alarm.get('StateReason')}",
            f"  reason data: {alarm.get('StateReasonData', '-')}",
            f"  metric: {alarm.get('Namespace')}/{alarm.get('MetricName')} "
            f"{alarm.get('Statistic')} {alarm.get('ComparisonOperator')} {alarm.get('Threshold')}"
            f" over {alarm.get('EvaluationPeriods')} x {alarm.get('Period')} s",
            "  history (newest first):",
        ]
        with contextlib.suppress(Exception):
            lines += [f"    {i['Timestamp']}: {i['HistorySummary']}" for i in self.history(name)]
        return "\n".join(lines)

    def wait_for_state(
        self, name: str, state: str, *, timeout: float, since: float | None = None
    ) -> dict[str, Any]:
        """The alarm once it is in `state` (entered at or after epoch `since` when given)."""

        def probe() -> dict[str, Any] | None:
            alarm = self.describe(name)
            if alarm["StateValue"] != state:
                return None
            entered = epoch(alarm.get("StateUpdatedTimestamp"))
            if since is not None and entered is not None and entered < since - 1:
                return None  # still the state it was in before `since`
            return alarm

        return eventually(
            probe,
            timeout=timeout,
            interval=0.5,
            describe=lambda: f"waiting for {name} to be {state}"
            + (f" (entered after {since:.1f})" if since else "")
            + f"\n{self.explain(name)}",
        )

    def datapoints(self, alarm: dict[str, Any], statistic: str, since: float) -> list[dict]:
        """The alarm's metric (its namespace, name and dimensions) by its period, `statistic`,
        from the period before the one `since` falls in, up to a period ahead of now."""
        period = alarm["Period"]
        return self.cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=since - period,
            EndTime=time.time() + period,  # a datapoint stamped "now" on a clock slightly ahead
            Period=period,
            Statistics=[statistic],
        )["Datapoints"]

    def breaching(self, name: str) -> list[dict[str, Any]]:
        """The alarm's metric datapoints that breach its threshold within the lookback its
        evaluations read (EvaluationPeriods + 2 periods, as CloudWatch and the sandbox fetch)."""
        alarm = self.describe(name)
        lookback = (alarm["EvaluationPeriods"] + 2) * alarm["Period"]
        found = self.datapoints(alarm, alarm["Statistic"], since=time.time() - lookback)
        breaches = COMPARISONS[alarm["ComparisonOperator"]]
        return [d for d in found if breaches(d[alarm["Statistic"]], alarm["Threshold"])]

    def wait_until_clear(self, name: str, *, timeout: float) -> float:
        """Epoch seconds from when neither the alarm's state nor its recent datapoints can
        put it in ALARM: out of ALARM, no breaching datapoint in its lookback."""

        def clear() -> float | None:
            at = time.time()
            if self.describe(name)["StateValue"] == "ALARM" or self.breaching(name):
                return None
            return at

        return eventually(
            clear,
            timeout=timeout,
            interval=0.5,
            describe=lambda: f"waiting for {name} to be clear (out of ALARM, no breaching "
            f"datapoint in its lookback: {self.breaching(name)})\n{self.explain(name)}",
        )

    def wait_until_not(self, name: str, state: str, *, timeout: float) -> dict[str, Any]:
        """The alarm once it has left `state` (e.g. a precondition: not in ALARM)."""
        return eventually(
            lambda: (alarm := self.describe(name))["StateValue"] != state and alarm,
            timeout=timeout,
            interval=0.5,
            describe=lambda: f"waiting for {name} to leave {state}\n{self.explain(name)}",
        )


@dataclass
class AlertSubscriber:
    """A unique SQS queue subscribed to the alerts topic; collects every alert it receives."""

    sqs: Any
    sns: Any
    topic_arn: str
    queue_url: str
    subscription_arn: str
    received: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, sqs: Any, sns: Any, topic_arn: str, name: str) -> AlertSubscriber:
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = admit_topic(sqs, queue_url, topic_arn)
        try:
            subscription_arn = sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        except Exception:
            sqs.delete_queue(QueueUrl=queue_url)
            raise
        return cls(sqs, sns, topic_arn, queue_url, subscription_arn)

    def poll(self, wait_seconds: int = 1) -> list[dict[str, Any]]:
        """Receive (and delete) what arrived; every alert received so far, oldest first."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        for message in response.get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("Type") == "Notification" and "Message" in body:  # not raw delivery
                body = json.loads(body["Message"])
            self.received.append(body)
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return self.received

    def matching(self, alarm_name: str, state: str, since: float | None = None) -> list[dict]:
        return [
            alert
            for alert in self.received
            if alert.get("AlarmName") == alarm_name
            and alert.get("NewStateValue") == state
            and (since is None or (epoch(alert.get("StateChangeTime")) or since) >= since - 1)
        ]

    def wait_for(
        self, alarm_name: str, state: str, *, timeout: float, since: float | None = None
    ) -> dict[str, Any]:
        """The first alert saying `alarm_name` went to `state` (at or after `since`)."""

        def probe() -> dict[str, Any] | None:
            self.poll()
            found = self.matching(alarm_name, state, since)
            return found[0] if found else None

        return eventually(
            probe,
            timeout=timeout,
            interval=0.1,
            describe=lambda: f"no {state} alert for {alarm_name} on {self.queue_url}; received: "
            + json.dumps(
                [
                    {k: a.get(k) for k in ("AlarmName", "OldStateValue", "NewStateValue")}
                    | {"at": a.get("StateChangeTime")}
                    for a in self.received
                ]
            ),
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        with contextlib.suppress(Exception):
            self.sqs.delete_queue(QueueUrl=self.queue_url)
