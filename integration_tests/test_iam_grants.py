"""A grant missing from a function's role fails the pipeline at that function's hop, and says so.

Each test copies a stack function's execution role (a new role with the same trust policy and
the same policies) minus ONE statement, named by its Sid in stack/functions.tf, and deploys the
production package under that copy as a variant of its own (integration_tests/variants/
passthrough.py, through harness.variants.deploy_variant(role_arn=...)). The variant is called as
its trigger calls the production function (an SQS batch, an API Gateway proxy event), against
the stack's own table and topic. The failure must be the hop's (a failed record, a 500) and the
variant's log must name the denied action and resource (harness.pipeline.denials); the same copy
with every statement works, so the one statement is what made the difference. On the sandbox,
failure messages add its policy log's denials for the copy (`<SANDBOX_HOME>/iam-policy.log`):
DynamoDB's "KMS key access denied" text names no key, the policy log does.

The processor's variant logs why a record failed (Powertools' record-failure warning): the
production processor does not, so an IAM denial there shows only as a failed record.

The copy's logging statement is pointed at the variant's log group (created here): on AWS the
Lambda service writes a function's logs with its role. Nothing of the stack is changed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.cleanup import Cleanups
from harness.pipeline import Denial, denials, describe_denials, topic_message
from harness.roles import copy_role, own_log_group
from harness.trace import Tracer
from harness.variants import deploy_variant
from harness.waiting import eventually
from sandbox.plugins.iam_enforcement import LOG_NAME

pytestmark = [pytest.mark.sandbox, pytest.mark.lanes()]

VARIANT = Path(__file__).parent / "variants" / "passthrough.py"
TIMEOUT_SECONDS = 10
LOG_SECONDS = 15  # how long a logged denial may take to be readable (CloudWatch on AWS)
INTERNAL_ERROR = {"message": "Internal server error"}


@dataclass
class Variant:
    """The production code of one function under a copy of its role minus one statement."""

    lam: Any
    logs: Any
    function: str
    name: str
    role_name: str
    without: str | None
    kept: list[str]
    policy_log: Path | None  # the sandbox's record of every evaluated call (None on AWS)
    created_at: float = field(default_factory=time.time)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        answer = self.lam.invoke(FunctionName=self.name, Payload=json.dumps(event))
        payload = json.loads(answer["Payload"].read() or b"null")
        assert "FunctionError" not in answer, f"{payload}\n{self.describe()}"
        return payload

    def denials(self) -> list[Denial]:
        return denials(self.logs, self.log_group, self.created_at)

    def policy_denials(self) -> list[str]:
        """The sandbox's denials of this role's calls: action on resource (and through what)."""
        if self.policy_log is None or not self.policy_log.exists():
            return []
        found = []
        for text in self.policy_log.read_text().splitlines():
            if f"role/{self.role_name}" not in text:
                continue
            line = json.loads(text)
            if line["role"].endswith(f"/{self.role_name}") and "deny" in line["decision"]:
                via = f" (implied by {line['via']})" if line.get("via") else ""
                found.append(f"{line['decision']}: {line['action']} on {line['resource']}{via}")
        return found

    def describe(self) -> str:
        dropped = f"without {self.without!r}" if self.without else "with every statement"
        text = (
            f"{self.function} variant {self.name}, role {self.role_name} ({dropped}; "
            f"kept {self.kept})\n{describe_denials(self.logs, self.log_group, self.created_at)}"
        )
        if self.policy_log is not None:
            text += f"\nsandbox policy log: {self.policy_denials() or 'no denial'}"
        return text

    def wait_denial(self, operation: str, *needles: str) -> Denial:
        """The logged denial of `operation` whose text holds every needle (case-insensitive)."""

        def found() -> Denial | None:
            for denial in self.denials():
                text = denial.message.lower()
                if denial.operation == operation and all(n.lower() in text for n in needles):
                    return denial
            return None

        return eventually(
            found,
            timeout=LOG_SECONDS,
            interval=0.5,
            describe=lambda: f"no denial of {operation} naming {needles}\n{self.describe()}",
        )


@pytest.fixture
def variant(
    request: pytest.FixtureRequest,
    client: Callable[..., Any],
    stack: dict[str, Any],
    target: str,
    unique: Callable[[str], str],
) -> Iterator[Callable[..., Variant]]:
    """`variant("processor", without="StoreNotifications")` → that function under a role copy.

    `without=None` copies every statement. Removes the function, its log group and the role
    (with its policies) afterwards.
    """
    iam, lam, logs = client("iam"), client("lambda"), client("logs")
    cleanups = Cleanups()
    policy_log = None
    if target == "sandbox":
        policy_log = request.getfixturevalue("sandbox_config").home / LOG_NAME

    def make(function: str, without: str | None) -> Variant:
        production = stack["function_names"][function]
        source = lam.get_function_configuration(FunctionName=production)["Role"].split("/")[-1]
        name = unique(f"iam-{function}")
        role_name = f"{name}-role"
        try:
            role_arn, kept = copy_role(
                iam, source, role_name, without, own_log_group(production, name), cleanups
            )
        except iam.exceptions.ClientError as error:
            if target == "aws" and "AccessDenied" in str(error):
                pytest.skip(
                    "SKIPPED ON AWS: these credentials may not create or read IAM roles, so "
                    f"no role copy can be made ({error})"
                )
            raise
        log_group = f"/aws/lambda/{name}"
        logs.create_log_group(logGroupName=log_group)
        cleanups.append(lambda: logs.delete_log_group(logGroupName=log_group))
        cleanups.append(lambda: lam.delete_function(FunctionName=name))
        deploy_variant(lam, production, name, VARIANT, TIMEOUT_SECONDS, role_arn=role_arn)
        return Variant(lam, logs, function, name, role_name, without, kept, policy_log)

    yield make
    cleanups.run()


# ------------------------------------------------------------------ events as triggers send them


def sqs_event(stack: dict[str, Any], notification: dict[str, str]) -> dict[str, Any]:
    """A one-record batch as the high queue's event source mapping would hand it over."""
    queue_arn = stack["queues"]["high"]["queue_arn"]
    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "direct",
        "body": json.dumps(notification),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    return {"Records": [record]}


def api_event(
    method: str,
    resource: str,
    path: str,
    caller: dict[str, str],
    body: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The proxy event API Gateway hands a function for an authorized request by `caller`
    (the claims the Cognito authorizer passes on)."""
    headers = {"Content-Type": "application/json"}
    if body is not None:
        headers["Idempotency-Key"] = f"key-{uuid.uuid4().hex}"
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "pathParameters": path_parameters,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "test",
            "httpMethod": method,
            "path": f"/test{path}",
            "authorizer": {"claims": caller},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def post_event(user_id: str, sender_group: str) -> dict[str, Any]:
    """A POST by a member of the sender group, for `user_id` (a recipient's sub)."""
    body = {"user_id": user_id, "message": "iam grants", "priority": "low"}
    sender = {"cognito:username": "sender", "sub": "sub-sender", "cognito:groups": sender_group}
    return api_event("POST", "/notifications", "/notifications", sender, body)


def get_event(owner: str, notification_id: str) -> dict[str, Any]:
    """A GET by the notification's recipient: the caller whose `sub` is its `user_id`."""
    return api_event(
        "GET",
        "/notifications/{id}",
        f"/notifications/{notification_id}",
        {"cognito:username": "owner", "sub": owner},
        path_parameters={"id": notification_id},
    )


@pytest.fixture
def table_arn(client: Callable[..., Any], stack: dict[str, Any]) -> str:
    return client("dynamodb").describe_table(TableName=stack["table_name"])["Table"]["TableArn"]


@pytest.fixture
def stored(
    client: Callable[..., Any], stack: dict[str, Any], unique: Callable[[str], str]
) -> Iterator[dict[str, str]]:
    """A notification in the stack's table (written with the test's credentials), removed after."""
    dynamodb = client("dynamodb")
    notification = topic_message("medium", unique("iam-owner"), "read me")
    item = {**notification, "stored_at": notification["accepted_at"]}
    dynamodb.put_item(TableName=stack["table_name"], Item={k: {"S": v} for k, v in item.items()})
    yield notification
    dynamodb.delete_item(TableName=stack["table_name"], Key={"id": {"S": notification["id"]}})


@pytest.fixture
def forget(client: Callable[..., Any], stack: dict[str, Any]) -> Iterator[list[str]]:
    """Ids whose items the test may have stored: deleted afterwards."""
    ids: list[str] = []
    yield ids
    for notification_id in ids:
        client("dynamodb").delete_item(
            TableName=stack["table_name"], Key={"id": {"S": notification_id}}
        )


# ------------------------------------------------------------------ processor


def test_processor_without_store_notifications_fails_the_record_at_the_store(
    variant: Callable[..., Variant],
    stack: dict[str, Any],
    table_arn: str,
    tracer: Tracer,
    unique: Callable[[str], str],
    forget: list[str],
) -> None:
    processor = variant("processor", without="StoreNotifications")
    notification = topic_message("high", unique("iam"), "no grant on the table")
    forget.append(notification["id"])
    event = sqs_event(stack, notification)
    answer = processor.invoke(event)
    failed = [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert answer == {"batchItemFailures": failed}, f"{answer}\n{processor.describe()}"
    denial = processor.wait_denial("PutItem", "dynamodb:PutItem", table_arn)
    assert denial.error == "AccessDeniedException", processor.describe()
    assert processor.role_name in denial.message, processor.describe()  # the copy's session
    assert tracer.item(notification["id"]) is None, processor.describe()


def test_processor_with_put_item_but_not_the_table_key_is_still_denied(
    variant: Callable[..., Variant],
    stack: dict[str, Any],
    tracer: Tracer,
    unique: Callable[[str], str],
    forget: list[str],
) -> None:
    """The issue's acceptance, first half: PutItem is granted, the table's CMK is not."""
    processor = variant("processor", without="KeyForTheTableViaDynamoDB")
    assert "StoreNotifications" in processor.kept
    notification = topic_message("high", unique("iam"), "no grant on the table's key")
    forget.append(notification["id"])
    event = sqs_event(stack, notification)
    answer = processor.invoke(event)
    failed = [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert answer == {"batchItemFailures": failed}, f"{answer}\n{processor.describe()}"
    denial = processor.wait_denial("PutItem", "KMS key access denied")
    assert denial.error == "AccessDeniedException", processor.describe()
    if processor.policy_log is not None:  # DynamoDB's text names no key: the sandbox's log does
        key = stack["kms_key_arn"]
        implied = f"on {key} (implied by dynamodb:PutItem)"
        assert any(implied in line for line in processor.policy_denials()), processor.describe()
    assert tracer.item(notification["id"]) is None, processor.describe()


def test_processor_with_put_item_and_the_table_key_stores_and_delivers(
    variant: Callable[..., Variant],
    stack: dict[str, Any],
    tracer: Tracer,
    unique: Callable[[str], str],
    forget: list[str],
) -> None:
    """The issue's acceptance, second half: the untouched copy (every statement) succeeds."""
    processor = variant("processor", without=None)
    notification = topic_message("high", unique("iam"), "every grant")
    forget.append(notification["id"])
    answer = processor.invoke(sqs_event(stack, notification))
    assert answer == {"batchItemFailures": []}, f"{answer}\n{processor.describe()}"
    item = tracer.item(notification["id"])
    assert item and "delivered_at" in item, f"item {item}\n{processor.describe()}"
    assert not processor.denials(), processor.describe()
    assert not processor.policy_denials(), processor.describe()


# ------------------------------------------------------------------ ingest and query


def test_ingest_without_publish_notifications_answers_500_and_logs_the_sns_denial(
    variant: Callable[..., Variant], stack: dict[str, Any], unique: Callable[[str], str]
) -> None:
    ingest = variant("ingest", without="PublishNotifications")
    answer = ingest.invoke(post_event(unique("iam"), stack["sender_group_name"]))
    assert answer["statusCode"] == 500, f"{answer}\n{ingest.describe()}"
    assert json.loads(answer["body"]) == INTERNAL_ERROR, ingest.describe()
    topic = stack["notifications_topic_arn"]
    denial = ingest.wait_denial("Publish", "sns:Publish", topic)
    assert denial.error == "AuthorizationError", ingest.describe()


def test_query_without_read_notifications_answers_500_and_logs_the_dynamodb_denial(
    variant: Callable[..., Variant], stored: dict[str, str], table_arn: str
) -> None:
    query = variant("query", without="ReadNotifications")
    answer = query.invoke(get_event(stored["user_id"], stored["id"]))
    assert answer["statusCode"] == 500, f"{answer}\n{query.describe()}"
    assert json.loads(answer["body"]) == INTERNAL_ERROR, query.describe()
    denial = query.wait_denial("GetItem", "dynamodb:GetItem", table_arn)
    assert denial.error == "AccessDeniedException", query.describe()


@pytest.mark.lanes("low")  # the accepted notification flows through the stack's low lane
def test_ingest_with_every_statement_accepts(
    variant: Callable[..., Variant], unique: Callable[[str], str], stack: dict[str, Any]
) -> None:
    ingest = variant("ingest", without=None)
    answer = ingest.invoke(post_event(unique("iam"), stack["sender_group_name"]))
    assert answer["statusCode"] == 202, f"{answer}\n{ingest.describe()}"
    assert not ingest.denials(), ingest.describe()


def test_query_with_every_statement_reads_the_owners_notification(
    variant: Callable[..., Variant], stored: dict[str, str]
) -> None:
    query = variant("query", without=None)
    answer = query.invoke(get_event(stored["user_id"], stored["id"]))
    assert answer["statusCode"] == 200, f"{answer}\n{query.describe()}"
    assert json.loads(answer["body"])["id"] == stored["id"], query.describe()
