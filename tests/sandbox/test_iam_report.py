"""`make iam-report`: per role (and service principal), what was used against what is granted."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sandbox import iam_report

ROLE = "arn:aws:iam::000000000000:role/notif-sandbox-processor"
TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/notifications"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:notif-high"
TOPIC = "arn:aws:sns:us-east-1:000000000000:notifications"
POLICY = {
    "Statement": [
        {"Sid": "Store", "Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE},
        {"Sid": "Extra", "Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": TABLE},
    ]
}
ENTRIES = [
    {"principal": f"{ROLE}/fn", "role": ROLE, "action": "dynamodb:PutItem", "resource": TABLE,
     "decision": "allow"},
    {"principal": f"{ROLE}/fn", "role": ROLE, "action": "dynamodb:GetItem", "resource": TABLE,
     "decision": "implicit-deny"},
    {"principal": "sns.amazonaws.com", "role": None, "action": "sqs:SendMessage",
     "resource": QUEUE, "decision": "allow", "source_arn": TOPIC},
]  # fmt: skip


def test_roles_and_service_principals_are_reported_apart() -> None:
    out = io.StringIO()
    iam_report.report(ENTRIES, lambda role: [("inline", POLICY)] if role == ROLE else None, out)
    text = out.getvalue()
    role_part, service_part = text.split("\nsns.amazonaws.com\n")
    assert f"allow               1  dynamodb:PutItem  {TABLE}" in role_part
    assert f"granted, unused:\n    dynamodb:DeleteItem  {TABLE}  (inline [Extra])" in role_part
    assert f"missing (denied for want of an Allow):\n    dynamodb:GetItem  {TABLE}" in role_part
    assert f"allow               1  sqs:SendMessage  {QUEUE}" in service_part
    assert f"on behalf of: {TOPIC}" in service_part
    assert "grants: the resources' policies (a service principal)" in service_part


def test_main_reads_the_log_and_filters(tmp_path: Path, monkeypatch, capsys) -> None:
    log = tmp_path / "iam-policy.log"
    log.write_text("".join(json.dumps(e) + "\n" for e in ENTRIES) + '{"cut by a cra')
    monkeypatch.setattr(iam_report, "role_documents", lambda config, role: [("inline", POLICY)])
    assert iam_report.main(["--log", str(log), "--role", "sns.amazonaws"]) == 0
    shown = capsys.readouterr().out
    assert "sns.amazonaws.com" in shown and ROLE not in shown
    assert iam_report.main(["--log", str(tmp_path / "absent.log")]) == 1
    assert "no policy log at" in capsys.readouterr().out


@pytest.mark.parametrize("entry", ENTRIES)
def test_each_line_has_a_caller(entry: dict) -> None:
    assert iam_report.caller_of(entry) in (ROLE, "sns.amazonaws.com")
