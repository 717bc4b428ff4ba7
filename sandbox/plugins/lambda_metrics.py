"""Lambda's `Invocations` and `Errors` metrics, aggregated per second instead of one call each.

AWS: Lambda sends its function metrics to CloudWatch in aggregate, at one-minute granularity
(docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html); a caller never waits on them.
LocalStack: every invocation starts a thread that makes a full PutMetricData request through
the gateway (signing, HTTP, parsing) for one datapoint — about a fifth of the gateway's CPU
per warm invoke on a 2-core machine, i.e. the sandbox's invoke rate is partly spent on its
own bookkeeping. This plugin counts invocations and errors in memory and publishes them once a
second per (account, region, function) as a statistic set (SampleCount = Sum = the count), so
Sum, SampleCount and alarms on them see the same numbers as before, at most a second later.

LocalStack internals relied on (localstack-core 2026.3.0), checked at start-up:
- `localstack.services.lambda_.invocation.version_manager.record_cw_metric_invocation` and
  `.record_cw_metric_error` (module globals called from `LambdaVersionManager.invoke` after
  each invocation, with `function_name`, `account_id`, `region_name`);
- `localstack.aws.connect.connect_to(...).cloudwatch.put_metric_data`;
- `localstack.utils.bootstrap.is_api_enabled`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)
FLUSH_SECONDS: Final = 1.0
NAMESPACE: Final = "AWS/Lambda"
MAX_DATA_PER_CALL: Final = 1000

type Key = tuple[str, str, str, str]  # account, region, function name, metric name


class LambdaMetricCounter:
    """Invocation and error counts since the last flush; `flush` publishes and clears them."""

    def __init__(self) -> None:
        self._counts: Counter[Key] = Counter()
        self._lock = threading.Lock()

    def invocation(self, function_name: str, account_id: str, region_name: str) -> None:
        with self._lock:
            self._counts[(account_id, region_name, function_name, "Invocations")] += 1

    def error(self, function_name: str, account_id: str, region_name: str) -> None:
        with self._lock:  # an error is an invocation too (as LocalStack and AWS count it)
            self._counts[(account_id, region_name, function_name, "Invocations")] += 1
            self._counts[(account_id, region_name, function_name, "Errors")] += 1

    def take(self) -> Counter[Key]:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts

    def flush(self) -> None:
        from localstack.aws.connect import connect_to

        by_target: dict[tuple[str, str], list[dict[str, Any]]] = {}
        now = datetime.now(UTC)
        for (account, region, function, metric), count in self.take().items():
            by_target.setdefault((account, region), []).append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                    "Timestamp": now,
                    "StatisticValues": {
                        "SampleCount": count,
                        "Sum": count,
                        "Minimum": 1,
                        "Maximum": 1,
                    },
                    "Unit": "Count",
                }
            )
        for (account, region), data in by_target.items():
            cloudwatch = connect_to(aws_access_key_id=account, region_name=region).cloudwatch
            for start in range(0, len(data), MAX_DATA_PER_CALL):
                cloudwatch.put_metric_data(
                    Namespace=NAMESPACE, MetricData=data[start : start + MAX_DATA_PER_CALL]
                )


COUNTER = LambdaMetricCounter()


def _flush_forever(stop: threading.Event) -> None:
    from localstack.utils.bootstrap import is_api_enabled

    while not stop.wait(FLUSH_SECONDS):
        if not is_api_enabled("cloudwatch"):
            COUNTER.take()
            continue
        try:
            COUNTER.flush()
        except Exception as e:  # keep counting; say so loudly once per failure
            LOG.error("Lambda metrics: PutMetricData failed: %s", e)


@hooks.on_infra_start(priority=50)
def aggregate_lambda_metrics() -> None:
    """Replace the per-invocation PutMetricData with COUNTER and start its flusher."""
    from localstack.services.lambda_.invocation import version_manager

    for name in ("record_cw_metric_invocation", "record_cw_metric_error"):
        if not callable(getattr(version_manager, name, None)):
            raise RuntimeError(
                f"lambda_metrics: version_manager.{name} is gone (LocalStack upgrade?)"
            )
    version_manager.record_cw_metric_invocation = COUNTER.invocation
    version_manager.record_cw_metric_error = COUNTER.error
    threading.Thread(
        target=_flush_forever, args=(threading.Event(),), name="lambda-metrics", daemon=True
    ).start()
