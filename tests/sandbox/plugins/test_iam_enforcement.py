"""IAM is enforced for calls made with a Lambda function's role session; every call is logged."""

from __future__ import annotations

import contextlib
import inspect
import json
import threading
import types
from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from harness.lambdas import DEFAULT_ROLE, create_function
from harness.waiting import eventually
from sandbox.config import SandboxConfig
from sandbox.plugins import iam_enforcement, patching
from sandbox.plugins.iam_enforcement import (
    ALLOW,
    DENY,
    IMPLICIT,
    condition_matches,
    evaluate,
    key_policy_decision,
    resource_policy_decision,
    resources_of,
)
from sandbox.plugins.patching import PLUGIN_ERROR

ACCOUNT = "000000000000"
REGION = "us-east-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", sid=None, **extra) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    return {"Sid": sid, **statement} if sid else statement


# ------------------------------------------------------------------ no server


def test_localstack_and_moto_internals_the_enforcer_relies_on() -> None:
    """Contract: the symbols named in the module docstring exist and have the expected shape."""
    from localstack.aws import handlers
    from localstack.aws.api import CommonServiceException, RequestContext
    from localstack.aws.api.sns import AuthorizationErrorException, KMSAccessDeniedException
    from localstack.aws.app import LocalstackAwsGateway
    from localstack.services.iam.models import IamStore, ManagedPolicyEntity, RoleEntity
    from localstack.services.kms.models import KmsStore
    from localstack.services.lambda_.invocation.execution_environment import (
        ExecutionEnvironment,
    )
    from localstack.services.sns.models import SnsStore
    from localstack.services.sts.models import STSStore, TemporaryCredentials
    from localstack.services.sts.provider import StsProvider
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header
    from moto.dynamodb.models.table import Table
    from moto.iam.access_control import IAMPolicyStatement
    from rolo.gateway import CompositeHandler

    # the enforcer runs after the request is parsed, before the service is routed to
    chain = LocalstackAwsGateway().request_handlers
    position = chain.index(handlers.serve_custom_service_request_handlers)
    assert isinstance(handlers.serve_custom_service_request_handlers, CompositeHandler)
    assert chain.index(handlers.parse_service_request) < position
    assert chain.index(handlers.add_account_id) < position
    assert isinstance(chain[position + 2], type(chain[-2]))  # the service router comes after

    # Lambda hands its environment a session of the execution role (AssumeRole, internal call)
    source = inspect.getsource(ExecutionEnvironment.get_credentials)
    assert "assume_role" in source and "RoleArn=self.function_version.config.role" in source
    assert "AWS_SESSION_TOKEN" in inspect.getsource(ExecutionEnvironment.get_environment_variables)
    assert "store.credentials[access_key_id] = creds" in inspect.getsource(
        StsProvider._create_credentials
    )
    assert "credentials" in STSStore.__dict__
    for cls, fields in (
        (TemporaryCredentials, {"arn", "account_id", "access_key_id"}),
        (RoleEntity, {"role", "inline_policies", "attached_policy_arns"}),
        (ManagedPolicyEntity, {"policy", "versions"}),
    ):
        assert fields <= set(cls.__dataclass_fields__), cls
    for store, attributes in (
        (IamStore, ("ROLES", "MANAGED_POLICIES")),
        (KmsStore, ("keys", "aliases")),
        (SnsStore, ("topics",)),
    ):
        for attribute in attributes:
            assert attribute in store.__dict__, (store, attribute)
    assert "sse_specification" in inspect.signature(Table.__init__).parameters
    assert (
        extract_access_key_id_from_auth_header(
            {
                "Authorization": "AWS4-HMAC-SHA256 "
                "Credential=ASIAKEY/20260101/us-east-1/sqs/aws4_request"
            }
        )
        == "ASIAKEY"
    )
    assert callable(IAMPolicyStatement._check_element_matches)
    context = RequestContext(None)
    for attribute in ("service", "operation", "service_request", "account_id", "region"):
        assert hasattr(context, attribute), attribute
    assert context.is_internal_call is False
    assert (AuthorizationErrorException.status_code, AuthorizationErrorException.code) == (
        403,
        "AuthorizationError",
    )
    assert KMSAccessDeniedException.code == "KMSAccessDenied"
    assert CommonServiceException("AccessDeniedException", "m", 400, True).status_code == 400
    iam_enforcement.check_internals()


def test_a_missing_internal_fails_every_request_naming_it(monkeypatch, caplog) -> None:
    def broken() -> None:
        raise ImportError("localstack.services.sts.models")

    monkeypatch.setattr(iam_enforcement, "check_internals", broken)
    monkeypatch.setattr(iam_enforcement, "INTERNALS_CHECKED", threading.Event())
    enforcer = iam_enforcement.Enforcer(enforce=True, log=iam_enforcement.PolicyLog(None))
    for _ in range(2):
        with pytest.raises(RuntimeError, match=r"iam_enforcement.*sts"):
            enforcer(None, None, None)
    assert PLUGIN_ERROR in caplog.text


def test_a_module_gone_stops_the_start_up(monkeypatch) -> None:
    gone = patching.Target("localstack.services.no_such_module:sts_stores")
    monkeypatch.setattr(iam_enforcement, "INTERNALS", (*iam_enforcement.INTERNALS, gone))
    with pytest.raises(RuntimeError, match=r"iam_enforcement.*no_such_module"):
        iam_enforcement.register_iam_enforcement()


def test_the_internals_are_checked_once_then_requests_pass(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(iam_enforcement, "check_internals", lambda: calls.append(1))
    monkeypatch.setattr(iam_enforcement, "INTERNALS_CHECKED", threading.Event())
    enforcer = iam_enforcement.Enforcer(enforce=True, log=iam_enforcement.PolicyLog(None))
    context = types.SimpleNamespace(service=None, operation=None)
    enforcer(None, context, None)
    enforcer(None, context, None)
    assert calls == [1]


def test_the_enforcer_is_registered_once() -> None:
    from localstack.aws import handlers

    enforcer = iam_enforcement.Enforcer(enforce=False)
    iam_enforcement.register(enforcer)
    iam_enforcement.register(enforcer)
    steps = handlers.serve_custom_service_request_handlers.handlers
    assert steps.count(enforcer) == 1
    steps.remove(enforcer)


TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/things"


def test_evaluation_deny_wins_allow_needed_wildcards() -> None:
    docs = [("p", policy(allow("dynamodb:*Item", TABLE, "Items")))]
    assert evaluate(docs, "dynamodb:PutItem", TABLE, {}).effect == ALLOW
    assert evaluate(docs, "dynamodb:putitem", TABLE, {}).sid == "Items"  # actions: any case
    assert evaluate(docs, "dynamodb:Query", TABLE, {}).effect == IMPLICIT
    assert evaluate(docs, "dynamodb:PutItem", TABLE + "x", {}).effect == IMPLICIT
    deny = (
        "d",
        policy({"Sid": "No", "Effect": "Deny", "Action": "dynamodb:Put?tem", "Resource": "*"}),
    )
    decision = evaluate([*docs, deny], "dynamodb:PutItem", TABLE, {})
    assert (decision.effect, decision.sid, decision.policy) == (DENY, "No", "d")
    # `.` is no regex wildcard
    dotted = [("p", policy(allow("sqs:SendMessage", "arn:aws:sqs:*:*:a.b")))]
    assert evaluate(dotted, "sqs:SendMessage", "arn:aws:sqs:r:1:axb", {}).effect == IMPLICIT
    assert evaluate(dotted, "sqs:SendMessage", "arn:aws:sqs:r:1:a.b", {}).effect == ALLOW


def test_evaluation_not_action_not_resource() -> None:
    docs = [
        ("p", policy({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": TABLE})),
        ("q", policy({"Effect": "Deny", "Action": "*", "NotResource": [TABLE, TABLE + "/*"]})),
    ]
    assert evaluate(docs, "dynamodb:PutItem", TABLE, {}).effect == ALLOW
    assert evaluate(docs, "dynamodb:DeleteItem", TABLE, {}).effect == IMPLICIT
    assert evaluate(docs, "sqs:SendMessage", "arn:aws:sqs:r:1:q", {}).effect == DENY


def test_conditions() -> None:
    via = {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}
    assert condition_matches(via, {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"})
    assert not condition_matches(via, {"kms:ViaService": "sns.us-east-1.amazonaws.com"})
    assert not condition_matches(via, {})  # a missing key fails, unless ...IfExists
    assert condition_matches({"StringEqualsIfExists": via["StringEquals"]}, {})
    assert condition_matches({"Bool": {"aws:SecureTransport": "false"}}, {}) is False
    assert condition_matches(
        {"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "true"}
    )
    assert condition_matches({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}, {}) is False
    assert condition_matches({"Null": {"aws:SourceArn": "true"}}, {})
    assert condition_matches(
        {"StringNotEquals": {"aws:PrincipalAccount": "1"}}, {"aws:PrincipalAccount": "2"}
    )
    assert not condition_matches({"StringLike": {"k": ["a*", "b*"]}}, {"k": "c"})
    assert not condition_matches({"NoSuchOperator": {"k": "v"}}, {"k": "v"})
    # an Allow whose condition fails grants nothing (moto's own evaluation would deny)
    docs = [("p", policy(allow("kms:Decrypt", "*", Condition=via)))]
    assert evaluate(docs, "kms:Decrypt", "k", {"kms:ViaService": "sns.x"}).effect == IMPLICIT
    denying = [("p", policy({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": via}))]
    assert evaluate(denying, "kms:Decrypt", "k", {}).effect == IMPLICIT


def test_key_policy_direct_grant_root_delegation_and_deny() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/r"
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/r/f"
    root = {
        "Sid": "Root",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    direct = {
        "Sid": "Fn",
        "Effect": "Allow",
        "Principal": {"AWS": role},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    service = {
        "Effect": "Allow",
        "Principal": {"Service": "logs.amazonaws.com"},
        "Action": "kms:*",
        "Resource": "*",
    }
    args = ((role, session), ACCOUNT, "kms:Decrypt", "k", {})
    assert key_policy_decision(policy(root), *args) == ("root", "Root")
    assert key_policy_decision(policy(root, direct), *args) == ("direct", "Fn")
    assert key_policy_decision(policy(service), *args) == (IMPLICIT, None)
    deny = {**direct, "Sid": "No", "Effect": "Deny"}
    assert key_policy_decision(policy(root, deny), *args) == (DENY, "No")


def test_resource_policies_on_a_functions_own_calls() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/r"
    caller = iam_enforcement.Caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/r/fn", role, "r", ACCOUNT)
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
    foreign = f"arn:aws:sqs:{REGION}:111122223333:q"
    allowed, implicit = iam_enforcement.Decision(ALLOW, "Mine"), iam_enforcement.Decision(IMPLICIT)

    def decide(identity, resource, *statements):
        document = policy(*statements) if statements else None
        return resource_policy_decision(identity, document, caller, "sqs:SendMessage", resource, {})

    def to(principal, effect="Allow", sid="Q"):
        return {"Sid": sid, "Effect": effect, "Principal": {"AWS": principal}, "Action": "sqs:*"}

    # same account: either policy allows; an explicit Deny in the resource policy wins
    assert decide(allowed, queue).effect == ALLOW
    assert decide(implicit, queue, to(role)).effect == ALLOW
    assert decide(implicit, queue, to(f"arn:aws:iam::{ACCOUNT}:root")).effect == IMPLICIT
    denied = decide(allowed, queue, to("*", "Deny", "NoOne"))
    assert (denied.effect, denied.sid, denied.policy) == (DENY, "NoOne", "resource policy")
    # another account's queue: both must allow
    assert decide(allowed, foreign).effect == IMPLICIT
    assert decide(implicit, foreign, to(role)).effect == IMPLICIT
    assert decide(allowed, foreign, to(ACCOUNT)).effect == ALLOW
    assert decide(allowed, foreign, to("arn:aws:iam::444455556666:root")).effect == IMPLICIT


def test_resources_per_service() -> None:
    def arns(service, request, operation="X"):
        return resources_of(service, operation, request, ACCOUNT, REGION)

    assert arns("dynamodb", {"TableName": "t", "IndexName": "i"}) == [
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/index/i"
    ]
    assert arns("dynamodb", {"RequestItems": {"a": [], "b": []}}) == [
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/a",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/b",
    ]
    assert arns("sqs", {"QueueUrl": "http://127.0.0.1:4566/111111111111/q"}) == [
        f"arn:aws:sqs:{REGION}:111111111111:q"
    ]
    assert arns("sns", {"TopicArn": "arn:aws:sns:r:1:t"}) == ["arn:aws:sns:r:1:t"]
    assert arns("logs", {"logGroupName": "/aws/lambda/f", "logStreamName": "s"}) == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f:log-stream:s"
    ]
    assert arns("lambda", {"FunctionName": "f"}) == [
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
    ]
    assert arns("cloudwatch", {"Namespace": "n"}) == ["*"]
    assert iam_enforcement.iam_action("lambda", "Invoke") == "lambda:InvokeFunction"


# ------------------------------------------------------------------ through the sandbox

CALLER = """
import boto3

def handler(event, context):
    client = boto3.client(event["service"])
    for name, value in event.get("headers", {}).items():
        add = lambda request, n=name, v=value, **_: request.headers.add_header(n, v)  # noqa: E731
        client.meta.events.register("before-sign.*.*", add)
    try:
        getattr(client, event["method"])(**event["params"])
        return {"ok": True}
    except Exception as e:
        response = getattr(e, "response", None)
        if response is None:
            raise
        return {
            "code": response["Error"]["Code"],
            "message": response["Error"]["Message"],
            "status": response["ResponseMetadata"]["HTTPStatusCode"],
        }
"""


@pytest.fixture
def world(sandbox: SandboxConfig, aws: Callable, unique: Callable[[str], str]) -> Iterator:
    """Roles, keys, tables and functions made through boto3 (root test credentials); removed."""
    iam, ddb, kms, lam = aws("iam"), aws("dynamodb"), aws("kms"), aws("lambda")
    undo: list[Callable[[], object]] = []

    class World:
        def role(self, *statements: dict) -> str:
            name = unique("role")
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))[
                "Role"
            ]["Arn"]
            iam.put_role_policy(
                RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(policy(*statements))
            )
            undo.append(lambda: iam.delete_role_policy(RoleName=name, PolicyName="inline"))
            undo.append(lambda: iam.delete_role(RoleName=name))
            return arn

        def key(self) -> str:
            """A customer managed key with the default key policy (account root: IAM decides)."""
            return kms.create_key(Description="iam enforcement test")["KeyMetadata"]["Arn"]

        def table(self, key_arn: str | None = None) -> str:
            name = unique("table")
            extra = {}
            if key_arn:
                extra["SSESpecification"] = {
                    "Enabled": True,
                    "SSEType": "KMS",
                    "KMSMasterKeyId": key_arn,
                }
            arn = ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                **extra,
            )["TableDescription"]["TableArn"]
            undo.append(lambda: ddb.delete_table(TableName=name))
            return arn

        def function(self, role_arn: str) -> str:
            name = unique("fn")
            create_function(lam, name, CALLER, Role=role_arn, Timeout=10)
            undo.append(lambda: lam.delete_function(FunctionName=name))
            return name

        def call(
            self, function: str, service: str, method: str, headers: dict | None = None, **params
        ) -> dict:
            payload = {"service": service, "method": method, "params": params}
            payload["headers"] = headers or {}
            response = lam.invoke(FunctionName=function, Payload=json.dumps(payload))
            result = json.loads(response["Payload"].read())
            assert "FunctionError" not in response, result
            return result

    yield World()
    for step in reversed(undo):
        with contextlib.suppress(ClientError):
            step()


def put(world, function: str, table_arn: str) -> dict:
    table = table_arn.rsplit("/", 1)[1]
    return world.call(function, "dynamodb", "put_item", TableName=table, Item={"id": {"S": "1"}})


def session(function: str, role_arn: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[1]}/{function}"


@pytest.mark.sandbox
def test_a_role_without_put_item_is_denied_as_dynamodb_denies(world) -> None:
    table = world.table()
    role = world.role(allow("dynamodb:GetItem", table, "ReadOnly"))
    function = world.function(role)
    assert put(world, function, table) == {
        "code": "AccessDeniedException",
        "status": 400,
        "message": (
            f"User: {session(function, role)} is not authorized to perform: dynamodb:PutItem "
            f"on resource: {table} because no identity-based policy allows the "
            "dynamodb:PutItem action"
        ),
    }
    got = world.call(
        function, "dynamodb", "get_item", TableName=table.rsplit("/", 1)[1], Key={"id": {"S": "1"}}
    )
    assert got == {"ok": True}


@pytest.mark.sandbox
def test_put_item_on_a_cmk_table_without_a_kms_grant_is_denied(world) -> None:
    table = world.table(world.key())
    role = world.role(allow(["dynamodb:PutItem", "dynamodb:GetItem"], table))
    function = world.function(role)
    result = put(world, function, table)
    assert (result["code"], result["status"]) == ("AccessDeniedException", 400)
    assert result["message"].startswith(
        "KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: The "
        "ciphertext refers to a customer master key that does not exist, does not exist in this "
        "region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; "
        "Error Code: AccessDeniedException; Request ID: "
    )


@pytest.mark.sandbox
def test_put_item_on_a_cmk_table_with_the_kms_grant_succeeds(world) -> None:
    key = world.key()
    table = world.table(key)
    via_dynamodb = {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}
    role = world.role(
        allow(["dynamodb:PutItem", "dynamodb:GetItem"], table),
        allow(["kms:Decrypt", "kms:GenerateDataKey"], key, Condition=via_dynamodb),
    )
    function = world.function(role)
    assert put(world, function, table) == {"ok": True}
    # the same grant, but only through SNS: DynamoDB's use of the key is not covered
    via_sns = {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}
    other = world.function(
        world.role(
            allow("dynamodb:PutItem", table),
            allow(["kms:Decrypt", "kms:GenerateDataKey"], key, Condition=via_sns),
        )
    )
    assert put(world, other, table)["message"].startswith("KMS key access denied error")


@pytest.mark.sandbox
def test_root_test_credentials_and_unknown_roles_are_never_denied(world, aws) -> None:
    table = world.table(world.key())
    name = table.rsplit("/", 1)[1]
    aws("dynamodb").put_item(TableName=name, Item={"id": {"S": "root"}})
    assert aws("dynamodb").get_item(TableName=name, Key={"id": {"S": "root"}})["Item"]
    # the suites' placeholder role does not exist in IAM: its sessions are not enforced
    function = world.function(DEFAULT_ROLE)
    assert put(world, function, table) == {"ok": True}


@pytest.mark.sandbox
def test_a_function_cannot_pass_itself_off_as_localstack(world) -> None:
    """The header LocalStack's own clients send does not exempt a function's own session."""
    table = world.table()
    function = world.function(world.role(allow("dynamodb:GetItem", table)))
    forged = {"x-localstack-data": '{"service_principal":"lambda"}'}
    result = world.call(
        function,
        "dynamodb",
        "put_item",
        headers=forged,
        TableName=table.rsplit("/", 1)[1],
        Item={"id": {"S": "1"}},
    )
    assert result.get("code") == "AccessDeniedException", result


@pytest.mark.sandbox
def test_a_mapping_needs_a_role_that_can_poll_the_queue(world, aws, unique) -> None:
    sqs, lam = aws("sqs"), aws("lambda")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    try:
        partial = world.function(world.role(allow(["sqs:ReceiveMessage"], queue)))
        with pytest.raises(ClientError) as refused:
            lam.create_event_source_mapping(FunctionName=partial, EventSourceArn=queue)
        assert refused.value.response["Error"] == {
            "Code": "InvalidParameterValueException",
            "Message": "The function execution role does not have permissions to call "
            "DeleteMessage on SQS",
        } | {k: v for k, v in refused.value.response["Error"].items() if k == "Type"}
        polls = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        able = world.function(world.role(allow(polls, queue)))
        mapping = lam.create_event_source_mapping(
            FunctionName=able, EventSourceArn=queue, Enabled=False
        )["UUID"]
        lam.delete_event_source_mapping(UUID=mapping)
    finally:
        sqs.delete_queue(QueueUrl=url)


@pytest.mark.sandbox
def test_an_explicit_deny_wins(world) -> None:
    table = world.table()
    role = world.role(
        allow("dynamodb:*", "*", "Everything"),
        {"Sid": "NoWrites", "Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": table},
    )
    function = world.function(role)
    assert put(world, function, table)["message"] == (
        f"User: {session(function, role)} is not authorized to perform: dynamodb:PutItem on "
        f"resource: {table} with an explicit deny in an identity-based policy"
    )


@pytest.mark.sandbox
def test_sqs_and_sns_denials_use_their_protocols(world, aws, unique) -> None:
    sqs, sns = aws("sqs"), aws("sns")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    try:
        function = world.function(world.role(allow("sqs:ReceiveMessage", "*")))
        sent = world.call(function, "sqs", "send_message", QueueUrl=queue, MessageBody="x")
        assert (sent["code"], sent["status"]) == ("AccessDenied", 403)
        assert (
            "is not authorized to perform: sqs:sendmessage on resource: arn:aws:sqs:"
            in (sent["message"])
        )
        published = world.call(function, "sns", "publish", TopicArn=topic, Message="x")
        assert (published["code"], published["status"]) == ("AuthorizationError", 403)
        assert published["message"].endswith(
            f"SNS:Publish on resource: {topic} because no identity-based policy allows the "
            "SNS:Publish action"
        )
    finally:
        sqs.delete_queue(QueueUrl=queue)
        sns.delete_topic(TopicArn=topic)


@pytest.mark.sandbox
def test_queue_and_topic_policies_decide_a_functions_own_calls(world, aws, unique) -> None:
    sqs, sns = aws("sqs"), aws("sns")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    try:
        allowed = world.role(allow(["sqs:SendMessage", "sns:Publish"], "*"))
        bare = world.role(allow("sqs:ReceiveMessage", "*"))
        sender, outsider = world.function(allowed), world.function(bare)
        statements = [
            {
                "Sid": "NotThisOne",
                "Effect": "Deny",
                "Principal": {"AWS": allowed},
                "Action": ["sqs:SendMessage", "sns:Publish"],
                "Resource": "*",
            },
            {
                "Sid": "TheOther",
                "Effect": "Allow",
                "Principal": {"AWS": bare},
                "Action": ["sqs:SendMessage", "sns:Publish"],
                "Resource": "*",
            },
        ]
        sqs.set_queue_attributes(
            QueueUrl=queue, Attributes={"Policy": json.dumps(policy(*statements))}
        )
        sns.set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy(*statements))
        )
        sent = world.call(sender, "sqs", "send_message", QueueUrl=queue, MessageBody="x")
        assert (sent["code"], sent["status"]) == ("AccessDenied", 403)
        assert sent["message"] == (
            f"User: {session(sender, allowed)} is not authorized to perform: sqs:sendmessage on "
            f"resource: {queue_arn} with an explicit deny in a resource-based policy"
        )
        published = world.call(sender, "sns", "publish", TopicArn=topic, Message="x")
        assert published["code"] == "AuthorizationError"
        assert published["message"].endswith("with an explicit deny in a resource-based policy")
        # same account: the resource policy alone admits a role its identity policies do not
        assert world.call(outsider, "sqs", "send_message", QueueUrl=queue, MessageBody="y") == {
            "ok": True
        }
        assert world.call(outsider, "sns", "publish", TopicArn=topic, Message="y") == {"ok": True}
    finally:
        sqs.delete_queue(QueueUrl=queue)
        sns.delete_topic(TopicArn=topic)


@pytest.mark.sandbox
def test_publish_to_a_cmk_topic_needs_the_key(world, aws, unique) -> None:
    sns = aws("sns")
    key = world.key()
    topic = sns.create_topic(Name=unique("t"), Attributes={"KmsMasterKeyId": key})["TopicArn"]
    try:
        bare = world.function(world.role(allow("sns:Publish", topic)))
        denied = world.call(bare, "sns", "publish", TopicArn=topic, Message="x")
        assert (denied["code"], denied["status"]) == ("KMSAccessDenied", 400)
        granted = world.function(
            world.role(
                allow("sns:Publish", topic), allow(["kms:GenerateDataKey", "kms:Decrypt"], key)
            )
        )
        assert world.call(granted, "sns", "publish", TopicArn=topic, Message="x") == {"ok": True}
    finally:
        sns.delete_topic(TopicArn=topic)


@pytest.mark.sandbox
def test_sending_to_an_sse_kms_queue_needs_the_key(world, aws, unique) -> None:
    sqs = aws("sqs")
    key = world.key()
    queue = sqs.create_queue(QueueName=unique("q"), Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    try:
        bare = world.function(world.role(allow(["sqs:SendMessage", "sqs:ReceiveMessage"], "*")))
        denied = world.call(bare, "sqs", "send_message", QueueUrl=queue, MessageBody="x")
        assert (denied["code"], denied["status"]) == ("KMS.AccessDeniedException", 400)
        via_sqs = {"StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}}
        granted = world.function(
            world.role(
                allow(["sqs:SendMessage", "sqs:ReceiveMessage"], "*"),
                allow(["kms:GenerateDataKey", "kms:Decrypt"], key, Condition=via_sqs),
            )
        )
        assert world.call(granted, "sqs", "send_message", QueueUrl=queue, MessageBody="x") == {
            "ok": True
        }
        received = world.call(bare, "sqs", "receive_message", QueueUrl=queue)
        assert received["code"] == "KMS.AccessDeniedException"
    finally:
        sqs.delete_queue(QueueUrl=queue)


@pytest.mark.sandbox
def test_the_policy_log_has_a_line_per_evaluated_call(world, sandbox: SandboxConfig) -> None:
    key = world.key()
    table = world.table(key)
    role = world.role(allow("dynamodb:PutItem", table, "Put"))
    function = world.function(role)
    put(world, function, table)
    principal = session(function, role)

    def lines() -> list[dict] | None:
        path = sandbox.home / iam_enforcement.LOG_NAME
        found = [json.loads(line) for line in path.read_text().splitlines() if principal in line]
        return found if len(found) >= 2 else None

    put_line, kms_line = eventually(lines, timeout=5)[:2]
    assert {k: put_line[k] for k in ("role", "action", "resource", "decision", "sid")} == {
        "role": role,
        "action": "dynamodb:PutItem",
        "resource": table,
        "decision": "allow",
        "sid": "Put",
    }
    assert put_line["time"]
    assert {k: kms_line[k] for k in ("action", "resource", "decision", "via")} == {
        "action": "kms:Decrypt",
        "resource": key,
        "decision": "implicit-deny",
        "via": "dynamodb:PutItem",
    }
