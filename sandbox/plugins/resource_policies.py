"""Service-to-service deliveries follow resource policies, as on AWS; each check is logged.

Why: LocalStack's open-source core ignores resource-based policies, so a queue whose policy
admits another topic, or a Lambda permission naming another API route, works in the sandbox and
fails only on AWS.

Checked (same evaluator as `iam_enforcement`: explicit Deny wins, else an Allow is needed; the
principal is the service, `{"Service": "<service>.amazonaws.com"}`; condition keys
aws:SourceArn, aws:SourceAccount, aws:SecureTransport):
- SNS → SQS: sqs:SendMessage on the queue, principal sns.amazonaws.com, aws:SourceArn = topic
  ARN, against the queue's `Policy` attribute. A denial is a failed delivery (the publisher's
  delivery failure path: delivery log, subscription redrive policy / DLQ). A queue without a
  policy gets nothing, as on AWS (logged with policy "no-policy"; `harness.aws.admit_topic`
  gives a test queue the policy it needs). The subscription's own DLQ needs one too.
- API Gateway → Lambda (REST API AWS_PROXY / AWS integrations): lambda:InvokeFunction,
  principal apigateway.amazonaws.com, aws:SourceArn =
  `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD><path>`, against the
  function's resource policy (its qualifier's, else `$LATEST`); no permission at all is a
  denial too, as on AWS. A denial is Lambda's
  `AccessDeniedException`, which the integration turns into 500 "Internal server error".
- CloudWatch alarm → SNS: sns:Publish, principal cloudwatch.amazonaws.com, aws:SourceArn = alarm
  ARN, aws:SourceAccount = alarm account, against the topic's `Policy`. The default topic policy
  (Id `__default_policy_ID`, which admits the owner account's alarms) is not evaluated: allowed.
  Denied → the alarm action fails (logged by LocalStack), nothing is published.

Customer managed keys of the target (no IAM for service principals: the key policy alone
decides, statements naming `<service>.amazonaws.com` with the same condition keys plus
kms:EncryptionContext:*): SNS → an SSE-KMS queue and alarm → an encrypted topic need
kms:GenerateDataKey + kms:Decrypt for sns / cloudwatch (denied: the delivery fails, SQS
`KMS.AccessDeniedException`, SNS `KMSAccessDenied`); CreateLogGroup / AssociateKmsKey with a
key (any caller, Terraform included) need them for `logs.<region>.amazonaws.com` with
kms:EncryptionContext:aws:logs:arn = the group's ARN, else AWS's `AccessDeniedException` "The
specified KMS key does not exist or is not allowed to be used with Arn '...'".

SANDBOX_ENFORCE_IAM=0: checked and logged ("would-..."), never denied. Lines go to the policy log
of `iam_enforcement` (`$SANDBOX_HOME/iam-policy.log`) with `principal` = the service principal.

Relies on these internals of localstack-core 2026.3.0 (checked by
tests/sandbox/plugins/test_resource_policies.py and at start-up):
- `RequestContext.internal_request_params` (`service_principal`, `source_arn`) that LocalStack's
  internal clients send (`connect_to(...).<svc>.request_metadata(...)`): SNS's
  `SqsTopicPublisher._publish` (service_principal "sns", source_arn = topic ARN) and API
  Gateway's `RestApiAwsProxyIntegration.call_lambda` (service_principal "apigateway");
- `localstack.services.sqs.models.sqs_stores[account][region].queues[name].attributes`;
- `localstack.services.lambda_.invocation.models.lambda_stores[account][region].functions[name]
  .permissions[qualifier].policy.Statement`;
- `localstack.services.sns.models.sns_stores[account][region].topics[arn]["attributes"]`;
- `localstack.services.cloudwatch.provider_v2`: module global `connect_to` (used by
  `set_alarm_state` to publish alarm actions) and `CloudwatchProvider.set_alarm_state`, wrapped
  here to send service_principal "cloudwatch" + the alarm ARN. Composite alarm actions are not
  covered.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localstack.runtime import hooks

from sandbox.plugins import iam_enforcement, patching
from sandbox.plugins.iam_enforcement import ALLOW, DENY, IMPLICIT, Decision, Key, evaluate
from sandbox.plugins.patching import Target

if TYPE_CHECKING:
    from localstack.aws.api import RequestContext
    from localstack.http import Response
    from rolo.gateway.chain import HandlerChain

LOG = logging.getLogger(__name__)
DEFAULT_TOPIC_POLICY_ID = "__default_policy_ID"
NO_POLICY = "no-policy"
# What a service needs of a customer managed key to write what it encrypts and read it back
SERVICE_KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
LOG_GROUP_KEY_OPERATIONS = frozenset({"CreateLogGroup", "AssociateKmsKey"})
CLOUDWATCH = "localstack.services.cloudwatch.provider_v2"
SET_ALARM_STATE = Target(
    f"{CLOUDWATCH}:CloudwatchProvider.set_alarm_state", params=("self", "context", "alarm_name")
)
ALARM_CONNECT_TO = Target(f"{CLOUDWATCH}:connect_to")
INTERNALS = (
    SET_ALARM_STATE,
    ALARM_CONNECT_TO,
    Target("localstack.aws.connect:connect_to"),
    Target("localstack.aws.handlers:serve_custom_service_request_handlers.handlers"),
    Target("localstack.services.sqs.models:sqs_stores"),
    Target("localstack.services.sqs.models:SqsQueue.attributes"),
    Target("localstack.services.lambda_.invocation.models:lambda_stores"),
    Target("localstack.services.lambda_.invocation.lambda_models:Function.permissions"),
    Target("localstack.services.lambda_.invocation.lambda_models:FunctionResourcePolicy.policy"),
    Target("localstack.services.sns.models:sns_stores"),
    Target("localstack.aws.api:CommonServiceException"),
    Target("localstack.aws.api.sns:AuthorizationErrorException"),
)


def service_policy_decision(
    document: dict, service: str, action: str, resource: str, context: dict[str, Any]
) -> Decision:
    """Resource-policy evaluation for a service principal: only statements naming it count."""
    principal_name = f"{service}.amazonaws.com"
    relevant = []
    for data in iam_enforcement._as_list(document.get("Statement")):
        principal = data.get("Principal")
        if principal == "*":
            names = {"*"}
        elif isinstance(principal, dict):
            names = {str(p) for p in iam_enforcement._as_list(principal.get("Service"))}
            names |= {"*"} & {str(p) for p in iam_enforcement._as_list(principal.get("AWS"))}
        else:
            names = set()
        if names & {principal_name, "*"}:
            relevant.append(data)
    return evaluate([("resource policy", {"Statement": relevant})], action, resource, context)


def condition_context(source_arn: str | None, service: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "aws:SecureTransport": "true",
        "aws:PrincipalServiceName": f"{service}.amazonaws.com",
    }
    if source_arn:
        values["aws:SourceArn"] = source_arn
        parts = source_arn.split(":")
        if len(parts) > 4 and parts[4]:
            values["aws:SourceAccount"] = parts[4]
    return values


# ------------------------------------------------------------------ the check


@dataclass(frozen=True)
class Check:
    service: str  # the calling service (principal <service>.amazonaws.com)
    action: str
    resource: str
    policy: dict | None  # None: the resource has no policy
    key: Key | None = None  # the target's customer managed key: its policy must admit the service
    encryption: dict[str, str] = field(default_factory=dict)  # kms:EncryptionContext:* keys


def check_of(context: RequestContext) -> Check | None:
    """The resource-policy check an internal service-to-service call needs, or None."""
    params = context.internal_request_params or {}
    principal = params.get("service_principal")
    if not principal or context.service is None or context.operation is None:
        return None
    service, operation = context.service.service_name, context.operation.name
    request = dict(context.service_request or {})
    account, region = context.account_id, context.region
    if principal == "sns" and service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        arn = iam_enforcement.resources_of("sqs", operation, request, account, region)[0]
        if arn == "*":
            return None
        _, _, _, q_region, q_account, name = arn.split(":", 5)
        document = iam_enforcement.queue_policy(name, q_account, q_region)
        key = iam_enforcement.queue_key(arn)
        return Check("sns", "sqs:SendMessage", arn, document, key, {"aws:sqs:arn": arn})
    if principal == "apigateway" and service == "lambda" and operation == "Invoke":
        arn = iam_enforcement.resources_of("lambda", operation, request, account, region)[0]
        document = iam_enforcement.function_policy(
            request.get("FunctionName", ""), request.get("Qualifier"), account, region
        )
        return Check("apigateway", "lambda:InvokeFunction", arn, document)
    if principal == "cloudwatch" and service == "sns" and operation == "Publish":
        arn = request.get("TopicArn")
        if not arn:
            return None
        parts = arn.split(":")
        document = iam_enforcement.topic_policy(arn, parts[4], parts[3])
        if document is not None and document.get("Id") == DEFAULT_TOPIC_POLICY_ID:
            document = None
        key = iam_enforcement.topic_key(arn, parts[4], parts[3])
        return Check("cloudwatch", "sns:Publish", arn, document, key, {"aws:sns:topicArn": arn})
    return None


def denied_error(check: Check, source_arn: str | None):
    from localstack.aws.api import CommonServiceException
    from localstack.aws.api.sns import AuthorizationErrorException

    principal = f"{check.service}.amazonaws.com"
    message = (
        f"The service principal {principal} is not authorized to perform: {check.action} on "
        f"resource: {check.resource} (source {source_arn}): denied by its resource-based policy"
    )
    if check.action.startswith("sns:"):
        return AuthorizationErrorException(message)
    if check.action.startswith("sqs:"):
        return CommonServiceException("AccessDeniedException", message, 403, True)
    return CommonServiceException("AccessDeniedException", message, 403, True)


def kms_denied(check: Check):
    """The target's key refused the service: the delivery fails as AWS fails it."""
    from localstack.aws.api import CommonServiceException
    from localstack.aws.api.sns import KMSAccessDeniedException

    message = (
        f"The service principal {check.service}.amazonaws.com is not allowed to use the KMS key "
        f"of {check.resource} (its key policy does not admit it)"
    )
    if check.action.startswith("sns:"):
        return KMSAccessDeniedException(message)
    return CommonServiceException("KMS.AccessDeniedException", message, 400, True)


class ResourcePolicyEnforcer:
    def __init__(self, enforce: bool | None = None) -> None:
        self._enforce = enforce

    @property
    def enforce(self) -> bool:
        return iam_enforcement.ENFORCER.enforce if self._enforce is None else self._enforce

    def __call__(self, chain: HandlerChain, context: RequestContext, response: Response) -> None:
        if not context.is_internal_call:
            self._check_log_group_key(context)
            return
        check = check_of(context)
        if check is None:
            return
        source_arn = (context.internal_request_params or {}).get("source_arn")
        if check.service == "sns" and source_arn and source_arn.count(":") == 6:
            # LocalStack's subscription-DLQ redrive names the subscription; AWS the topic
            source_arn = source_arn.rsplit(":", 1)[0]
        if check.policy is None and check.service == "cloudwatch":
            decision = Decision(ALLOW, None, DEFAULT_TOPIC_POLICY_ID)  # admits the owner's alarms
        elif check.policy is None:
            decision = Decision(IMPLICIT, None, NO_POLICY)  # AWS: no policy, no delivery
        else:
            values = condition_context(source_arn, check.service)
            decision = service_policy_decision(
                check.policy, check.service, check.action, check.resource, values
            )
        self._record(check, source_arn, decision)
        if decision.effect != ALLOW and self.enforce:
            raise denied_error(check, source_arn)
        if check.key is not None:
            context_keys = condition_context(source_arn, check.service)
            self._check_key(check.service, check.key, check.encryption, context_keys, check)

    def _check_key(
        self,
        principal: str,
        key: Key,
        encryption: dict[str, str],
        values: dict[str, Any],
        check: Check | None,
    ) -> bool:
        """The key policy must admit the service principal (no IAM for services); logged."""
        values = {**values, **{f"kms:EncryptionContext:{k}": v for k, v in encryption.items()}}
        for action in SERVICE_KMS_ACTIONS:
            decision = service_policy_decision(key.policy, principal, action, key.arn, values)
            effect = decision.effect
            if not self.enforce and effect != ALLOW:
                effect = f"would-{effect}"
            iam_enforcement.ENFORCER.log.write(
                principal=f"{principal}.amazonaws.com",
                role=None,
                action=action,
                resource=key.arn,
                decision=effect,
                sid=decision.sid,
                policy="key policy",
                source_arn=values.get("aws:SourceArn"),
                via=check.action if check else None,
            )
            if decision.effect != ALLOW and self.enforce:
                if check is None:
                    return False
                raise kms_denied(check)
        return True

    def _check_log_group_key(self, context: RequestContext) -> None:
        """CreateLogGroup/AssociateKmsKey with a CMK: AWS refuses a key Logs may not use."""
        if context.service is None or context.service.service_name != "logs":
            return
        if context.operation is None or context.operation.name not in LOG_GROUP_KEY_OPERATIONS:
            return
        request = dict(context.service_request or {})
        account, region = context.account_id, context.region
        key = iam_enforcement.customer_managed_key(request.get("kmsKeyId"), account, region)
        group = request.get("logGroupName")
        if key is None or not group:
            return
        arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
        values = {"aws:SecureTransport": "true", "aws:SourceAccount": account}
        if not self._check_key(f"logs.{region}", key, {"aws:logs:arn": arn}, values, None):
            from localstack.aws.api import CommonServiceException

            raise CommonServiceException(
                "AccessDeniedException",
                f"The specified KMS key does not exist or is not allowed to be used with Arn "
                f"'{arn}'",
                400,
                True,
            )

    def _record(self, check: Check, source_arn: str | None, decision: Decision) -> None:
        effect = decision.effect
        if not self.enforce and effect != ALLOW:
            effect = f"would-{effect}"
        iam_enforcement.ENFORCER.log.write(
            principal=f"{check.service}.amazonaws.com",
            role=None,
            action=check.action,
            resource=check.resource,
            decision=effect,
            sid=decision.sid,
            policy="resource policy" if decision.effect in (ALLOW, DENY) else decision.policy,
            source_arn=source_arn,
        )


ENFORCER = ResourcePolicyEnforcer()

# ------------------------------------------------------------------ CloudWatch alarm actions

_ALARM = threading.local()


class _AlarmClients:
    """`connect_to(...)` whose `.sns` client says "cloudwatch, for this alarm"."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        client = getattr(self._factory, name)
        if name == "sns":
            arn = getattr(_ALARM, "arn", None)
            return client.request_metadata(service_principal="cloudwatch", source_arn=arn)
        return client


def _connect_to(*args: Any, **kwargs: Any) -> Any:
    from localstack.aws.connect import connect_to

    return _AlarmClients(connect_to(*args, **kwargs))


def patch_alarm_actions() -> None:
    @patching.wrap(SET_ALARM_STATE)
    def set_alarm_state(original, self, context, alarm_name, *args, **kwargs):
        _ALARM.arn = f"arn:aws:cloudwatch:{context.region}:{context.account_id}:alarm:{alarm_name}"
        try:
            return original(self, context, alarm_name, *args, **kwargs)
        finally:
            _ALARM.arn = None

    patching.replace(ALARM_CONNECT_TO, _connect_to)


def check_internals() -> None:
    patching.check(INTERNALS)
    from localstack.aws.api import RequestContext
    from localstack.services.cloudwatch import provider_v2
    from localstack.services.lambda_.invocation.lambda_models import (
        Function,
        FunctionResourcePolicy,
    )
    from localstack.services.lambda_.invocation.models import lambda_stores
    from localstack.services.sns.models import sns_stores
    from localstack.services.sqs.models import sqs_stores

    assert hasattr(RequestContext(None), "internal_request_params")
    assert "permissions" in Function.__dataclass_fields__
    assert "policy" in FunctionResourcePolicy.__dataclass_fields__
    assert hasattr(provider_v2, "connect_to")
    assert hasattr(provider_v2.CloudwatchProvider, "set_alarm_state")
    del lambda_stores, sns_stores, sqs_stores


def register(enforcer: ResourcePolicyEnforcer = ENFORCER) -> None:
    from localstack.aws import handlers

    steps = handlers.serve_custom_service_request_handlers.handlers
    if enforcer not in steps:
        steps.append(enforcer)


@hooks.on_infra_start()
def register_resource_policies() -> None:
    try:
        check_internals()
    except Exception as e:
        raise RuntimeError(f"sandbox resource_policies: LocalStack internals missing: {e!r}") from e
    patch_alarm_actions()
    register(ENFORCER)
    LOG.info("sandbox resource_policies: registered")
