"""boto3 clients for a target: the sandbox (its endpoint, dummy credentials) or real AWS."""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

import boto3

from sandbox.config import SandboxConfig

# One session per process: a session parses each service's JSON model once, and a fresh session
# per client parsed it again for every client (a quarter of the test workers' CPU time). Clients
# are thread-safe; creating them from one session is not, hence the lock.
_CREATING = threading.Lock()


@functools.cache
def _sandbox_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )


def sandbox_client(target: SandboxConfig, service: str, **kwargs: Any) -> Any:
    """A boto3 client for `service` on the sandbox `target` (kwargs go to boto3, e.g. config)."""
    with _CREATING:
        return _sandbox_session().client(service, endpoint_url=target.endpoint, **kwargs)


def admit_topic(sqs: Any, queue_url: str, topic_arn: str) -> str:
    """Give a queue the policy AWS needs before SNS delivers `topic_arn`'s messages to it.

    Without it AWS (and the sandbox) drops every delivery to the queue. Returns the queue ARN.
    """
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return arn
