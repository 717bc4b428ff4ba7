"""boto3 clients for a target: the sandbox (its endpoint, dummy credentials) or real AWS."""

from __future__ import annotations

import json
from typing import Any

import boto3

from sandbox.config import SandboxConfig


def sandbox_client(target: SandboxConfig, service: str, **kwargs: Any) -> Any:
    """A boto3 client for `service` on the sandbox `target` (kwargs go to boto3, e.g. config)."""
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return session.client(service, endpoint_url=target.endpoint, **kwargs)


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
