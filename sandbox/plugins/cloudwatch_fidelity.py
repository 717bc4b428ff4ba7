"""CloudWatch metrics the open-source LocalStack core does not produce, so alarms can be tested.

Adds (a start-up hook, `localstack.hooks.on_infra_start`, patching each provider as it loads):
- SQS `ApproximateAgeOfOldestMessage` (Seconds), published with the other queue metrics;
- Embedded Metric Format (EMF): JSON log events carrying `_aws.CloudWatchMetrics` become metrics,
  for Lambda log groups (`/aws/lambda/...`) and for PutLogEvents sent with the header
  `x-amzn-logs-format: json/emf`, as on AWS.

Relies on these internals of localstack-core 2026.3.0 (re-check them on upgrade):
- `localstack.services.sqs.provider.CloudwatchPublishWorker.publish_approximate_cloudwatch_metrics`
  (the periodic queue-metric reporter, run every `SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL`);
- `localstack.services.sqs.models`: `sqs_stores`, `SqsQueue.inflight`,
  `StandardQueue.visible.queue`, `FifoQueue.message_groups[...].messages`,
  `SqsMessage.created` / `.deleted`;
- `localstack.utils.cloudwatch.cloudwatch_util.publish_sqs_metric_batch`;
- `localstack.services.logs.provider.LogsProvider.put_log_events` (every PutLogEvents, including
  the Lambda service's own push of function logs through LocalStack's internal client);
- `localstack.services.cloudwatch.alarm_scheduler`: `collect_metric_data` (returns the values of
  EvaluationPeriods + 2 periods, oldest first) and `is_threshold_exceeded` (counts breaching
  values), both called by `calculate_alarm_state`;
- `localstack.utils.patch.patch`. The patches must be applied before the SQS, Logs and CloudWatch
  providers are instantiated (their dispatch tables bind methods then): each is applied just
  before its provider is created (`patching.before_provider_loads`), what it relies on checked
  then.

Alarm evaluation, as on AWS: an alarm judges the most recent EvaluationPeriods datapoints only.
LocalStack fetches two extra periods (AWS does too, to look back past missing data) but then
counts breaching values among all of them, so an alarm with one evaluation period stays in
ALARM for up to three periods after its metric recovered. With TreatMissingData breaching or
notBreaching, missing periods inside the window count as such, so only the window is kept;
with missing/ignore, the newest EvaluationPeriods datapoints found in the lookback are judged.
Alarms are also evaluated when a datapoint of their metric arrives (sandbox/plugins/
alarm_arrival.py), not only on LocalStack's timer.

GetDashboard of a dashboard that does not exist answers AWS's `ResourceNotFound` (404,
`DashboardNotFoundError` in botocore's model) instead of LocalStack's `InvalidParameterValue`
(400): the AWS provider of Terraform takes the 404 as "deleted outside Terraform" and creates
the dashboard again, but failed the whole apply on the 400 (seen after the sandbox's state was
wiped while the deploy folder still listed the dashboard). DeleteDashboards naming one that does
not exist answers the same 404 and deletes none of them, as AWS documents ("if there is an error
during this call, no dashboards are deleted"); LocalStack deleted the rest and answered 200.
Patched in `localstack.services.cloudwatch.provider_v2.CloudwatchProvider` (`get_dashboard`,
`delete_dashboards`, with its `get_store`), before the CloudWatch provider is created.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError
from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.alarm_arrival import apply_alarm_arrival
from sandbox.plugins.patching import Target

LOG = logging.getLogger(__name__)

EMF_HEADER = "x-amzn-logs-format"
EMF_HEADER_VALUE = "json/emf"
LAMBDA_LOG_GROUP_PREFIX = "/aws/lambda/"
MAX_METRIC_DATA_PER_CALL = 1000

SQS_MODELS = "localstack.services.sqs.models"
ALARM_SCHEDULER = "localstack.services.cloudwatch.alarm_scheduler"
COLLECT_METRIC_DATA = Target(
    f"{ALARM_SCHEDULER}:collect_metric_data", params=("alarm_details", "client")
)
IS_THRESHOLD_EXCEEDED = Target(
    f"{ALARM_SCHEDULER}:is_threshold_exceeded", params=("metric_values", "alarm_details")
)
PUBLISH_QUEUE_METRICS = Target(
    "localstack.services.sqs.provider:CloudwatchPublishWorker"
    ".publish_approximate_cloudwatch_metrics",
    params=("self",),
)
PUT_LOG_EVENTS = Target(
    "localstack.services.logs.provider:LogsProvider.put_log_events",
    params=("self", "context", "log_group_name", "log_stream_name", "log_events"),
)
CLOUDWATCH_PROVIDER = "localstack.services.cloudwatch.provider_v2:CloudwatchProvider"
GET_DASHBOARD = Target(
    f"{CLOUDWATCH_PROVIDER}.get_dashboard", params=("self", "context", "dashboard_name")
)
DELETE_DASHBOARDS = Target(
    f"{CLOUDWATCH_PROVIDER}.delete_dashboards", params=("self", "context", "dashboard_names")
)
# What each patch relies on, checked just before its provider is created (all three: by the
# no-server test, tests/sandbox/plugins/test_patching.py).
CLOUDWATCH_INTERNALS = (
    COLLECT_METRIC_DATA,
    IS_THRESHOLD_EXCEEDED,
    GET_DASHBOARD,
    DELETE_DASHBOARDS,
    Target(f"{CLOUDWATCH_PROVIDER}.get_store", params=("account_id", "region")),
    Target("localstack.services.cloudwatch.models:CloudWatchStore.dashboards"),
    Target("localstack.aws.api.cloudwatch:DashboardNotFoundError"),
)
SQS_INTERNALS = (
    PUBLISH_QUEUE_METRICS,
    Target(f"{SQS_MODELS}:sqs_stores.iter_stores"),
    Target(f"{SQS_MODELS}:SqsQueue.inflight"),
    Target(f"{SQS_MODELS}:StandardQueue.visible"),
    Target(f"{SQS_MODELS}:FifoQueue.message_groups"),
    Target(f"{SQS_MODELS}:MessageGroup.messages"),
    Target(f"{SQS_MODELS}:SqsMessage.created"),
    Target(f"{SQS_MODELS}:SqsMessage.deleted"),
    Target(
        "localstack.utils.cloudwatch.cloudwatch_util:publish_sqs_metric_batch",
        params=("account_id", "region", "sqs_metric_batch_data"),
    ),
)
LOGS_INTERNALS = (
    PUT_LOG_EVENTS,
    Target("localstack.aws.connect:connect_to"),
    Target("localstack.utils.bootstrap:is_api_enabled", params=("api",)),
)
INTERNALS = CLOUDWATCH_INTERNALS + SQS_INTERNALS + LOGS_INTERNALS


def oldest_message_age(queue: Any, now: float) -> int:
    """Seconds since the oldest visible or in-flight, non-deleted message was sent (0 if none)."""
    messages: list[Any] = list(queue.inflight)
    if hasattr(queue, "message_groups"):  # FIFO
        for group in list(queue.message_groups.values()):
            messages.extend(group.messages)
    else:
        messages.extend(queue.visible.queue)
    created = [m.created for m in messages if not m.deleted]
    return max(0, int(now - min(created))) if created else 0


def publish_oldest_message_ages() -> None:
    from localstack.services.sqs.models import sqs_stores
    from localstack.utils.cloudwatch.cloudwatch_util import publish_sqs_metric_batch

    now = time.time()
    for account_id, region, store in sqs_stores.iter_stores():
        batch = [
            {
                "QueueName": queue.name,
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Unit": "Seconds",
                "Value": oldest_message_age(queue, now),
            }
            for queue in list(store.queues.values())
        ]
        if batch:
            publish_sqs_metric_batch(
                account_id=account_id, region=region, sqs_metric_batch_data=batch
            )


def emf_metric_data(message: str, fallback_ms: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(namespace, MetricDatum) pairs an EMF log line stands for; nothing for any other line.

    Follows the EMF specification: one metric per metric definition and dimension set, its value
    (a number or a list of numbers) taken from the root key of the same name.
    """
    text = message.strip()
    if not text.startswith("{"):
        return
    try:
        doc = json.loads(text)
        meta = doc["_aws"]
        directives = meta["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError):
        return
    stamp = meta.get("Timestamp", fallback_ms)
    timestamp = datetime.fromtimestamp(
        (stamp if isinstance(stamp, int | float) else fallback_ms) / 1000, UTC
    )
    for directive in directives if isinstance(directives, list) else []:
        namespace = directive.get("Namespace")
        dimension_sets = directive.get("Dimensions") or [[]]
        if not namespace:
            continue
        for definition in directive.get("Metrics", []):
            name = definition.get("Name")
            value = doc.get(name)
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                continue
            for keys in dimension_sets:
                if not all(k in doc for k in keys):
                    continue
                datum: dict[str, Any] = {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": str(doc[k])} for k in keys],
                    "Unit": definition.get("Unit", "None"),
                    "StorageResolution": int(definition.get("StorageResolution", 60)),
                    "Timestamp": timestamp,
                }
                if isinstance(value, list):
                    datum["Values"] = values
                else:
                    datum["Value"] = value
                yield namespace, datum


def _emf_applies(context: Any, log_group_name: str) -> bool:
    if log_group_name.startswith(LAMBDA_LOG_GROUP_PREFIX):
        return True
    request = getattr(context, "request", None)
    header = request.headers.get(EMF_HEADER, "") if request is not None else ""
    return header.lower() == EMF_HEADER_VALUE


def _put_emf_metrics(account_id: str, region: str, events: Iterable[dict[str, Any]]) -> None:
    from localstack.aws.connect import connect_to

    by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        fallback = event.get("timestamp") or int(time.time() * 1000)
        for namespace, datum in emf_metric_data(event.get("message", ""), fallback):
            by_namespace[namespace].append(datum)
    if not by_namespace:
        return
    cloudwatch = connect_to(aws_access_key_id=account_id, region_name=region).cloudwatch
    for namespace, data in by_namespace.items():
        for start in range(0, len(data), MAX_METRIC_DATA_PER_CALL):
            chunk = data[start : start + MAX_METRIC_DATA_PER_CALL]
            try:
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=chunk)
            except (ClientError, ParamValidationError) as e:  # refused, as it would be on AWS
                LOG.warning("EMF: metrics refused by CloudWatch, namespace %s: %s", namespace, e)


def evaluation_window(values_oldest_first: list[float | None], alarm: dict[str, Any]) -> list:
    """The datapoints an alarm judges, from LocalStack's longer lookback (oldest first)."""
    if alarm.get("TreatMissingData", "missing") in ("breaching", "notBreaching"):
        return values_oldest_first[-alarm["EvaluationPeriods"] :]
    return values_oldest_first


def _patch_alarm_evaluation() -> None:
    @patching.wrap(COLLECT_METRIC_DATA)
    def _window(fn: Any, alarm_details: Any, client: Any) -> list:
        return evaluation_window(fn(alarm_details, client), alarm_details)

    @patching.wrap(IS_THRESHOLD_EXCEEDED)
    def _newest_only(fn: Any, metric_values: list, alarm_details: Any) -> bool:
        # `calculate_alarm_state` passes the datapoints newest first.
        return fn(metric_values[: alarm_details["EvaluationPeriods"]], alarm_details)


@hooks.on_infra_start(priority=50)
def apply_cloudwatch_fidelity() -> None:
    """Patch the SQS metric reporter, Logs' PutLogEvents and alarm evaluation (see above), each
    just before its provider is created; only their modules are looked for now (importing them
    at start-up cost ~20 ms and 4 MB, `make bench-sandbox`)."""
    patching.check(INTERNALS, import_modules=False)
    patching.before_provider_loads("cloudwatch", _patch_cloudwatch)
    patching.before_provider_loads("sqs", _patch_queue_metrics)
    patching.before_provider_loads("logs", _patch_emf)


def _patch_cloudwatch() -> None:
    patching.check(CLOUDWATCH_INTERNALS)
    _patch_alarm_evaluation()
    _patch_dashboard_not_found()
    apply_alarm_arrival()


def _patch_queue_metrics() -> None:
    patching.check(SQS_INTERNALS)

    @patching.wrap(PUBLISH_QUEUE_METRICS)
    def _with_age(fn: Any, self: Any) -> None:
        fn(self)
        try:
            publish_oldest_message_ages()
        except Exception:  # never stop the reporter's schedule
            patching.plugin_error(LOG, "could not publish ApproximateAgeOfOldestMessage")


def _patch_emf() -> None:
    patching.check(LOGS_INTERNALS)
    from localstack.utils.bootstrap import is_api_enabled

    @patching.wrap(PUT_LOG_EVENTS)
    def _with_emf(fn: Any, self: Any, context: Any, **kwargs: Any) -> Any:
        response = fn(self, context=context, **kwargs)
        if is_api_enabled("cloudwatch") and _emf_applies(context, kwargs["log_group_name"]):
            _put_emf_metrics(context.account_id, context.region, kwargs.get("log_events") or [])
        return response


def _patch_dashboard_not_found() -> None:
    from localstack.aws.api.cloudwatch import DashboardNotFoundError

    @patching.wrap(GET_DASHBOARD)
    def _not_found(fn: Any, self: Any, context: Any, dashboard_name: str, **kwargs: Any) -> Any:
        if dashboard_name not in self.get_store(context.account_id, context.region).dashboards:
            raise DashboardNotFoundError(f"Dashboard {dashboard_name} does not exist.")
        return fn(self, context, dashboard_name, **kwargs)

    @patching.wrap(DELETE_DASHBOARDS)
    def _all_or_none(fn: Any, self: Any, context: Any, dashboard_names: list, **kwargs: Any) -> Any:
        dashboards = self.get_store(context.account_id, context.region).dashboards
        if missing := [name for name in dashboard_names if name not in dashboards]:
            raise DashboardNotFoundError(
                f"The specified dashboard does not exist. [{', '.join(missing)}]"
            )
        return fn(self, context, dashboard_names, **kwargs)
