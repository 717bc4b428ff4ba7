"""The sandbox talks to nothing beyond loopback, even under a full workload.

A separate sandbox instance runs under `NetTrap` (recording proxy + audit hook, see
sandbox.netguard). To cover a new service, add a function to WORKLOADS (or OPTIONAL_WORKLOADS
when it depends on a plugin that may be missing).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import uuid
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from harness.waiting import eventually
from sandbox import launcher
from sandbox.config import SandboxConfig
from sandbox.netguard import NetTrap
from sandbox.processes import read_environ

Client = Callable[[str], Any]
Workload = Callable[[Client, str], None]
ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "*"}
        ],
    }
)


def sqs_workload(aws: Client, name: str) -> None:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    messages = eventually(lambda: sqs.receive_message(QueueUrl=url).get("Messages"), timeout=5)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])


def sns_to_sqs_workload(aws: Client, name: str) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    url = sqs.create_queue(QueueName=f"{name}-sub")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    topic = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn["QueueArn"],
        Attributes={"FilterPolicy": json.dumps({"kind": ["alert"]}), "RawMessageDelivery": "true"},
    )
    for kind in ("noise", "alert"):
        sns.publish(
            TopicArn=topic,
            Message=kind,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )
    got = eventually(lambda: sqs.receive_message(QueueUrl=url).get("Messages"), timeout=10)
    assert [m["Body"] for m in got] == ["alert"]


def cloudwatch_workload(aws: Client, name: str) -> None:
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_data(Namespace=name, MetricData=[{"MetricName": "m", "Value": 1.0}])
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=name,
        MetricName="m",
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    # The SQS metric reporter (every 2 s) publishes through CloudWatch too: wait for one round.
    eventually(lambda: cloudwatch.list_metrics(Namespace="AWS/SQS")["Metrics"], timeout=10)
    cloudwatch.describe_alarms(AlarmNames=[name])


def logs_workload(aws: Client, name: str) -> None:
    logs = aws("logs")
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    logs.put_log_events(
        logGroupName=name, logStreamName="s", logEvents=[{"timestamp": 1, "message": "m"}]
    )
    logs.filter_log_events(logGroupName=name)


def iam_sts_workload(aws: Client, name: str) -> None:
    iam, sts = aws("iam"), aws("sts")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=ROLE_POLICY)["Role"]
    policy = {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [policy]})
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=document)
    sts.get_caller_identity()
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName=name)


def dynamodb_workload(aws: Client, name: str) -> None:
    ddb = aws("dynamodb")
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"]


def cognito_workload(aws: Client, name: str) -> None:
    idp = aws("cognito-idp")
    pool = idp.create_user_pool(PoolName=name)["UserPool"]["Id"]
    idp.create_user_pool_client(UserPoolId=pool, ClientName=name)
    idp.admin_create_user(UserPoolId=pool, Username="someone")


def lambda_workload(aws: Client, name: str) -> None:
    iam, lam = aws("iam"), aws("lambda")
    role = iam.create_role(RoleName=f"{name}-fn", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'echo': event}\n")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role["Arn"],
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )
    eventually(
        lambda: lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active",
        timeout=30,
    )
    answer = lam.invoke(FunctionName=name, Payload=b'{"x": 1}')
    assert json.load(answer["Payload"]) == {"echo": {"x": 1}}, answer


WORKLOADS: list[Workload] = [
    sqs_workload,
    sns_to_sqs_workload,
    cloudwatch_workload,
    logs_workload,
    iam_sts_workload,
]
# Served by colleagues' plugins (moto providers, host-process Lambda): run always — a missing
# provider answers 501, the very thing that makes LocalStack reach outside — but a failure of
# the service itself only warns here; its own tests own it.
OPTIONAL_WORKLOADS: list[Workload] = [dynamodb_workload, cognito_workload, lambda_workload]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client_factory(config: SandboxConfig) -> Client:
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return lambda service: session.client(service, endpoint_url=config.endpoint)


def test_trap_records_outside_attempts(tmp_path: Path) -> None:
    """Positive control: a process in the trapped environment that reaches outside is caught."""
    probe = (
        "import socket, urllib.request\n"
        "try: urllib.request.urlopen('https://outside.example/', timeout=5)\n"
        "except OSError: pass\n"
        "try: socket.getaddrinfo('outside.example', 80)\n"
        "except OSError: pass\n"
        "s = socket.socket(); s.settimeout(0.5)\n"
        "try: s.connect(('192.0.2.1', 80))\n"
        "except OSError: pass\n"
        "socket.getaddrinfo('localhost', 80); socket.getaddrinfo('127.0.0.1', 80)\n"
    )
    with NetTrap(tmp_path) as trap:
        env = {**os.environ, **trap.env()}
        subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=30)
        records = trap.records()
    assert {(r["event"], r["detail"]) for r in records} == {
        ("proxy", "CONNECT outside.example:443 HTTP/1.1"),
        ("socket.getaddrinfo", "'outside.example'"),
        ("socket.connect", "('192.0.2.1', 80)"),
    }


@pytest.mark.sandbox
def test_sandbox_makes_no_outbound_attempts(tmp_path: Path) -> None:
    config = SandboxConfig(port=_free_port(), home=tmp_path / "sandbox")
    with NetTrap(tmp_path / "trap") as trap:
        launcher.up(config, extra_env=trap.env())
        try:
            assert launcher.running(config) is not None
            pid = launcher.running(config).pid
            assert trap.env().items() <= read_environ(pid).items()
            aws = _client_factory(config)
            for workload in WORKLOADS:
                workload(aws, f"nn-{uuid.uuid4().hex[:8]}")
            failed_optional = []
            for workload in OPTIONAL_WORKLOADS:
                try:
                    workload(aws, f"nn-{uuid.uuid4().hex[:8]}")
                except Exception as e:
                    failed_optional.append(f"{workload.__name__}: {type(e).__name__}: {e}")
            trapped = trap.records()
            assert trapped == [], "outbound attempts:\n" + "\n".join(map(str, trapped))

            # Positive control through LocalStack itself: an SNS HTTP subscription to an outside
            # name must show up at the trap, or the trap does not see LocalStack's traffic.
            sns = aws("sns")
            topic = sns.create_topic(Name="nn-control")["TopicArn"]
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://outside.example/hook")
            eventually(
                lambda: any(r.get("host") == "outside.example" for r in trap.records()),
                timeout=15,
                describe=lambda: str(trap.records()),
            )
        finally:
            launcher.down(config)
    for failure in failed_optional:
        message = f"optional workload failed (network was still checked): {failure}"
        warnings.warn(message, stacklevel=1)
