"""Test-only copies of the stack's execution roles: the same trust and policies, one statement
less or a few more, so a variant function runs with what production has (and no more).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from harness.cleanup import Cleanups


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def decoded(document: str | dict[str, Any]) -> dict[str, Any]:
    """A policy document as IAM returns it (botocore decodes it; be lenient if not)."""
    return json.loads(unquote(document)) if isinstance(document, str) else document


def own_log_group(production: str, variant: str) -> Callable[[str], str]:
    """A `rename` for `copy_role`: the copy logs to the variant's log group, not production's."""
    pattern = re.compile(re.escape(f":log-group:/aws/lambda/{production}") + r'(?=[:"])')
    return lambda text: pattern.sub(f":log-group:/aws/lambda/{variant}", text)


def copy_role(
    iam: Any,
    source: str,
    name: str,
    without: str | None,
    rename: Callable[[str], str],
    cleanups: Cleanups,
    extra: list[dict[str, Any]] | None = None,
) -> tuple[str, list[str]]:
    """Create role `name` as a copy of role `source` minus the statement with Sid `without`.

    Same trust policy; each inline policy copied (through `rename`, a text substitution); each
    attached managed policy attached too, or copied inline when it holds the statement. Returns
    the new role's ARN and the Sids it kept; fails unless exactly one statement was left out.
    `extra` statements go into one more inline policy, `test-only`.
    """
    role = iam.get_role(RoleName=source)["Role"]
    arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(decoded(role["AssumeRolePolicyDocument"])),
        Description=f"test-only copy of {source} without {without}",
    )["Role"]["Arn"]
    cleanups.append(lambda: iam.delete_role(RoleName=name))
    kept: list[str] = []
    dropped = 0

    def put(policy: str, document: dict[str, Any]) -> int:
        nonlocal kept
        statements_kept = [
            s for s in statements(document) if without is None or s.get("Sid") != without
        ]
        text = rename(json.dumps({**document, "Statement": statements_kept}))
        iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=text)
        cleanups.append(lambda: iam.delete_role_policy(RoleName=name, PolicyName=policy))
        kept += [str(s.get("Sid")) for s in statements_kept]
        return len(statements(document)) - len(statements_kept)

    for policy in iam.list_role_policies(RoleName=source)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=source, PolicyName=policy)["PolicyDocument"]
        dropped += put(policy, decoded(document))
    for attached in iam.list_attached_role_policies(RoleName=source)["AttachedPolicies"]:
        policy_arn = attached["PolicyArn"]
        version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        version = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)
        document = decoded(version["PolicyVersion"]["Document"])
        if without is not None and any(s.get("Sid") == without for s in statements(document)):
            dropped += put(f"copy-of-{attached['PolicyName']}", document)
        else:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
            cleanups.append(lambda a=policy_arn: iam.detach_role_policy(RoleName=name, PolicyArn=a))
            kept += [str(s.get("Sid")) for s in statements(document)]
    if extra:
        put("test-only", {"Version": "2012-10-17", "Statement": extra})
    assert dropped == (1 if without else 0), (
        f"{source} has {dropped} statement(s) with Sid {without!r}, not one (has "
        f"stack/functions.tf renamed it?); its other statements: {kept}"
    )
    return arn, kept
