"""IAM enforced for Lambda functions: each call made with a role session is checked, and logged.

Why: LocalStack's open-source core enforces no IAM, so a function whose execution role lacks
`dynamodb:PutItem` (or the `kms:Decrypt` a table encrypted with a customer managed key needs)
writes the table in the sandbox and fails only on AWS.

AWS behaviour reproduced (IAM user guide, "Policy evaluation logic",
docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html; "IAM JSON
policy elements"; AWS KMS developer guide, "How Amazon DynamoDB uses AWS KMS"
(docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html) and "Key policies",
"kms:ViaService"; SNS developer guide, "Encryption at rest" / "Key management"):

- A Lambda function runs with a session of its execution role: LocalStack already asks STS for
  one (`ExecutionEnvironment.get_credentials`: AssumeRole, session name = function name) and
  hands it over as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN. A request signed
  with such a key is attributed to `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
- The action `<service>:<Operation>` on the resource the request names (table, index, queue,
  topic, log stream, key, function; `*` for CloudWatch and list calls) is evaluated against the
  role's identity policies (inline and attached managed, customer or AWS managed): an explicit
  Deny wins, else an Allow is needed, else implicit deny. Action/NotAction, Resource/NotResource
  with `*`/`?` wildcards (actions case-insensitive), Conditions (String*, Arn*, Bool, Null,
  Numeric*, `...IfExists`, `ForAnyValue:`/`ForAllValues:`) on the keys this stack uses:
  aws:SourceArn / aws:SourceAccount (absent on a function's own calls), aws:SecureTransport
  (true: the AWS SDKs use HTTPS; the sandbox's loopback HTTP stands in for it),
  aws:PrincipalArn/Account/Type, aws:RequestedRegion, kms:ViaService, kms:CallerAccount and the
  kms:EncryptionContext keys DynamoDB and SNS send.
- Implied KMS checks: an item read or write on a table whose SSESpecification names a customer
  managed key needs kms:Decrypt (reads) or kms:Decrypt + kms:GenerateDataKey (writes); sending
  to an SSE-KMS queue kms:GenerateDataKey + kms:Decrypt, receiving kms:Decrypt; and
  sns:Publish to a topic whose KmsMasterKeyId is a customer managed key needs kms:GenerateDataKey
  + kms:Decrypt, both with kms:ViaService = `<service>.<region>.amazonaws.com`. KMS allows when
  the key policy allows the role (or its session) directly, or allows the account root and an
  identity policy allows too; an explicit Deny in either denies. AWS managed keys (alias/aws/*)
  need no grant.
- Denials are the service's own errors: DynamoDB `AccessDeniedException` (400), SQS
  `AccessDenied` (403; JSON protocol with the query error header), SNS `AuthorizationError`
  (403), KMS/Logs `AccessDeniedException` (400), Lambda `AccessDeniedException` (403); KMS
  denials behind DynamoDB are DynamoDB's `AccessDeniedException` "KMS key access denied error:
  ...", behind SNS Publish `KMSAccessDenied` (400).

Allowed without evaluation: requests with the root test credentials (any key that is not a role
session), LocalStack's internal calls (the `x-localstack-data` header its own clients send:
event source pollers, SNS deliveries, Lambda's AssumeRole) unless signed with a function's own
session key (`ExecutionEnvironment.get_credentials` is wrapped to remember them, so a function
cannot skip the checks by sending that header), sts:GetCallerIdentity (no permission
on AWS either), sessions of roles that do not exist in IAM (AWS would have refused
CreateFunction; the suites' placeholder role `harness.lambdas.DEFAULT_ROLE` is one), and services
outside `ENFORCED_SERVICES` (their operation names are not their IAM actions: logged as
"not-enforced").

Resource-based policies on a function's own calls (SQS queue, SNS topic, Lambda function
policies; KMS key policies on direct KMS calls): an explicit Deny in either policy denies; in
the same account either may allow (a resource policy naming only the account root delegates to
IAM); on another account's resource both must allow. Not reproduced: KMS grants, service
principals' own calls beyond `resource_policies`, SCPs and RCPs, permission boundaries, session
policies, IAM users' keys. (Service principals' use of keys: see `resource_policies`.)

Every evaluated call is appended as one JSON line to `$SANDBOX_HOME/iam-policy.log` (emptied when
LocalStack starts: one sandbox state per log; time,
principal, role, action, resource, decision, sid, policy); `python -m sandbox.iam_report`
summarises it per role. SANDBOX_ENFORCE_IAM=0 turns enforcement off (calls are still logged,
with the decision that would have been taken, prefixed "would-").

CreateEventSourceMapping for an SQS queue (any caller, Terraform included) is refused as AWS
refuses it, `InvalidParameterValueException` "The function execution role does not have
permissions to call ReceiveMessage on SQS", unless the function's role may ReceiveMessage,
DeleteMessage and GetQueueAttributes on the queue. (The pollers' own calls afterwards are
LocalStack's internal calls: not evaluated.)

Relies on these internals of localstack-core 2026.3.0 and its bundled moto (checked by
tests/sandbox/plugins/test_iam_enforcement.py; re-check them on upgrade):
- `localstack.aws.handlers.serve_custom_service_request_handlers` (a rolo `CompositeHandler`
  with a `.handlers` list) that `localstack.aws.app.LocalstackAwsGateway` runs right after
  `parse_service_request`: `RequestContext.service` (`.service_name`), `.operation` (`.name`),
  `.service_request`, `.account_id`, `.region`, `.request.headers`, `.is_internal_call`;
- `localstack.utils.aws.request_context.extract_access_key_id_from_auth_header`;
- `localstack.services.sts.models.sts_stores` (`credentials`: access key id →
  `TemporaryCredentials` with `.arn` = the assumed-role ARN, a cross-account attribute), filled
  by `StsProvider.assume_role`, which `execution_environment.ExecutionEnvironment.get_credentials`
  calls;
- `localstack.services.iam.models.iam_stores` (`ROLES`: name → `RoleEntity` with `.role`,
  `.inline_policies` (URL-quoted documents), `.attached_policy_arns`; `MANAGED_POLICIES`: ARN →
  `ManagedPolicyEntity` with `.policy["DefaultVersionId"]`, `.versions[...]["Document"]`) and the
  AWS managed policies file `localstack/services/iam/resources/aws_managed_policies.json`;
- moto's `moto.iam.access_control.IAMPolicyStatement` (`_check_element_matches`, whose `_match`
  is overridden here: moto does not escape regex characters, has no `?`, compares actions
  case-sensitively) for Action/NotAction/Resource/NotResource matching. moto's own
  `is_action_permitted` is not used: it turns an Allow whose condition fails into DENIED, ignores
  NotResource and supports only StringEquals;
- moto's DynamoDB backend (`moto.dynamodb.models.dynamodb_backends[account][region].tables[name]
  .sse_specification`), LocalStack's SNS store (`localstack.services.sns.models.sns_stores`,
  `topics[arn]["attributes"]["KmsMasterKeyId"]`) and KMS store
  (`localstack.services.kms.models.kms_stores`: `keys[id].metadata` / `.policy`,
  `aliases[name].metadata["TargetKeyId"]`);
- `localstack.aws.api.CommonServiceException` and `localstack.aws.api.sns`
  (`AuthorizationErrorException`, `KMSAccessDeniedException`), serialised by the gateway's
  `handle_service_exception` in the service's protocol.
The start-up hook only looks for their modules (importing them, moto's IAM above all, costs ~25 ms
and 7 MB of every start-up, `make bench-sandbox`); the first request the enforcer sees imports and
checks all of them, and fails (a plugin error naming the missing one) if one is missing, as does
every request after it. The Lambda provider's `ExecutionEnvironment.get_credentials` is patched
when that provider loads.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import LAMBDA_PROVIDER, Target

if TYPE_CHECKING:
    from localstack.aws.api import RequestContext
    from localstack.http import Response
    from rolo.gateway.chain import HandlerChain

LOG = logging.getLogger(__name__)

ENABLE_SETTING = "SANDBOX_ENFORCE_IAM"
RESOURCE_POLICY = "resource policy"
# SQS SSE-KMS: what a producer and a consumer need on the queue's key (SQS developer guide,
# "Configure KMS permissions for producers/consumers")
SQS_KMS_ACTIONS = {
    "SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "SendMessageBatch": ("kms:GenerateDataKey", "kms:Decrypt"),
    "ReceiveMessage": ("kms:Decrypt",),
}  # Decision.policy of a resource-based (or key) policy
LOG_NAME = "iam-policy.log"
# Services whose operation names are their IAM actions (with the few exceptions in ACTION_NAMES).
ENFORCED_SERVICES = frozenset(
    {"dynamodb", "sqs", "sns", "kms", "logs", "cloudwatch", "lambda", "sts", "events", "ssm"}
)
ACTION_NAMES = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
}
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})
DYNAMODB_READS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "ExecuteStatement"}
)
DYNAMODB_WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "BatchExecuteStatement",
        "ExecuteTransaction",
    }
)
KMS_DENIED_TEXT = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this "
    "region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: "
    "AccessDeniedException; Request ID: {request_id}; Proxy: null)"
)

ALLOW, DENY, IMPLICIT = "allow", "deny", "implicit-deny"

INTERNALS = (
    Target("localstack.aws.handlers:serve_custom_service_request_handlers.handlers"),
    Target(
        "localstack.utils.aws.request_context:extract_access_key_id_from_auth_header",
        params=("headers",),
    ),
    Target("localstack.services.sts.models:sts_stores"),
    Target("localstack.services.sts.models:TemporaryCredentials.arn"),
    Target("localstack.services.iam.models:iam_stores"),
    Target("localstack.services.iam.models:RoleEntity.inline_policies"),
    Target("localstack.services.kms.models:kms_stores"),
    Target("localstack.services.sns.models:sns_stores"),
    Target("moto.dynamodb.models:dynamodb_backends"),
    Target("moto.iam.access_control:IAMPolicyStatement", params=("statement",)),
    Target(
        "moto.iam.access_control:IAMPolicyStatement._check_element_matches",
        params=("self", "statement_element", "value"),
    ),
    Target("localstack.aws.api:CommonServiceException"),
    Target("localstack.aws.api.sns:AuthorizationErrorException"),
    Target("localstack.aws.api.sns:KMSAccessDeniedException"),
)


# ------------------------------------------------------------------ policy evaluation


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character, nothing else special."""
    return _compiled(str(pattern), ignore_case).fullmatch(value) is not None


def _statement_class() -> type:
    from moto.iam.access_control import IAMPolicyStatement

    class Statement(IAMPolicyStatement):
        """moto's statement element matching with IAM's wildcards (see the module docstring)."""

        def matches(self, element: str, value: str) -> bool:
            return self._check_element_matches(element, value)

        def _check_element_matches(self, statement_element: str, value: str) -> bool:
            patterns = self._statement[statement_element]
            patterns = patterns if isinstance(patterns, list) else [patterns]
            ignore_case = statement_element in ("Action", "NotAction")
            return any(_glob(p, value, ignore_case) for p in patterns)

    return Statement


_STATEMENT: type | None = None


def statement(data: dict) -> Any:
    global _STATEMENT
    if _STATEMENT is None:
        _STATEMENT = _statement_class()
    return _STATEMENT(data)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _compare(base: str, expected: str, actual: str) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected if base == "StringEquals" else _glob(expected, actual)
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return _glob(expected, actual)
    if base == "Bool":
        return actual.lower() == str(expected).lower()
    if base.startswith("Numeric"):
        a, e = float(actual), float(expected)
        return {
            "NumericEquals": a == e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }[base]
    raise KeyError(base)


NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def condition_matches(conditions: dict | None, context: dict[str, Any]) -> bool:
    """True when every operator/key of a Condition block holds for the request context.

    Unknown operators do not match (an Allow using one grants nothing, a Deny denies nothing).
    """
    for operator, keys in (conditions or {}).items():
        qualifier, _, op = operator.rpartition(":")
        if_exists = op.endswith("IfExists")
        op = op.removesuffix("IfExists")
        for key, expected in keys.items():
            actual = _lookup(context, key)
            values = _as_list(expected)
            if op == "Null":
                if (actual is None) != (str(values[0]).lower() == "true"):
                    return False
                continue
            if actual is None:
                if if_exists or qualifier == "ForAllValues":
                    continue
                return False
            actuals = [str(a) for a in _as_list(actual)]
            negated = op in NEGATED
            base = NEGATED.get(op, op)
            try:
                matched = [any(_compare(base, str(e), a) for e in values) for a in actuals]
                held = all(matched) if qualifier == "ForAllValues" else any(matched)
            except (KeyError, ValueError):
                LOG.warning("iam_enforcement: condition operator %s not supported", operator)
                return False
            if held == negated:
                return False
    return True


def _lookup(context: dict[str, Any], key: str) -> Any:
    for name, value in context.items():
        if name.lower() == key.lower():
            return value
    return None


@dataclass(frozen=True)
class Decision:
    effect: str  # ALLOW, DENY (explicit) or IMPLICIT
    sid: str | None = None
    policy: str | None = None


def evaluate(
    policies: list[tuple[str, dict]], action: str, resource: str, context: dict[str, Any]
) -> Decision:
    """Identity-policy evaluation: an explicit Deny wins, else the first Allow, else implicit."""
    allowed: Decision | None = None
    for policy_name, document in policies:
        for data in _as_list(document.get("Statement")):
            if _applies(data, action, resource, context):
                found = Decision(
                    ALLOW if data.get("Effect") == "Allow" else DENY, data.get("Sid"), policy_name
                )
                if found.effect == DENY:
                    return found
                allowed = allowed or found
    return allowed or Decision(IMPLICIT)


def _applies(data: dict, action: str, resource: str, context: dict[str, Any]) -> bool:
    st = statement(data)
    if "NotAction" in data:
        if st.matches("NotAction", action):
            return False
    elif "Action" not in data or not st.matches("Action", action):
        return False
    if "NotResource" in data:
        if st.matches("NotResource", resource):
            return False
    elif "Resource" in data and not st.matches("Resource", resource):
        return False
    return condition_matches(data.get("Condition"), context)


def key_policy_decision(
    document: dict,
    principals: tuple[str, ...],
    account: str,
    action: str,
    resource: str,
    context: dict[str, Any],
) -> tuple[str, str | None]:
    """(DENY | "direct" | "root" | IMPLICIT, sid): what a key policy says about the caller.

    "direct": a statement names the role (or its session, or `*`); "root": the account root is
    allowed, so identity policies decide.
    """
    root = (f"arn:aws:iam::{account}:root", account)
    result: tuple[str, str | None] = (IMPLICIT, None)
    for data in _as_list(document.get("Statement")):
        principal = data.get("Principal")
        aws = _as_list(principal.get("AWS")) if isinstance(principal, dict) else [principal]
        names = {str(p) for p in aws if p is not None}
        if "*" in names or names & set(principals):
            kind = "direct"
        elif names & set(root):
            kind = "root"
        else:
            continue
        if not _applies(data, action, resource, context):
            continue
        if data.get("Effect") != "Allow":
            return DENY, data.get("Sid")
        if result[0] != "direct":
            result = (kind, data.get("Sid"))
    return result


# ------------------------------------------------------------------ LocalStack state


@dataclass(frozen=True)
class Caller:
    session_arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    role_arn: str
    role_name: str
    account: str


# Access key ids of the role sessions handed to function environments (ExecutionEnvironment.
# get_credentials): a request signed with one is a function's own call, whatever headers it
# carries. LocalStack's own clients on a function's behalf (log pushes, pollers) use other sessions.
FUNCTION_KEYS: set[str] = set()


def signed_by_a_function(context: RequestContext) -> bool:
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

    return extract_access_key_id_from_auth_header(context.request.headers) in FUNCTION_KEYS


def patch_function_credentials() -> None:
    """Remember the session keys LocalStack hands to function environments."""
    from localstack.services.lambda_.invocation.execution_environment import ExecutionEnvironment

    original = ExecutionEnvironment.get_credentials
    if getattr(original, "_sandbox_iam", False):
        return

    @functools.wraps(original)
    def get_credentials(self):
        credentials = original(self)
        FUNCTION_KEYS.add(credentials["AccessKeyId"])
        return credentials

    get_credentials._sandbox_iam = True
    ExecutionEnvironment.get_credentials = get_credentials


def function_role(function: str, context: RequestContext) -> Caller | None:
    """The execution role of a function (name, ARN or name:qualifier) as the caller its event
    source mappings poll with; None when the function or its role is unknown."""
    from localstack.services.iam.models import iam_stores

    fn, _, account = stored_function(function, None, context.account_id, context.region)
    latest = fn.versions.get("$LATEST") if fn is not None else None
    role_arn = latest.config.role if latest is not None else ""
    role_name = role_arn.rsplit("/", 1)[-1]
    if not role_arn or iam_stores[account]["us-east-1"].ROLES.get(role_name) is None:
        return None
    session = f"arn:aws:sts::{account}:assumed-role/{role_name}/event-source-mapping"
    return Caller(session, role_arn, role_name, account)


def caller_of(context: RequestContext) -> Caller | None:
    """The role session that signed the request, or None (test credentials, IAM users, ...)."""
    from localstack.services.iam.models import iam_stores
    from localstack.services.sts.models import sts_stores
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

    key = extract_access_key_id_from_auth_header(context.request.headers)
    if not key or key == "test":
        return None
    credentials = sts_stores[context.account_id]["us-east-1"].credentials.get(key)
    if credentials is None or ":assumed-role/" not in credentials.arn:
        return None
    role_name = credentials.arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    account = credentials.account_id
    entity = iam_stores[account]["us-east-1"].ROLES.get(role_name)
    if entity is None:
        return None  # not enforced: see the module docstring
    return Caller(credentials.arn, entity.role["Arn"], role_name, account)


_AWS_MANAGED: dict[str, dict] | None = None


def _aws_managed_policy(arn: str) -> dict | None:
    global _AWS_MANAGED
    if _AWS_MANAGED is None:
        import localstack.services.iam as iam_package

        path = Path(iam_package.__file__).parent / "resources" / "aws_managed_policies.json"
        data = json.loads(path.read_text())
        _AWS_MANAGED = {
            f"arn:aws:iam::aws:policy{v['Path']}{name}": v["Document"] for name, v in data.items()
        }
    normalized = re.sub(r"^arn:[^:]+:", "arn:aws:", arn)
    return _AWS_MANAGED.get(normalized)


def role_policies(account: str, role_name: str) -> list[tuple[str, dict]]:
    """(name, document) of the role's inline policies and attached managed policies."""
    from localstack.services.iam.models import iam_stores

    store = iam_stores[account]["us-east-1"]
    entity = store.ROLES.get(role_name)
    if entity is None:
        return []
    policies = [(name, json.loads(unquote(doc))) for name, doc in entity.inline_policies.items()]
    for arn in entity.attached_policy_arns:
        managed = store.MANAGED_POLICIES.get(arn)
        if managed is not None:
            version = managed.versions[managed.policy["DefaultVersionId"]]
            policies.append((arn, json.loads(unquote(version["Document"]))))
        elif (document := _aws_managed_policy(arn)) is not None:
            policies.append((arn, document))
    return policies


@dataclass(frozen=True)
class Key:
    arn: str
    policy: dict


def customer_managed_key(key_id: str | None, account: str, region: str) -> Key | None:
    """The customer managed KMS key a key id, key ARN, alias name or alias ARN names."""
    from localstack.services.kms.models import kms_stores

    if not key_id:
        return None
    if key_id.startswith("arn:"):
        parts = key_id.split(":", 5)
        region, account, key_id = parts[3], parts[4], parts[5]
        key_id = key_id.removeprefix("key/")
    store = kms_stores[account][region]
    if key_id.startswith("alias/"):
        alias = store.aliases.get(key_id)
        if alias is None:
            return None
        key_id = alias.metadata["TargetKeyId"]
    key = store.keys.get(key_id)
    if key is None or key.metadata.get("KeyManager") != "CUSTOMER":
        return None
    return Key(key.metadata["Arn"], json.loads(key.policy))


def table_key(table_name: str, account: str, region: str) -> Key | None:
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].tables.get(table_name)
    sse = getattr(table, "sse_specification", None) or {}
    if not sse.get("Enabled"):
        return None
    return customer_managed_key(sse.get("KMSMasterKeyId"), account, region)


def queue_key(queue_arn: str) -> Key | None:
    """The customer managed key of an SSE-KMS queue (SSE-SQS and plain queues: None)."""
    from localstack.services.sqs.models import sqs_stores

    _, _, _, region, account, name = queue_arn.split(":", 5)
    queue = sqs_stores[account][region].queues.get(name)
    if queue is None:
        return None
    return customer_managed_key(queue.attributes.get("KmsMasterKeyId"), account, region)


def topic_key(topic_arn: str, account: str, region: str) -> Key | None:
    from localstack.services.sns.models import sns_stores

    topic = sns_stores[account][region].topics.get(topic_arn)
    if topic is None:
        return None
    return customer_managed_key(topic["attributes"].get("KmsMasterKeyId"), account, region)


def queue_policy(queue_name: str, account: str, region: str) -> dict | None:
    from localstack.services.sqs.models import sqs_stores

    queue = sqs_stores[account][region].queues.get(queue_name)
    text = queue.attributes.get("Policy") if queue is not None else None
    return json.loads(text) if text else None


def stored_function(
    function: str, qualifier: str | None, account: str, region: str
) -> tuple[Any, str | None, str]:
    """(LocalStack's function or None, qualifier, account) for a name, name:qualifier or ARN."""
    from localstack.services.lambda_.invocation.models import lambda_stores

    if function.startswith("arn:"):
        parts = function.split(":")
        account, region, function = parts[4], parts[3], parts[6]
        if len(parts) > 7:
            qualifier = qualifier or parts[7]
    elif ":" in function:
        function, _, qualifier = function.partition(":")
    return lambda_stores[account][region].functions.get(function), qualifier, account


def function_policy(function: str, qualifier: str | None, account: str, region: str) -> dict | None:
    fn, qualifier, _ = stored_function(function, qualifier, account, region)
    if fn is None:
        return None
    permission = fn.permissions.get(qualifier or "$LATEST")
    if permission is None:
        return None
    return {"Statement": list(permission.policy.Statement)}


def topic_policy(topic_arn: str, account: str, region: str) -> dict | None:
    from localstack.services.sns.models import sns_stores

    topic = sns_stores[account][region].topics.get(topic_arn)
    text = topic["attributes"].get("Policy") if topic is not None else None
    return json.loads(text) if text else None


def resource_policy(service: str, resource: str) -> dict | None:
    """The resource-based policy of an SQS queue, SNS topic or Lambda function ARN, if any.

    KMS key policies are not here: `kms_decision` evaluates them, with their own rules.
    """
    parts = resource.split(":")
    if len(parts) < 6 or not resource.startswith("arn:"):
        return None
    region, account = parts[3], parts[4]
    if service == "sqs":
        return queue_policy(parts[5], account, region)
    if service == "sns":
        document = topic_policy(":".join(parts[:6]), account, region)
        if document is not None and document.get("Id") == "__default_policy_ID":
            return None  # admits only the owner account, whose identity policies decide
        return document
    if service == "lambda" and len(parts) >= 7:
        return function_policy(resource, None, account, region)
    return None


# ------------------------------------------------------------------ requests → action, resources


def iam_action(service: str, operation: str) -> str:
    return f"{service}:{ACTION_NAMES.get((service, operation), operation)}"


def _name_from_arn(value: str, separator: str) -> str:
    return value.rsplit(separator, 1)[-1] if value.startswith("arn:") else value


def resources_of(service: str, operation: str, request: dict, account: str, region: str) -> list:
    """The ARNs a request acts on (the resource element IAM evaluates), `*` when none."""
    prefix = f"arn:aws:{service}:{region}:{account}"
    if service == "dynamodb":
        tables = []
        if "TableName" in request:
            tables.append((request["TableName"], request.get("IndexName")))
        tables += [(name, None) for name in request.get("RequestItems") or {}]
        for item in request.get("TransactItems") or []:
            for part in item.values():
                if isinstance(part, dict) and "TableName" in part:
                    tables.append((part["TableName"], None))
        arns = []
        for name, index in tables:
            arn = name if name.startswith("arn:") else f"{prefix}:table/{name}"
            arns.append(f"{arn}/index/{index}" if index else arn)
        return arns or ["*"]
    if service == "sqs":
        if url := request.get("QueueUrl"):
            parts = urlparse(url).path.strip("/").split("/")
            if len(parts) >= 2:
                return [f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"]
        if name := request.get("QueueName"):
            owner = request.get("QueueOwnerAWSAccountId") or account
            return [f"arn:aws:sqs:{region}:{owner}:{name}"]
        return ["*"]
    if service == "sns":
        for field_name in ("TopicArn", "TargetArn", "ResourceArn"):
            if arn := request.get(field_name):
                return [arn]
        if arn := request.get("SubscriptionArn"):
            return [arn.rsplit(":", 1)[0]]
        if name := request.get("Name"):
            return [f"{prefix}:{name}"]
        return ["*"]
    if service == "logs":
        group = request.get("logGroupName")
        if group is None and (identifier := request.get("logGroupIdentifier")):
            group = _name_from_arn(identifier, ":log-group:").removesuffix(":*")
        if group is None:
            return ["*"]
        if stream := request.get("logStreamName"):
            return [f"{prefix}:log-group:{group}:log-stream:{stream}"]
        return [f"{prefix}:log-group:{group}:*"]
    if service == "kms":
        key = customer_managed_key(request.get("KeyId"), account, region)
        if key is not None:
            return [key.arn]
        key_id = request.get("KeyId")
        return [key_id if key_id and key_id.startswith("arn:") else f"{prefix}:key/{key_id}"]
    if service == "lambda":
        if name := request.get("FunctionName"):
            if name.startswith("arn:"):
                return [name]
            return [f"{prefix}:function:{name}"]
        return ["*"]
    return ["*"]


def implied_kms(
    service: str, operation: str, request: dict, account: str, region: str
) -> list[tuple[Key, str, dict]]:
    """(key, kms action, encryption context) checks the call implies."""
    checks: list[tuple[Key, str, dict]] = []
    if service == "dynamodb" and (operation in DYNAMODB_READS or operation in DYNAMODB_WRITES):
        actions = ["kms:Decrypt"]
        if operation in DYNAMODB_WRITES:
            actions.append("kms:GenerateDataKey")
        for arn in resources_of(service, operation, request, account, region):
            if arn == "*":
                continue
            table = arn.split(":table/", 1)[1].split("/", 1)[0]
            key = table_key(table, account, region)
            if key is not None:
                encryption = {
                    "kms:EncryptionContext:aws:dynamodb:tableName": table,
                    "kms:EncryptionContext:aws:dynamodb:subscriberId": account,
                }
                checks += [(key, action, encryption) for action in actions]
    elif service == "sqs" and operation in SQS_KMS_ACTIONS:
        arn = resources_of(service, operation, request, account, region)[0]
        key = queue_key(arn) if arn != "*" else None
        if key is not None:
            encryption = {"kms:EncryptionContext:aws:sqs:arn": arn}
            checks += [(key, action, encryption) for action in SQS_KMS_ACTIONS[operation]]
    elif service == "sns" and operation == "Publish" and request.get("TopicArn"):
        key = topic_key(request["TopicArn"], account, region)
        if key is not None:
            encryption = {"kms:EncryptionContext:aws:sns:topicArn": request["TopicArn"]}
            checks += [(key, a, encryption) for a in ("kms:GenerateDataKey", "kms:Decrypt")]
    return checks


# ------------------------------------------------------------------ errors


def denied_error(service: str, caller: Caller, action: str, resource: str, decision: Decision):
    """The service's own access-denied error, naming which kind of policy denied."""
    from localstack.aws.api import CommonServiceException
    from localstack.aws.api.sns import AuthorizationErrorException

    shown = {"sqs": action.lower(), "sns": action.replace("sns:", "SNS:")}.get(service, action)
    kind = "resource-based" if decision.policy == RESOURCE_POLICY else "identity-based"
    reason = (
        f"with an explicit deny in a{'n' if kind[0] == 'i' else ''} {kind} policy"
        if decision.effect == DENY
        else f"because no {kind} policy allows the {shown} action"
    )
    message = (
        f"User: {caller.session_arn} is not authorized to perform: {shown} on resource: "
        f"{resource} {reason}"
    )
    if service == "sns":
        return AuthorizationErrorException(message)
    if service == "sqs":  # the JSON protocol's query error header turns it into AccessDenied
        return CommonServiceException("AccessDeniedException", message, 403, True)
    if service == "cloudwatch":
        return CommonServiceException("AccessDenied", message, 403, True)
    status = 403 if service == "lambda" else 400
    return CommonServiceException("AccessDeniedException", message, status, True)


def kms_denied_error(service: str):
    from localstack.aws.api import CommonServiceException
    from localstack.aws.api.sns import KMSAccessDeniedException

    text = KMS_DENIED_TEXT.format(request_id=uuid.uuid4())
    if service == "sns":
        return KMSAccessDeniedException(text)
    if service == "sqs":
        return CommonServiceException("KMS.AccessDeniedException", text, 400, True)
    exception = "com.amazonaws.services.kms.model.AWSKMSException"
    message = f"KMS key access denied error: {exception}: {text}"
    return CommonServiceException("AccessDeniedException", message, 400, True)


# ------------------------------------------------------------------ the policy log


class PolicyLog:
    """Appends one JSON line per evaluated call; thread-safe.

    The file is opened once (line-buffered, so a reader sees every line at once), not on every
    request: this runs on the gateway's hot path.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: Any = None

    def restart(self) -> None:
        """Empty the log: a new LocalStack process is a new sandbox state (no persistence)."""
        self._open("w")

    def _open(self, mode: str) -> None:
        if self.path is None:
            return
        with self._lock:
            try:
                self._file = self.path.open(mode, buffering=1)
            except OSError as e:
                LOG.warning("iam_enforcement: cannot open %s: %s", self.path, e)

    def write(self, **entry: Any) -> None:
        if self.path is None:
            return
        if self._file is None:
            self._open("a")
        line = json.dumps({"time": datetime.now(UTC).isoformat(), **entry}) + "\n"
        with self._lock:
            try:
                self._file.write(line)
            except (OSError, AttributeError, ValueError) as e:  # never fail a request
                LOG.warning("iam_enforcement: cannot write %s: %s", self.path, e)


def log_path() -> Path | None:
    home = os.environ.get("SANDBOX_HOME")
    return Path(home) / LOG_NAME if home else None


@dataclass(eq=False)
class Enforcer:
    enforce: bool = True
    log: PolicyLog = field(default_factory=lambda: PolicyLog(log_path()))

    def __call__(self, chain: HandlerChain, context: RequestContext, response: Response) -> None:
        if not INTERNALS_CHECKED.is_set():
            check_internals_once()
        if context.service is None or context.operation is None:
            return
        if (context.service.service_name, context.operation.name) == (
            "lambda",
            "CreateEventSourceMapping",
        ):
            self._check_mapping_role(context)
        if context.is_internal_call and not signed_by_a_function(context):
            return  # LocalStack's own clients; a function cannot pass itself off as one
        caller = caller_of(context)
        if caller is None:
            return
        service, operation = context.service.service_name, context.operation.name
        action = iam_action(service, operation)
        if action in NEEDS_NO_PERMISSION:
            return
        request = dict(context.service_request or {})
        account, region = context.account_id, context.region
        resources = resources_of(service, operation, request, account, region)
        if service not in ENFORCED_SERVICES:
            for resource in resources:
                self._record(caller, action, resource, Decision("not-enforced"))
            return
        policies = role_policies(caller.account, caller.role_name)
        base = request_context(caller, region)
        for resource in resources:
            decision = call_decision(policies, caller, service, action, resource, base)
            self._record(caller, action, resource, decision)
            if decision.effect != ALLOW and self.enforce:
                raise denied_error(service, caller, action, resource, decision)
        via = f"{service}.{region}.amazonaws.com"
        for key, kms_action, encryption in implied_kms(
            service, operation, request, account, region
        ):
            values = {**base, **encryption, "kms:ViaService": via, "kms:CallerAccount": account}
            decision = kms_decision(policies, caller, key, kms_action, values)
            self._record(caller, kms_action, key.arn, decision, via=action)
            if decision.effect != ALLOW and self.enforce:
                raise kms_denied_error(service)

    def _check_mapping_role(self, context: RequestContext) -> None:
        """AWS refuses an SQS mapping whose function's role cannot poll the queue (any caller)."""
        from localstack.aws.api import CommonServiceException

        request = dict(context.service_request or {})
        queue = str(request.get("EventSourceArn") or "")
        caller = function_role(str(request.get("FunctionName") or ""), context)
        if not queue.startswith("arn:aws:sqs:") or caller is None:
            return
        policies = role_policies(caller.account, caller.role_name)
        base = request_context(caller, context.region)
        for operation in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes"):
            action = f"sqs:{operation}"
            decision = call_decision(policies, caller, "sqs", action, queue, base)
            self._record(caller, action, queue, decision, via="lambda:CreateEventSourceMapping")
            if decision.effect != ALLOW and self.enforce:
                raise CommonServiceException(
                    "InvalidParameterValueException",
                    f"The function execution role does not have permissions to call {operation} "
                    "on SQS",
                    400,
                    True,
                )

    def _record(self, caller: Caller, action: str, resource: str, decision: Decision, **extra):
        effect = decision.effect
        if not self.enforce and effect in (DENY, IMPLICIT):
            effect = f"would-{effect}"
        self.log.write(
            principal=caller.session_arn,
            role=caller.role_arn,
            action=action,
            resource=resource,
            decision=effect,
            sid=decision.sid,
            policy=decision.policy,
            **extra,
        )


def request_context(caller: Caller, region: str) -> dict[str, Any]:
    """Global condition keys of a function's own call (no aws:SourceArn/SourceAccount)."""
    return {
        "aws:PrincipalArn": caller.role_arn,
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalType": "AssumedRole",
        "aws:RequestedRegion": region,
        "aws:SecureTransport": "true",
        "aws:CurrentTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(datetime.now(UTC).timestamp())),
    }


def call_decision(
    policies: list[tuple[str, dict]],
    caller: Caller,
    service: str,
    action: str,
    resource: str,
    context: dict[str, Any],
) -> Decision:
    """A function's own call: identity policies, with the resource's policy where it has one."""
    if service == "kms":
        parts = resource.split(":")
        key = customer_managed_key(resource, parts[4], parts[3]) if len(parts) > 5 else None
        if key is not None:
            return kms_decision(policies, caller, key, action, context)
    identity = evaluate(policies, action, resource, context)
    document = resource_policy(service, resource)
    return resource_policy_decision(identity, document, caller, action, resource, context)


def resource_policy_decision(
    identity: Decision,
    document: dict | None,
    caller: Caller,
    action: str,
    resource: str,
    context: dict[str, Any],
) -> Decision:
    """AWS's rules for identity + resource-based policies (not KMS, see `kms_decision`).

    Any explicit Deny denies. Same account: either policy may allow, but a resource policy
    naming only the account root delegates to IAM. Another account's resource: both must allow
    (the resource policy naming the role, its session, `*` or the caller's account).
    """
    parts = resource.split(":")
    same_account = len(parts) < 5 or parts[4] in ("", caller.account)
    if document is None:
        return identity if same_account else Decision(IMPLICIT, None, RESOURCE_POLICY)
    principals = (caller.role_arn, caller.session_arn)
    kind, sid = key_policy_decision(document, principals, caller.account, action, resource, context)
    if kind == DENY:
        return Decision(DENY, sid, RESOURCE_POLICY)
    if identity.effect == DENY:
        return identity
    if same_account:
        return Decision(ALLOW, sid, RESOURCE_POLICY) if kind == "direct" else identity
    if kind in ("direct", "root") and identity.effect == ALLOW:
        return identity
    return Decision(IMPLICIT, None, RESOURCE_POLICY if kind == IMPLICIT else None)


def kms_decision(
    policies: list[tuple[str, dict]], caller: Caller, key: Key, action: str, values: dict
) -> Decision:
    """Key policy AND (direct grant OR root delegation + identity policy); any Deny denies."""
    principals = (caller.role_arn, caller.session_arn)
    kind, sid = key_policy_decision(key.policy, principals, caller.account, action, key.arn, values)
    identity = evaluate(policies, action, key.arn, values)
    if kind == DENY:
        return Decision(DENY, sid, RESOURCE_POLICY)
    if identity.effect == DENY:
        return identity
    if kind == "direct":
        return Decision(ALLOW, sid, RESOURCE_POLICY)
    if kind == "root" and identity.effect == ALLOW:
        return identity
    return Decision(IMPLICIT, None, RESOURCE_POLICY if kind == IMPLICIT else None)


ENFORCER = Enforcer()


def enforcement_enabled() -> bool:
    return os.environ.get(ENABLE_SETTING, "1").strip().lower() not in ("0", "false", "no", "off")


def check_internals() -> None:
    """Import every internal the enforcer relies on; raises (naming it) when one is missing."""
    patching.check(INTERNALS)
    from localstack.aws import handlers
    from localstack.aws.api import CommonServiceException, RequestContext
    from localstack.aws.api.sns import AuthorizationErrorException, KMSAccessDeniedException
    from localstack.services.iam.models import RoleEntity, iam_stores
    from localstack.services.kms.models import kms_stores
    from localstack.services.sns.models import sns_stores
    from localstack.services.sts.models import TemporaryCredentials, sts_stores
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header
    from moto.dynamodb.models import dynamodb_backends
    from moto.iam.access_control import IAMPolicyStatement

    assert isinstance(handlers.serve_custom_service_request_handlers.handlers, list)
    assert hasattr(IAMPolicyStatement, "_check_element_matches")
    for cls, attributes in (
        (RoleEntity, ("role", "inline_policies", "attached_policy_arns")),
        (TemporaryCredentials, ("arn", "account_id")),
    ):
        missing = [a for a in attributes if a not in cls.__dataclass_fields__]
        assert not missing, f"{cls.__name__} lost {missing}"
    assert hasattr(RequestContext(None), "service_request")
    from localstack.services.lambda_.invocation.execution_environment import ExecutionEnvironment

    assert callable(ExecutionEnvironment.get_credentials)
    del CommonServiceException, AuthorizationErrorException, KMSAccessDeniedException
    del iam_stores, kms_stores, sns_stores, sts_stores, dynamodb_backends
    del extract_access_key_id_from_auth_header


INTERNALS_CHECKED = threading.Event()
_CHECKING = threading.Lock()


def check_internals_once() -> None:
    """`check_internals` before the first request is evaluated; until it passes, every request
    fails with the error (logged as a plugin error)."""
    with _CHECKING:
        if INTERNALS_CHECKED.is_set():
            return
        try:
            check_internals()
        except Exception as e:
            patching.plugin_error(LOG, "iam_enforcement: LocalStack internals missing")
            message = f"sandbox iam_enforcement: LocalStack internals missing: {e!r}"
            raise RuntimeError(message) from e
        INTERNALS_CHECKED.set()


def register(enforcer: Enforcer = ENFORCER) -> None:
    from localstack.aws import handlers

    steps = handlers.serve_custom_service_request_handlers.handlers
    if enforcer not in steps:
        steps.append(enforcer)


@hooks.on_infra_start()
def register_iam_enforcement() -> None:
    """Add the enforcer after request parsing (always: it logs); its internals are checked on the
    first request. A module gone altogether stops the start-up."""
    try:
        patching.check(INTERNALS, import_modules=False)
    except Exception as e:  # raised out of LocalStack's start-up hooks: the sandbox does not start
        raise RuntimeError(f"sandbox iam_enforcement: LocalStack internals missing: {e!r}") from e
    patching.when_provider_loads("lambda", patch_function_credentials, LAMBDA_PROVIDER)
    ENFORCER.enforce = enforcement_enabled()
    ENFORCER.log = PolicyLog(log_path())
    ENFORCER.log.restart()
    register(ENFORCER)
    LOG.info("sandbox iam_enforcement: enforce=%s log=%s", ENFORCER.enforce, ENFORCER.log.path)
