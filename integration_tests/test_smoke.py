"""Smoke test of the deployed stack: one notification per priority, through every hop.

POST through API Gateway with a real Cognito ID token → SNS → that priority's queue →
processor → DynamoDB item + `notification.delivered` line in CloudWatch Logs.
"""

from __future__ import annotations

import pytest

from harness.trace import Trace
from notifications.priorities import PRIORITIES

pytestmark = pytest.mark.sandbox


def test_one_notification_per_priority_is_stored_and_delivered(api, users, tracer, stack) -> None:
    user = users.create(name="smoke", sender=True)  # a sender addressing itself
    traces = {}
    for priority in PRIORITIES:
        message = f"smoke {priority} ✓ 🚀"
        response = api.send(
            user.id_token, {"user_id": user.sub, "message": message, "priority": priority}
        )
        assert response.status == 202, str(response)
        assert response.body["status"] == "accepted"
        traces[priority] = Trace(response.body["id"], sent_at=response.sent_at)

    for priority, trace in traces.items():
        tracer.wait_for_delivery(trace, timeout=45)
        assert trace.item["priority"] == priority, trace.describe()
        assert trace.item["user_id"] == user.sub
        assert trace.item["sender"] == user.sub
        assert trace.item["message"] == f"smoke {priority} ✓ 🚀"
        assert trace.queue == stack["queues"][priority]["queue_name"], trace.describe()
        assert len(trace.delivery_lines) == 1, trace.describe()


@pytest.mark.lanes(*PRIORITIES)  # no mapping is paused (and out of step with Terraform) meanwhile
def test_a_second_deploy_changes_nothing(stack, target, request) -> None:
    if target != "sandbox":
        pytest.skip("--target aws: the stack on AWS is deployed and planned by its own pipeline")
    from harness.deploy import plan_changes

    config = request.getfixturevalue("sandbox")
    assert plan_changes(config) == 0  # terraform plan -detailed-exitcode: no changes
