"""Service metrics LocalStack publishes one request at a time, aggregated per second instead.

AWS: services send their metrics to CloudWatch in aggregate (Lambda and SQS at one-minute
granularity: docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html,
docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html);
no API call waits on them. LocalStack makes a full PutMetricData request through its gateway
(signing, HTTP, parsing) per datapoint: per Lambda invocation (`Invocations`, `Errors`), per SQS
SendMessage (`NumberOfMessagesSent`, `SentMessageSize`), DeleteMessage and ReceiveMessage. On a
2-core machine that bookkeeping took a fifth of the gateway's CPU per warm invoke, and the
gateway (one Python process) is what bounds the whole pipeline.

This plugin records those datapoints in memory and publishes them once a second as statistic
sets (SampleCount, Sum, Minimum, Maximum per metric, dimensions and second), so every statistic and
every alarm sees the same numbers as before, at most a second later. Each set is stamped with the
second its datapoints were recorded in, as AWS stamps a request's metrics with the request's time,
not with the flush's: a flush delayed by a busy sandbox (a periodic save) publishes late, but
never moves a datapoint to a later period, where an alarm would count it after its traffic stopped.

LocalStack internals relied on (localstack-core 2026.3.0), checked at start-up:
- `localstack.services.lambda_.invocation.version_manager.record_cw_metric_invocation` and
  `.record_cw_metric_error` (module globals called after each invocation with `function_name`,
  `account_id`, `region_name`);
- `localstack.services.sqs.provider.publish_sqs_metric` (module global the SQS
  `CloudwatchDispatcher` submits with `account_id`, `region`, `queue_name`, `metric`, `value`,
  `unit`);
- `localstack.aws.connect.connect_to(...).cloudwatch.put_metric_data`;
- `localstack.utils.bootstrap.is_api_enabled`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

LOG = logging.getLogger(__name__)
FLUSH_SECONDS: Final = 1.0
MAX_DATA_PER_CALL: Final = 1000

# account, region, namespace, metric name, dimensions ((name, value), ...), unit
type Key = tuple[str, str, str, str, tuple[tuple[str, str], ...], str]


@dataclass
class StatisticSet:
    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


class MetricBatcher:
    """Datapoints since the last flush, by metric and by the (epoch) second they were recorded
    in; `flush` publishes and clears them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._sets: dict[tuple[Key, int], StatisticSet] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def record(self, key: Key, value: float = 1.0) -> None:
        second = int(self._clock())
        with self._lock:
            self._sets.setdefault((key, second), StatisticSet()).add(value)

    def take(self) -> dict[tuple[Key, int], StatisticSet]:
        with self._lock:
            sets, self._sets = self._sets, {}
        return sets

    # --- the LocalStack functions this replaces (same signatures) ------------------------
    def lambda_invocation(self, function_name: str, account_id: str, region_name: str) -> None:
        self.record(_lambda_key(account_id, region_name, function_name, "Invocations"))

    def lambda_error(self, function_name: str, account_id: str, region_name: str) -> None:
        self.lambda_invocation(function_name, account_id, region_name)  # AWS counts both
        self.record(_lambda_key(account_id, region_name, function_name, "Errors"))

    def sqs_metric(
        self,
        account_id: str,
        region: str,
        queue_name: str,
        metric: str,
        value: float = 1,
        unit: str = "Count",
    ) -> None:
        key = (account_id, region, "AWS/SQS", metric, (("QueueName", queue_name),), unit)
        self.record(key, value)

    def flush(self) -> None:
        from localstack.aws.connect import connect_to

        calls: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for (key, second), stats in self.take().items():
            account, region, namespace, metric, dimensions, unit = key
            calls.setdefault((account, region, namespace), []).append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in dimensions],
                    "Timestamp": datetime.fromtimestamp(second, UTC),
                    "StatisticValues": {
                        "SampleCount": stats.count,
                        "Sum": stats.total,
                        "Minimum": stats.minimum,
                        "Maximum": stats.maximum,
                    },
                    "Unit": unit,
                }
            )
        for (account, region, namespace), data in calls.items():
            cloudwatch = connect_to(aws_access_key_id=account, region_name=region).cloudwatch
            for start in range(0, len(data), MAX_DATA_PER_CALL):
                cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=data[start : start + MAX_DATA_PER_CALL]
                )


VERSION_MANAGER = "localstack.services.lambda_.invocation.version_manager"
LAMBDA_PARAMS = ("function_name", "account_id", "region_name")
RECORD_INVOCATION = Target(f"{VERSION_MANAGER}:record_cw_metric_invocation", LAMBDA_PARAMS, True)
RECORD_ERROR = Target(f"{VERSION_MANAGER}:record_cw_metric_error", LAMBDA_PARAMS, True)
PUBLISH_SQS_METRIC = Target(
    "localstack.services.sqs.provider:publish_sqs_metric",
    params=("account_id", "region", "queue_name", "metric", "value", "unit"),
    exact=True,
)
INTERNALS = (
    RECORD_INVOCATION,
    RECORD_ERROR,
    PUBLISH_SQS_METRIC,
    Target("localstack.aws.connect:connect_to"),
    Target("localstack.utils.bootstrap:is_api_enabled", params=("api",)),
)


def _lambda_key(account: str, region: str, function: str, metric: str) -> Key:
    return (account, region, "AWS/Lambda", metric, (("FunctionName", function),), "Count")


BATCHER = MetricBatcher()


def _flush_forever() -> None:
    from localstack.utils.bootstrap import is_api_enabled

    while True:
        time.sleep(FLUSH_SECONDS)
        if not is_api_enabled("cloudwatch"):
            BATCHER.take()
            continue
        try:
            BATCHER.flush()
        except Exception:  # keep recording; say so loudly
            patching.plugin_error(LOG, "metric batching: PutMetricData failed")


@hooks.on_infra_start(priority=50)
def batch_service_metrics() -> None:
    """Route Lambda's and SQS's per-call metrics to BATCHER and start its flusher."""
    patching.check(INTERNALS)
    patching.replace(RECORD_INVOCATION, BATCHER.lambda_invocation)
    patching.replace(RECORD_ERROR, BATCHER.lambda_error)
    patching.replace(PUBLISH_SQS_METRIC, BATCHER.sqs_metric)
    threading.Thread(target=_flush_forever, name="metric-batching", daemon=True).start()
