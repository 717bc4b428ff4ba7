"""Fixtures of the integration suites: per-priority locks, alarms, alert subscribers, logs.

Per-priority lanes (cross-process reader/writer locks, `harness.exclusive`)
---------------------------------------------------------------------------
Every priority's queue, event source mapping, DLQ and alarms are shared by all tests running in
parallel. Two locks per priority P guard them:

- `lane-P`: the pipeline of P is flowing. Held *shared* by every test that sends notifications
  of priority P and waits for them; held *exclusively* while a test pauses P's mapping
  (test_backlog.py).
- `dlq-P`: P's DLQ and its alarm. Held *exclusively* by a test that dead-letters into it and
  waits for the alarm to go back to OK (test_dlq_and_alarms.py).

How a test gets the shared lane:
- automatically, when it is parametrized with an argument named `priority` (e.g. the scenario
  tests): `lane-<priority>` is held shared for the whole test;
- `@pytest.mark.lanes("high", "low")` names the priorities explicitly, `@pytest.mark.lanes()`
  means none (a test that stores nothing);
- otherwise a test that uses the `api` or `tracer` fixture holds every priority's lane shared
  (it may send any priority, like the smoke test);
- or by hand, inside a test: `with priority_lane("high"): ...`.
Tests marked `@pytest.mark.disruptive` get nothing automatically and take their locks with the
`locks` fixture (`locks.hold(exclusive=[...], shared=[...])`). Locks are acquired in name order.
Waiting for a lock happens before a test's own deadlines start.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from harness.alarms import Alarms, AlertSubscriber
from harness.exclusive import Held, Locks
from harness.pipeline import ProcessorLogs
from notifications.priorities import PRIORITIES


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lanes(*priorities): the priorities whose lane a test holds shared"
    )
    config.addinivalue_line(
        "markers", "disruptive: takes its per-priority locks itself (integration_tests/conftest)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Figures a test recorded with `record_property("generated_requests", ...)`, shown even
    under xdist (workers' output is not): the generated-request suite's counts."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", ()):
                if name == "generated_requests" and report.when == "call":
                    terminalreporter.write_line(str(value))


def lane(priority: str) -> str:
    return f"lane-{priority}"


def dlq_lock(priority: str) -> str:
    return f"dlq-{priority}"


@pytest.fixture(scope="session")
def locks(request: pytest.FixtureRequest, target: str, stack: dict[str, Any]) -> Locks:
    """The per-priority locks of the stack under test (shared by every worker and run)."""
    if target == "sandbox":
        directory = request.getfixturevalue("sandbox_config").home / "locks"
    else:
        key = hashlib.sha256(stack["notifications_topic_arn"].encode()).hexdigest()[:12]
        directory = Path(tempfile.gettempdir()) / f"notifications-locks-{key}"
    return Locks(directory)


@pytest.fixture
def priority_lane(locks: Locks) -> Callable[..., AbstractContextManager[Held]]:
    """`with priority_lane("high", ...):` holds those priorities' lanes shared."""
    return lambda *priorities: locks.hold(shared=[lane(p) for p in priorities])


def _lanes_for(item: pytest.Item) -> tuple[str, ...]:
    if item.get_closest_marker("disruptive"):
        return ()
    marker = item.get_closest_marker("lanes")
    if marker is not None:
        return tuple(marker.args)
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("priority") in PRIORITIES:
        return (callspec.params["priority"],)
    if {"api", "tracer"} & set(getattr(item, "fixturenames", ())):
        return PRIORITIES
    return ()


@pytest.fixture(autouse=True)
def _priority_lanes(request: pytest.FixtureRequest) -> Iterator[None]:
    """Holds the shared lanes `_lanes_for` picks for this test (see the module docstring)."""
    priorities = _lanes_for(request.node)
    if not priorities:
        yield
        return
    with request.getfixturevalue("locks").hold(shared=[lane(p) for p in priorities]):
        yield


@pytest.fixture(scope="session")
def alarms(client: Callable[..., Any]) -> Alarms:
    return Alarms(client("cloudwatch"))


@pytest.fixture
def alert_subscriber(
    client: Callable[..., Any], stack: dict[str, Any], unique: Callable[[str], str]
) -> Iterator[Callable[[], AlertSubscriber]]:
    """`alert_subscriber()` → a new queue subscribed to the alerts topic, removed afterwards."""
    created: list[AlertSubscriber] = []

    def make() -> AlertSubscriber:
        subscriber = AlertSubscriber.create(
            client("sqs"), client("sns"), stack["alerts_topic_arn"], unique("alerts-test")
        )
        created.append(subscriber)
        return subscriber

    yield make
    for subscriber in created:
        subscriber.close()


@pytest.fixture(scope="session")
def processor_logs(client: Callable[..., Any], stack: dict[str, Any]) -> ProcessorLogs:
    return ProcessorLogs(client("logs"), stack["log_group_names"]["processor"])


@pytest.fixture(scope="session")
def sqs(client: Callable[..., Any]) -> Any:
    return client("sqs")


@pytest.fixture(scope="session")
def query_table(client: Callable[..., Any], stack: dict[str, Any]) -> Callable[[str], list[dict]]:
    """`query_table(user_id)` → that user's items (by_user index), consistent or not."""
    dynamodb = client("dynamodb")

    def query(user_id: str) -> list[dict]:
        return dynamodb.query(
            TableName=stack["table_name"],
            IndexName="by_user",
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues={":u": {"S": user_id}},
        ).get("Items", [])

    return query
