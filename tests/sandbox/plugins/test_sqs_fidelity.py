"""SQS attribute removal as on AWS (sandbox/plugins/sqs_fidelity.py)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.sandbox


def test_an_emptied_redrive_allow_policy_is_removed(aws, unique) -> None:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    try:
        policy = json.dumps({"redrivePermission": "denyAll"})
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": policy})
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert json.loads(attributes["RedriveAllowPolicy"]) == {"redrivePermission": "denyAll"}

        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": ""})
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert "RedriveAllowPolicy" not in attributes
    finally:
        sqs.delete_queue(QueueUrl=url)
