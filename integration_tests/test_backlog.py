"""A paused priority builds a backlog: the age alarm fires, and on resume everything drains.

Processing of priority P is paused by disabling P's event source mapping (Lambda API). The test
holds `lane-P` exclusively for the whole round trip, from a moment when nothing sent before can
move P's age alarm (P's queue empty, the alarm out of ALARM, no breaching datapoint in the
window its next evaluations read) until the alarm is back to OK: both transitions are judged
against this test's traffic only (its canaries and its backlog). Other tests of P wait for it.
Poison bodies are dead-lettered at once by the processor, so no other test keeps a message
waiting in P's queue for long.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from harness.alarms import Alarms
from harness.api import Api
from harness.exclusive import Locks
from harness.pipeline import queue_counts, topic_message
from harness.trace import Trace, Tracer
from harness.users import UserFactory
from harness.waiting import eventually
from notifications.priorities import PRIORITIES

pytestmark = [pytest.mark.sandbox, pytest.mark.disruptive]

BACKLOG = 4


def wait_until_quiet(
    sqs: Any, queue_url: str, tracer: Tracer, priority: str, user_id: str, quiet: float
) -> Trace:
    """Prove the paused mapping consumes nothing more; return the canary that proves it.

    A mapping that says Disabled may still finish the poll it had under way (the sandbox's
    poller does). A canary sent straight to the queue must stay there, visible and not stored,
    for `quiet` seconds; if that poll takes it, another canary is sent.
    """
    for _ in range(5):
        canary = topic_message(priority, user_id, "canary")
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(canary))
        sent = time.monotonic()

        def settled(canary_id: str = canary["id"], sent: float = sent) -> str | None:
            if tracer.item(canary_id) is not None:
                return "consumed"
            if queue_counts(sqs, queue_url)["in_flight"] != "0":
                return None
            return "quiet" if time.monotonic() - sent >= quiet else None

        if eventually(settled, timeout=quiet + 15, interval=0.2) == "quiet":
            return Trace(canary["id"], sent_at=time.time())
    raise AssertionError(f"the disabled mapping kept consuming {queue_url}")


def mapping_state(lambda_client: Any, uuid: str) -> str:
    return lambda_client.get_event_source_mapping(UUID=uuid)["State"]


def set_mapping(lambda_client: Any, uuid: str, enabled: bool, timeout: float = 20.0) -> None:
    """Enable or disable the mapping and wait until it says so."""
    wanted = "Enabled" if enabled else "Disabled"
    lambda_client.update_event_source_mapping(UUID=uuid, Enabled=enabled)
    eventually(
        lambda: mapping_state(lambda_client, uuid) == wanted,
        timeout=timeout,
        interval=0.2,
        describe=lambda: f"mapping {uuid} is {mapping_state(lambda_client, uuid)}, not {wanted}",
    )


@contextmanager
def owned_lane(
    locks: Locks, priority: str, alarms: Alarms, alarm: str, sqs: Any, queue_url: str
) -> Iterator[float]:
    """Hold `lane-P` exclusively; yield the moment from which P's age alarm judges only the
    holder's traffic: P's queue is empty (what others sent is processed) and the alarm is
    clear (`Alarms.wait_until_clear`)."""
    period = alarms.describe(alarm)["Period"]
    with locks.hold(exclusive=[f"lane-{priority}"]):
        eventually(
            lambda: queue_counts(sqs, queue_url) == {"visible": "0", "in_flight": "0"},
            timeout=60,
            interval=0.5,
            describe=lambda: f"{queue_url} never emptied: {queue_counts(sqs, queue_url)}",
        )
        yield alarms.wait_until_clear(alarm, timeout=4 * period + 30)


@pytest.mark.parametrize("priority", PRIORITIES)
def test_paused_priority_backs_up_alarms_then_drains_exactly_once(
    priority: str,
    stack: dict[str, Any],
    client: Any,
    sqs: Any,
    api: Api,
    users: UserFactory,
    tracer: Tracer,
    alarms: Alarms,
    locks: Locks,
) -> None:
    lambda_client = client("lambda")
    uuid = stack["event_source_mapping_uuids"][priority]
    queue_url = stack["queues"][priority]["queue_url"]
    alarm = stack["alarm_names"]["priorities"][priority]["age_of_oldest"]
    period = alarms.describe(alarm)["Period"]
    slo = alarms.describe(alarm)["Threshold"]
    user = users.create(name=f"backlog-{priority}", sender=True)
    traces: list[Trace] = []

    with owned_lane(locks, priority, alarms, alarm, sqs, queue_url) as owned_from:
        try:
            set_mapping(lambda_client, uuid, enabled=False)
            window = lambda_client.get_event_source_mapping(UUID=uuid).get(
                "MaximumBatchingWindowInSeconds", 0
            )
            canary = wait_until_quiet(
                sqs, queue_url, tracer, priority, user.sub, quiet=window + 1.5
            )
            traces.append(canary)
            paused_at = time.time()
            for n in range(BACKLOG):
                response = api.send(
                    user.id_token,
                    {"user_id": user.sub, "message": f"backlog {n}", "priority": priority},
                )
                assert response.status == 202, str(response)
                traces.append(Trace(response.body["id"], sent_at=response.sent_at))

            # The age alarm fires: once the oldest message (the first canary, maybe) is older
            # than the SLO, the next evaluation (every `period` s) sees it. Only this test's
            # messages were in the queue since `owned_from`.
            alarms.wait_for_state(alarm, "ALARM", timeout=slo + 2 * period + 5, since=owned_from)
            stored = [t.notification_id for t in traces if tracer.item(t.notification_id)]
            assert not stored, (
                f"processing of {priority} was paused, yet {stored} were stored; "
                f"queue {queue_counts(sqs, queue_url)} (paused at {paused_at:.1f})"
            )
        finally:
            set_mapping(lambda_client, uuid, enabled=True)
        resumed_at = time.time()

        for trace in traces:
            tracer.wait_for_delivery(trace, timeout=30)
            assert len(trace.delivery_lines) == 1, trace.describe()
            assert trace.item["priority"] == priority, trace.describe()

        # Back to OK once the evaluated period holds no breaching datapoint; still holding the
        # lane, so no one else's backlog can keep it in ALARM.
        alarms.wait_for_state(alarm, "OK", timeout=4 * period + 10, since=resumed_at)
