"""The API's 5XX alarm: real 5xx answers drive it to ALARM (with its alert), then back to OK.

The stack's `api_5xx` alarm watches `AWS/ApiGateway` `5XXError` by `ApiName` and `Stage`, and
API Gateway's metrics are keyed by those names, not by API id: every REST API of that name and
stage counts in them (on AWS as in the sandbox, sandbox/plugins/api_metrics.py). So this test
makes its 5xx without touching the stack's API (other tests keep their answers) and without a
fault switch in production code: a REST API of its own, with the stack's API name and stage,
whose POST /notifications runs a test-only variant of the ingest function
(integration_tests/variants/ingest_faults.py, fault `crash_before_answer`: the function's process
dies before it does anything), so API Gateway answers 502, a real 5xx of its integration. A check
that the stack's API carries exactly the name and stage the alarm watches ties the two together.

Lock `api-5xx`, exclusively for the whole round trip, from a moment when nothing sent before can
move the alarm (`Alarms.wait_until_clear`): no other test answers 5xx on purpose, and a second
run of this test on the same sandbox waits. The return to OK is awaited once both 5xx are
counted in CloudWatch (exactly two: a third would be another request's, a finding): under load the
first answer can fire the alarm while the second is still on its way, and would fire it again.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.alarms import Alarms, AlertSubscriber
from harness.cleanup import Cleanups
from harness.exclusive import Locks
from harness.variants import deploy_variant
from harness.waiting import eventually

pytestmark = [pytest.mark.sandbox, pytest.mark.lanes()]

VARIANT = Path(__file__).parent / "variants" / "ingest_faults.py"
TIMEOUT_SECONDS = 10
FAULT = {"X-Test-Fault": "crash_before_answer"}


def watched(alarms: Alarms, alarm: str) -> dict[str, str]:
    """The alarm's dimensions: {"ApiName": ..., "Stage": ...}."""
    return {d["Name"]: d["Value"] for d in alarms.describe(alarm)["Dimensions"]}


@pytest.fixture
def twin_api(
    client: Callable[..., Any],
    stack: dict[str, Any],
    alarms: Alarms,
    unique: Callable[[str], str],
    sandbox_config: Any,
    target: str,
) -> Iterator[str]:
    """A REST API named like the stack's, same stage; POST /notifications → the crashing
    variant. Yields its invoke URL; removes the API, the function and its log group."""
    lam, apigw, logs = client("lambda"), client("apigateway"), client("logs")
    names = watched(alarms, stack["alarm_names"]["api_5xx"])
    function = unique("crashing-ingest")
    cleanups = Cleanups()
    try:
        arn = deploy_variant(
            lam, stack["function_names"]["ingest"], function, VARIANT, TIMEOUT_SECONDS
        )
        cleanups.append(lambda: lam.delete_function(FunctionName=function))
        cleanups.append(lambda: logs.delete_log_group(logGroupName=f"/aws/lambda/{function}"))
        api_id = apigw.create_rest_api(name=names["ApiName"])["id"]
        cleanups.append(lambda: apigw.delete_rest_api(restApiId=api_id))
        root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
        resource = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="notifications")
        method = {"restApiId": api_id, "resourceId": resource["id"], "httpMethod": "POST"}
        apigw.put_method(**method, authorizationType="NONE")
        region = arn.split(":")[3]
        apigw.put_integration(
            **method,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        )
        account = arn.split(":")[4]
        lam.add_permission(
            FunctionName=function,
            StatementId="twin-api",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{region}:{account}:{api_id}/*/POST/notifications",
        )
        apigw.create_deployment(restApiId=api_id, stageName=names["Stage"])
        if target == "sandbox":
            base = f"{sandbox_config.endpoint}/_aws/execute-api/{api_id}/{names['Stage']}"
        else:
            base = f"https://{api_id}.execute-api.{region}.amazonaws.com/{names['Stage']}"
        yield f"{base}/notifications"
    finally:
        cleanups.run()


def post(url: str, headers: dict[str, str]) -> int:
    body = json.dumps({"user_id": "nobody", "message": "never sent", "priority": "low"})
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS + 20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.long  # an alarm round trip, 15-25 s of waiting
def test_api_5xx_alarm_fires_on_5xx_answers_and_clears_after_them(
    stack: dict[str, Any],
    client: Callable[..., Any],
    alarms: Alarms,
    alert_subscriber: Callable[[], AlertSubscriber],
    locks: Locks,
    twin_api: str,
) -> None:
    alarm = stack["alarm_names"]["api_5xx"]
    period = alarms.describe(alarm)["Period"]
    apigw = client("apigateway")
    # The alarm watches the stack's own API: its name and its stage.
    assert watched(alarms, alarm) == {
        "ApiName": apigw.get_rest_api(restApiId=stack["api_id"])["name"],
        "Stage": stack["stage_name"],
    }

    with locks.hold(exclusive=["api-5xx"]):
        subscriber = alert_subscriber()
        owned_from = alarms.wait_until_clear(alarm, timeout=4 * period + 30)
        statuses = [post(twin_api, FAULT) for _ in range(2)]
        assert all(500 <= status < 600 for status in statuses), statuses

        alarms.wait_for_state(alarm, "ALARM", timeout=2 * period + 15, since=owned_from)
        fired_at = time.time()
        subscriber.wait_for(alarm, "ALARM", timeout=10, since=owned_from)
        # Both answers are in CloudWatch (the first may have fired the alarm alone) and nothing
        # else answered 5xx: from here on no datapoint of this test can still arrive.
        watched_metric = alarms.describe(alarm)  # 5XXError of the stack's API name and stage

        def all_counted() -> float | None:
            points = alarms.datapoints(watched_metric, "Sum", since=owned_from)
            counted = sum(p["Sum"] for p in points)  # none breached before owned_from
            return counted if counted >= len(statuses) else None

        counted = eventually(
            all_counted,
            timeout=2 * period + 15,
            interval=0.5,
            describe=f"waiting for {len(statuses)} 5XXError datapoints since {owned_from:.1f}",
        )
        assert counted == len(statuses), f"{counted} 5xx answers counted, {len(statuses)} sent"

        # No 5xx since: OK once the evaluated period holds none (missing data: not breaching);
        # it may be OK already (a slow count), so any OK entered since it fired will do.
        alarms.wait_for_state(alarm, "OK", timeout=4 * period + 10, since=fired_at)
        subscriber.wait_for(alarm, "OK", timeout=10, since=fired_at)
