"""The settings LocalStack runs with (sandbox/config.py), checked where they show: in a sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable

import psutil
import pytest

from harness.aws import sandbox_client
from harness.lambdas import create_function
from harness.waiting import eventually
from sandbox import launcher
from sandbox.config import SandboxConfig

NO_OP = "def handler(event, context):\n    return None\n"


def connections_to_itself(config: SandboxConfig) -> list:
    """TCP connections the sandbox's own process holds open to its own port."""
    running = launcher.running(config)
    assert running is not None, "the sandbox is not running"
    return [
        c
        for c in psutil.Process(running.pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == config.port
    ]


@pytest.mark.sandbox
def test_internal_calls_go_to_the_gateway_without_an_http_round_trip(
    sandbox: SandboxConfig, unique: Callable[[str], str]
) -> None:
    """An event source mapping long-polls its queue and invokes its function from inside the
    sandbox; with IN_MEMORY_CLIENT those calls hold no HTTP connection to the sandbox's own port
    (with HTTP they each keep one open, and wait behind every other request under load)."""
    sqs, lam = sandbox_client(sandbox, "sqs"), sandbox_client(sandbox, "lambda")
    queue_url = sqs.create_queue(QueueName=unique("inmem"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    name = unique("inmem")
    create_function(lam, name, NO_OP)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=name, BatchSize=1
    )["UUID"]
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"n": 1}))

        def consumed() -> bool:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            return all(value == "0" for value in attributes.values())

        assert eventually(consumed, timeout=60), "the mapping did not consume the message"
        assert connections_to_itself(sandbox) == []
    finally:
        lam.delete_event_source_mapping(UUID=mapping)
        lam.delete_function(FunctionName=name)
        sqs.delete_queue(QueueUrl=queue_url)
