"""The deployed stack survives `down`/`up` (issue 10's acceptance): same API, pool and queues,
old token accepted, old notification readable, new ones flow, and Terraform sees no change.

It deploys to a sandbox of its own (free port, temporary home), so that stopping it does not
disturb the session's sandbox; the figures (down, up, the deploy after) are printed. The sandbox
runs as the session's does: a host process, or with --sandbox container a container (whose
`down` saves into the mounted home as `make down` does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.api import Api
from harness.aws import sandbox_client
from harness.container import backend
from harness.deploy import deploy, plan_changes
from harness.sandboxes import own_config
from harness.trace import Trace, Tracer
from harness.users import UserFactory
from sandbox.config import SandboxConfig

pytestmark = [pytest.mark.sandbox, pytest.mark.lanes()]


@pytest.fixture
def own(tmp_path: Path) -> Iterator[SandboxConfig]:
    config = own_config(tmp_path)
    yield config
    backend().down(config, save_state=False)


def timed(step: Callable[[], object]) -> float:
    started = time.monotonic()
    step()
    return time.monotonic() - started


@pytest.mark.long
def test_the_deployed_stack_answers_after_down_and_up(own: SandboxConfig) -> None:
    outputs = deploy(own).outputs
    aws = {s: sandbox_client(own, s) for s in ("cognito-idp", "dynamodb", "logs", "sqs")}
    users = UserFactory(
        cognito=aws["cognito-idp"],
        user_pool_id=outputs["user_pool_id"],
        client_id=outputs["user_pool_client_id"],
        admin_group=outputs["admin_group_name"],
        sender_group=outputs["sender_group_name"],
    )
    tracer = Tracer(
        dynamodb=aws["dynamodb"],
        logs=aws["logs"],
        table_name=outputs["table_name"],
        processor_log_group=outputs["log_group_names"]["processor"],
    )
    api = Api(outputs["api_endpoint"])
    user = users.create(name="kept", sender=True)
    note = {"user_id": user.sub, "message": "before", "priority": "high"}
    sent = api.send(user.id_token, note)
    assert sent.status == 202, str(sent)
    tracer.wait_for_delivery(Trace(sent.body["id"], sent_at=sent.sent_at), timeout=120)

    down_seconds = timed(lambda: backend().down(own))  # saves, as `make down` does
    up_seconds = timed(lambda: backend().up(own))

    # The same API id answers; the token issued before the restart is accepted; the old
    # notification is readable.
    old = api.get(f"/notifications/{sent.body['id']}", user.id_token)
    assert old.status == 200, str(old)
    assert old.body["message"] == "before"
    # The same user pool and queues answer.
    pool = aws["cognito-idp"].describe_user_pool(UserPoolId=outputs["user_pool_id"])
    assert pool["UserPool"]["Id"] == outputs["user_pool_id"]
    for queue in outputs["queues"].values():
        for url in (queue["queue_url"], queue["dlq_url"]):
            assert aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    # A new notification flows end to end (pollers, functions and their code restored).
    fresh = api.send(user.id_token, {**note, "message": "after", "priority": "low"})
    assert fresh.status == 202, str(fresh)
    trace = tracer.wait_for_delivery(Trace(fresh.body["id"], sent_at=fresh.sent_at), timeout=120)
    assert trace.item["message"] == "after"

    started = time.monotonic()
    again = deploy(own)
    deploy_seconds = time.monotonic() - started
    assert again.skipped  # same sources, same sandbox state: nothing to apply
    assert again.outputs["api_id"] == outputs["api_id"]
    assert plan_changes(own) == 0  # and Terraform agrees: no changes
    print(
        f"\nsnapshots: down {down_seconds:.2f} s, up {up_seconds:.2f} s, "
        f"deploy after {deploy_seconds:.2f} s"
    )
