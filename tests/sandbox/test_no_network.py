"""The sandbox talks to nothing beyond loopback, even under a full workload.

A separate sandbox instance runs under `NetTrap` (recording proxy + audit hook, see
sandbox.netguard), Lambda function processes included. The workload covers every service the
notification system uses; to cover a new one, add a function to WORKLOADS.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from harness.aws import admit_topic
from harness.lambdas import create_function
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
    topic = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=admit_topic(sqs, url, topic),
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


PASSWORD = "Passw0rd!x"


def cognito_workload(aws: Client, name: str) -> dict[str, str]:
    """A pool, a client, a user with a permanent password, and USER_PASSWORD_AUTH: its tokens."""
    idp = aws("cognito-idp")
    pool = idp.create_user_pool(PoolName=name)["UserPool"]
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName=name, ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]
    idp.admin_create_user(UserPoolId=pool["Id"], Username="someone")
    idp.admin_set_user_password(
        UserPoolId=pool["Id"], Username="someone", Password=PASSWORD, Permanent=True
    )
    tokens = idp.initiate_auth(
        ClientId=client["ClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "someone", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    assert tokens["IdToken"]
    return {"pool_arn": pool["Arn"], "id_token": tokens["IdToken"]}


# What the workload functions call (the sandbox enforces IAM for function roles).
FUNCTION_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["dynamodb:*", "sqs:*"], "Resource": "*"}],
    }
)


def make_function(aws: Client, name: str, code: str, **overrides: Any) -> str:
    """An Active python3.13 function with `code` as app.py; its ARN."""
    iam = aws("iam")
    role = iam.create_role(RoleName=f"{name}-fn", AssumeRolePolicyDocument=ROLE_POLICY)
    iam.put_role_policy(
        RoleName=f"{name}-fn", PolicyName="workload", PolicyDocument=FUNCTION_POLICY
    )
    return create_function(aws("lambda"), name, code, Role=role["Role"]["Arn"], **overrides)


def invoke(aws: Client, name: str, event: object) -> Any:
    answer = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = json.load(answer["Payload"])
    assert "FunctionError" not in answer, body
    return body


def lambda_workload(aws: Client, name: str) -> None:
    make_function(aws, name, "def handler(event, context):\n    return {'echo': event}\n")
    assert invoke(aws, name, {"x": 1}) == {"echo": {"x": 1}}


# Uses the runtime's boto3 through AWS_ENDPOINT_URL: a direct invoke sends the event's text to
# SQS and stores it in DynamoDB; an SQS batch (from the event source mapping) is stored too.
WORKER = """
    import os
    import boto3

    def handler(event, context):
        ddb = boto3.client("dynamodb")
        def store(pk):
            ddb.put_item(TableName=os.environ["TABLE"], Item={"pk": {"S": pk}})
        if "Records" in event:
            for record in event["Records"]:
                store("from-sqs:" + record["body"])
            return {"stored": len(event["Records"])}
        sqs = boto3.client("sqs")
        sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=event["text"])
        store("direct:" + event["text"])
        return {"endpoint": os.environ.get("AWS_ENDPOINT_URL")}
"""


def lambda_boto3_and_sqs_mapping_workload(aws: Client, name: str) -> None:
    sqs, ddb, lam = aws("sqs"), aws("dynamodb"), aws("lambda")
    dynamodb_workload(aws, name)  # the table `name`
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    variables = {"TABLE": name, "QUEUE_URL": url}
    make_function(aws, name, WORKER, Timeout=10, Environment={"Variables": variables})
    answer = invoke(aws, name, {"text": "hi"})
    assert answer["endpoint"].startswith("http://127.0.0.1:"), answer
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "direct:hi"}}).get("Item")
    # The function's message waits in the queue; the mapping delivers it back to the function.
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=name, BatchSize=10
    )
    try:
        eventually(
            lambda: ddb.get_item(TableName=name, Key={"pk": {"S": "from-sqs:hi"}}).get("Item"),
            timeout=30,
        )
    finally:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])


def apigateway_cognito_workload(aws: Client, name: str) -> None:
    """REST API, Cognito authorizer, Lambda proxy integration, called with a valid ID token."""
    apigw, lam = aws("apigateway"), aws("lambda")
    cognito = cognito_workload(aws, f"{name}-pool")
    code = """
        import json
        def handler(event, context):
            claims = event["requestContext"]["authorizer"]["claims"]
            return {"statusCode": 200, "body": json.dumps({"user": claims["cognito:username"]})}
    """
    function_arn = make_function(aws, name, code)
    api_id = apigw.create_rest_api(name=name)["id"]
    root_id = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    authorizer_id = apigw.create_authorizer(
        restApiId=api_id,
        name="cognito",
        type="COGNITO_USER_POOLS",
        providerARNs=[cognito["pool_arn"]],
        identitySource="method.request.header.Authorization",
    )["id"]
    resource_id = apigw.create_resource(restApiId=api_id, parentId=root_id, pathPart="me")["id"]
    apigw.put_method(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="GET",
        authorizationType="COGNITO_USER_POOLS",
        authorizerId=authorizer_id,
    )
    apigw.put_integration(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations",
    )
    lam.add_permission(
        FunctionName=name,
        StatementId="apigateway",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
    )
    apigw.create_deployment(restApiId=api_id, stageName="test")
    url = f"{apigw.meta.endpoint_url}/_aws/execute-api/{api_id}/test/me"
    request = urllib.request.Request(url, headers={"Authorization": cognito["id_token"]})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert (response.status, json.load(response)) == (200, {"user": "someone"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401


WORKLOADS: list[Workload] = [
    sqs_workload,
    sns_to_sqs_workload,
    cloudwatch_workload,
    logs_workload,
    iam_sts_workload,
    dynamodb_workload,
    cognito_workload,
    lambda_workload,
    lambda_boto3_and_sqs_mapping_workload,
    apigateway_cognito_workload,
]

# Positive control from inside a function: a name lookup and an HTTPS request (through the proxy
# the function was given) to an outside host. Both must reach the trap's record.
LEAKY = """
    import os, socket, urllib.request

    def handler(event, context):
        try:
            socket.getaddrinfo("fn.outside.example", 443)
        except OSError:
            pass
        try:
            urllib.request.urlopen("https://fn.outside.example/", timeout=5)
        except OSError:
            pass
        return os.getpid()
"""


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
            trapped = trap.records()
            assert trapped == [], "outbound attempts:\n" + "\n".join(map(str, trapped))

            # Positive control inside a Lambda function: its lookup (audit hook) and its HTTPS
            # request (proxy) must be recorded, or function processes are outside the trap.
            make_function(aws, "nn-leaky", LEAKY, Timeout=30)
            function_pid = invoke(aws, "nn-leaky", {})
            assert function_pid != pid
            lookup = ("socket.getaddrinfo", "'fn.outside.example'")
            eventually(
                lambda: any(
                    (r["event"], r["detail"]) == lookup and r["pid"] == function_pid
                    for r in trap.records()
                )
                and any(
                    r["event"] == "proxy" and "fn.outside.example:443" in r["detail"]
                    for r in trap.records()
                ),
                timeout=15,
                describe=lambda: str(trap.records()),
            )

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
