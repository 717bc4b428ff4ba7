"""Service-to-service deliveries follow resource policies (SNS → SQS, API Gateway → Lambda)."""

from __future__ import annotations

import contextlib
import inspect
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from harness.aws import admit_topic
from harness.lambdas import create_function
from harness.waiting import eventually
from sandbox.config import SandboxConfig
from sandbox.plugins import resource_policies
from sandbox.plugins.iam_enforcement import ALLOW, DENY, IMPLICIT
from sandbox.plugins.resource_policies import condition_context, service_policy_decision

ACCOUNT = "000000000000"
REGION = "us-east-1"


# ------------------------------------------------------------------ no server


def test_localstack_internals_the_checks_rely_on() -> None:
    """Contract: internal clients carry service_principal/source_arn; stores have the shapes."""
    from localstack.services.apigateway.next_gen.execute_api.integrations.aws import (
        RestApiAwsProxyIntegration,
    )
    from localstack.services.cloudwatch import provider_v2
    from localstack.services.sns.publisher import SqsTopicPublisher
    from localstack.services.sqs.models import SqsStore, StandardQueue

    resource_policies.check_internals()
    publisher = inspect.getsource(SqsTopicPublisher._publish)
    assert 'service_principal="sns"' in publisher and "source_arn=" in publisher
    assert "sns_error_to_dead_letter_queue" in publisher  # a denial is a failed delivery
    call_lambda = inspect.getsource(RestApiAwsProxyIntegration.call_lambda)
    assert "service_principal=ServicePrincipal.apigateway" in call_lambda
    invoke = inspect.getsource(RestApiAwsProxyIntegration.invoke)
    assert '"AccessDeniedException"' in invoke and "status_code = 500" in invoke
    alarm = inspect.getsource(provider_v2.CloudwatchProvider.set_alarm_state)
    assert "connect_to(" in alarm and ".sns" in alarm
    assert "queues" in SqsStore.__annotations__
    assert hasattr(StandardQueue("q", REGION, ACCOUNT), "attributes")


def test_service_principal_evaluation() -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:t"
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
    admit = {
        "Statement": [
            {
                "Sid": "topic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ]
    }
    ctx = condition_context(topic, "sns")
    assert ctx["aws:SourceAccount"] == ACCOUNT
    assert service_policy_decision(admit, "sns", "sqs:SendMessage", queue, ctx).effect == ALLOW
    other = condition_context(topic + "-other", "sns")
    assert service_policy_decision(admit, "sns", "sqs:SendMessage", queue, other).effect == IMPLICIT
    # a statement for another principal grants nothing to this one
    events = service_policy_decision(admit, "events", "sqs:SendMessage", queue, ctx)
    assert events.effect == IMPLICIT
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*"}
    both = {"Statement": [*admit["Statement"], deny]}
    assert service_policy_decision(both, "sns", "sqs:SendMessage", queue, ctx).effect == DENY
    route = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc/*/POST/notifications"
    permission = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f",
                "Condition": {"ArnLike": {"AWS:SourceArn": route}},
            }
        ]
    }
    fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
    ok = condition_context(route.replace("*", "prod"), "apigateway")
    bad = condition_context(route.replace("*", "prod").replace("POST", "GET"), "apigateway")
    action = "lambda:InvokeFunction"
    assert service_policy_decision(permission, "apigateway", action, fn, ok).effect == ALLOW
    assert service_policy_decision(permission, "apigateway", action, fn, bad).effect == IMPLICIT


def test_the_enforcer_is_registered_once() -> None:
    from localstack.aws import handlers

    steps = handlers.serve_custom_service_request_handlers.handlers
    before = list(steps)
    try:
        resource_policies.register()
        resource_policies.register()
        assert steps.count(resource_policies.ENFORCER) == 1
    finally:
        steps[:] = before


# ------------------------------------------------------------------ sandbox (boto3 / HTTP)


def queue_admitting(sqs, name: str, topic_arn: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, admit_topic(sqs, url, topic_arn)


@pytest.mark.sandbox
def test_a_queue_admitting_another_topic_gets_nothing(aws: Callable, unique) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
    other = sns.create_topic(Name=unique("other"))["TopicArn"]
    good_url, good_arn = queue_admitting(sqs, unique("good"), topic)
    bad_url, bad_arn = queue_admitting(sqs, unique("bad"), other)
    bare_url = sqs.create_queue(QueueName=unique("bare"))["QueueUrl"]  # no policy at all
    bare_arn = sqs.get_queue_attributes(QueueUrl=bare_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    dlq_url, dlq_arn = queue_admitting(sqs, unique("subdlq"), topic)  # AWS needs it there too
    try:
        for arn in (good_arn, bad_arn, bare_arn):
            attributes = {"RawMessageDelivery": "true"}
            if arn != good_arn:
                attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn})
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        sns.publish(TopicArn=topic, Message="hello")
        got = eventually(lambda: sqs.receive_message(QueueUrl=good_url).get("Messages"), timeout=10)
        assert got[0]["Body"] == "hello"
        # the denied delivery is a failed delivery: the subscription's DLQ gets it
        dead: list = []
        eventually(
            lambda: dead.extend(sqs.receive_message(QueueUrl=dlq_url).get("Messages", []))
            or len(dead) >= 2,
            timeout=10,
        )
        assert [m["Body"] for m in dead] == ["hello", "hello"]
        time.sleep(0.5)
        for url in (bad_url, bare_url):
            assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
    finally:
        for url in (good_url, bad_url, bare_url, dlq_url):
            sqs.delete_queue(QueueUrl=url)
        for arn in (topic, other):
            sns.delete_topic(TopicArn=arn)


HANDLER = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"path": event["path"]})}
"""


@pytest.mark.sandbox
@pytest.mark.parametrize("route, status", [("POST/other", 500), ("POST/notifications", 200)])
def test_api_gateway_needs_the_lambda_permission(
    sandbox: SandboxConfig, aws: Callable, unique, route: str, status: int
) -> None:
    lam, apigw, logs = aws("lambda"), aws("apigateway"), aws("logs")
    name = unique("fn")
    fn_arn = create_function(lam, name, HANDLER, Timeout=10)
    api = apigw.create_rest_api(name=unique("api"))["id"]
    try:
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        resource = apigw.create_resource(restApiId=api, parentId=root, pathPart="notifications")
        apigw.put_method(
            restApiId=api, resourceId=resource["id"], httpMethod="POST", authorizationType="NONE"
        )
        uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{fn_arn}/invocations"
        apigw.put_integration(
            restApiId=api,
            resourceId=resource["id"],
            httpMethod="POST",
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri,
        )
        apigw.create_deployment(restApiId=api, stageName="prod")
        lam.add_permission(
            FunctionName=name,
            StatementId="api",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/*/{route}",
        )
        url = f"{sandbox.endpoint}/restapis/{api}/prod/_user_request_/notifications"
        request = urllib.request.Request(url, data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                code, body = response.status, response.read()
        except urllib.error.HTTPError as e:
            code, body = e.code, e.read()
        assert code == status, body
        if status == 500:
            assert json.loads(body) == {"message": "Internal server error"}
            # the function was not invoked: it has no log stream
            group = f"/aws/lambda/{name}"
            with pytest.raises(logs.exceptions.ResourceNotFoundException):
                streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
                if not streams:
                    raise logs.exceptions.ResourceNotFoundException(
                        {"Error": {"Code": "ResourceNotFoundException", "Message": ""}}, "x"
                    )
        else:
            assert json.loads(body) == {"path": "/notifications"}
    finally:
        apigw.delete_rest_api(restApiId=api)
        lam.delete_function(FunctionName=name)


@pytest.mark.sandbox
def test_the_policy_log_has_the_service_checks(sandbox: SandboxConfig, aws, unique) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
    url, arn = queue_admitting(sqs, unique("q"), topic)
    try:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        sns.publish(TopicArn=topic, Message="x")
        eventually(lambda: sqs.receive_message(QueueUrl=url).get("Messages"), timeout=10)
        lines = [json.loads(line) for line in sandbox.home.joinpath("iam-policy.log").open()]
        mine = [e for e in lines if e["resource"] == arn]
        assert mine[-1]["principal"] == "sns.amazonaws.com"
        assert mine[-1]["action"] == "sqs:SendMessage"
        assert mine[-1]["decision"] == "allow"
        assert mine[-1]["source_arn"] == topic
    finally:
        sqs.delete_queue(QueueUrl=url)
        sns.delete_topic(TopicArn=topic)


# ------------------------------------------------------------------ keys the services use


def key_admitting(kms, *services: str) -> tuple[str, str]:
    """(key id, ARN): the account root delegates to IAM; each service may use the key."""
    statements = [
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ] + [
        {
            "Sid": service.split(".")[0],
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        }
        for service in services
    ]
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    metadata = kms.create_key(Policy=policy)["KeyMetadata"]
    return metadata["KeyId"], metadata["Arn"]


@pytest.mark.sandbox
def test_a_log_group_needs_a_key_that_logs_may_use(aws: Callable, unique) -> None:
    kms, logs = aws("kms"), aws("logs")
    _, closed = key_admitting(kms)
    _, open_key = key_admitting(kms, f"logs.{REGION}.amazonaws.com")
    name = unique("/test/group")
    try:
        with pytest.raises(logs.exceptions.ClientError) as refused:
            logs.create_log_group(logGroupName=name, kmsKeyId=closed)
        error = refused.value.response["Error"]
        assert (error["Code"], error["Message"]) == (
            "AccessDeniedException",
            "The specified KMS key does not exist or is not allowed to be used with Arn "
            f"'arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}'",
        )
        logs.create_log_group(logGroupName=name, kmsKeyId=open_key)
        with pytest.raises(logs.exceptions.ClientError):
            logs.associate_kms_key(logGroupName=name, kmsKeyId=closed)
    finally:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            logs.delete_log_group(logGroupName=name)


@pytest.mark.sandbox
def test_sns_delivers_to_an_encrypted_queue_only_if_its_key_admits_sns(
    aws: Callable, unique
) -> None:
    sns, sqs, kms = aws("sns"), aws("sqs"), aws("kms")
    topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
    urls = []
    try:
        for services in ((), ("sns.amazonaws.com",)):
            key_id, _ = key_admitting(kms, *services)
            url = sqs.create_queue(QueueName=unique("sse"), Attributes={"KmsMasterKeyId": key_id})[
                "QueueUrl"
            ]
            urls.append(url)
            sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=admit_topic(sqs, url, topic),
                Attributes={"RawMessageDelivery": "true"},
            )
        sns.publish(TopicArn=topic, Message="secret")
        closed, admitted = urls
        got = eventually(lambda: sqs.receive_message(QueueUrl=admitted).get("Messages"), timeout=10)
        assert got[0]["Body"] == "secret"
        assert not sqs.receive_message(QueueUrl=closed, WaitTimeSeconds=1).get("Messages")
    finally:
        for url in urls:
            sqs.delete_queue(QueueUrl=url)
        sns.delete_topic(TopicArn=topic)
