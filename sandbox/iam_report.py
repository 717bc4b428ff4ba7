"""Per role: the actions its sessions used (allowed/denied, counts) against what its policies grant.

`python -m sandbox.iam_report` (or `make iam-report`) reads `<SANDBOX_HOME>/iam-policy.log`, the
policy log of sandbox/plugins/iam_enforcement.py, and the roles' policies from the running
sandbox (IAM API with the root test credentials). Grants no logged call used show up as
"granted, unused" (candidates for least privilege), denied calls as "missing".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from sandbox.config import SandboxConfig
from sandbox.plugins.iam_enforcement import LOG_NAME, _glob


@dataclass(frozen=True)
class Grant:
    action: str  # pattern, as written in the policy
    resource: str  # pattern
    sid: str | None
    policy: str


def read_log(path: Path) -> list[dict]:
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    return entries


def grants_of(documents: Iterable[tuple[str, dict]]) -> list[Grant]:
    """The (action, resource) pairs Allow statements grant (NotAction/NotResource as written)."""
    grants = []
    for policy_name, document in documents:
        statements = document.get("Statement") or []
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action") or [f"NOT {statement.get('NotAction')}"]
            resources = statement.get("Resource") or [f"NOT {statement.get('NotResource')}"]
            for action in actions if isinstance(actions, list) else [actions]:
                for resource in resources if isinstance(resources, list) else [resources]:
                    grants.append(Grant(action, resource, statement.get("Sid"), policy_name))
    return grants


def role_documents(config: SandboxConfig, role_arn: str) -> list[tuple[str, dict]] | None:
    """The role's policy documents from the sandbox; None when it cannot be asked."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    env = config.client_env()
    iam = boto3.client(
        "iam",
        endpoint_url=config.endpoint,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    name = role_arn.rsplit("/", 1)[-1]
    try:
        iam.get_role(RoleName=name)
        documents = []
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            documents.append((policy_name, _document(document)))
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            documents.append((arn, _document(document["Document"])))
        return documents
    except (BotoCoreError, ClientError):
        return None


def _document(value: str | dict) -> dict:
    return value if isinstance(value, dict) else json.loads(unquote(value))


def _covers(grant: Grant, action: str, resource: str) -> bool:
    if grant.action.startswith("NOT ") or grant.resource.startswith("NOT "):
        return False  # not attributed: shown as granted, never as unused
    return _glob(grant.action, action, ignore_case=True) and _glob(grant.resource, resource)


def caller_of(entry: dict) -> str:
    """The role of a function's call; the service principal of a service-to-service delivery."""
    return entry.get("role") or entry.get("principal") or "?"


def report(entries: list[dict], documents_of, out=None) -> None:
    out = out or sys.stdout
    by_role: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        by_role[caller_of(entry)].append(entry)
    if not by_role:
        print("no evaluated calls in the policy log", file=out)
    for role in sorted(by_role):
        used = Counter(
            (e["action"], e["resource"], e["decision"], e.get("via")) for e in by_role[role]
        )
        print(f"\n{role}", file=out)
        print("  used:", file=out)
        for (action, resource, decision, via), count in sorted(used.items()):
            note = f"  (for {via})" if via else ""
            print(f"    {decision:<14} {count:>6}  {action}  {resource}{note}", file=out)
        sources = sorted({e["source_arn"] for e in by_role[role] if e.get("source_arn")})
        if sources:
            print(f"  on behalf of: {', '.join(sources)}", file=out)
        if not role.startswith("arn:"):
            print("  grants: the resources' policies (a service principal)", file=out)
            continue
        documents = documents_of(role)
        if documents is None:
            print("  grants: unknown (role not found or sandbox not running)", file=out)
            continue
        grants = grants_of(documents)
        allowed = {(a, r) for a, r, d, _ in used if d == "allow"}
        unused = [g for g in grants if not any(_covers(g, a, r) for a, r in allowed)]
        print("  granted, unused:" + ("" if unused else " none"), file=out)
        for grant in unused:
            sid = f" [{grant.sid}]" if grant.sid else ""
            print(f"    {grant.action}  {grant.resource}  ({grant.policy}{sid})", file=out)
        missing = sorted(
            {(a, r) for a, r, d, _ in used if d in ("implicit-deny", "would-implicit-deny")}
        )
        print("  missing (denied for want of an Allow):" + ("" if missing else " none"), file=out)
        for action, resource in missing:
            print(f"    {action}  {resource}", file=out)
        explicit = sorted({(a, r) for a, r, d, _ in used if d in ("deny", "would-deny")})
        for action, resource in explicit:
            print(f"    explicitly denied: {action}  {resource}", file=out)


def main(argv: list[str] | None = None) -> int:
    config = SandboxConfig.from_env()
    parser = argparse.ArgumentParser(prog="python -m sandbox.iam_report", description=__doc__)
    parser.add_argument("--log", type=Path, default=config.home / LOG_NAME, help="policy log")
    parser.add_argument("--role", help="only roles whose ARN contains this text")
    args = parser.parse_args(argv)
    if not args.log.exists():
        print(f"no policy log at {args.log} (is the sandbox's IAM enforcement on?)")
        return 1
    entries = [e for e in read_log(args.log) if not args.role or args.role in caller_of(e)]
    report(entries, lambda role: role_documents(config, role))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
