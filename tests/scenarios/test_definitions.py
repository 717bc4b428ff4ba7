"""The scenario loader: the shipped definitions load, and mistakes fail early with a location.

No sandbox needed: only parsing and validation are exercised here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from notifications import priorities
from scenarios import definition
from scenarios.definition import (
    DefinitionError,
    Query,
    Reject,
    Send,
    load,
    load_all,
    parse,
)

SOURCE = Path("demo.yaml")


def scenario(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "demo",
        "title": "t",
        "about": "a",
        "users": [{"alias": "alice", "sender": True}, {"alias": "root", "admin": True}],
        "steps": [
            {"send": {"as": "alice", "message": "hi {priority}", "save": "n1"}},
            {"query": {"as": "root", "route": "by-id", "id": "n1"}, "expect": {"item": "n1"}},
        ],
    }
    return base | changes


def refused(data: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(DefinitionError) as caught:
        parse(data, SOURCE)
    for fragment in fragments:
        assert fragment in str(caught.value)
    return str(caught.value)


def test_the_shipped_definitions_load() -> None:
    scenarios = load_all()
    assert {"happy-path", "query", "invalid-payloads", "idempotency"} <= set(scenarios)
    for s in scenarios.values():
        assert s.title and s.about and s.steps and s.priorities


def test_priorities_come_from_the_functions_package() -> None:
    assert definition.PRIORITIES is priorities.PRIORITIES


def test_a_valid_definition_has_defaults() -> None:
    s = parse(scenario(), SOURCE)
    send, query = s.steps
    assert isinstance(send, Send) and isinstance(query, Query)
    assert (send.to, send.priority, send.status, send.times) == ("alice", "{priority}", 202, 1)
    assert (query.status, query.subject, query.item) == (200, "n1", "n1")
    assert s.priorities == priorities.PRIORITIES
    assert [u.admin for u in s.users] == [False, True]


def test_only_senders_may_send_or_reject() -> None:
    accepted = {"send": {"as": "root", "message": "m"}}
    refused(scenario(steps=[accepted]), "steps[0].send.as", "'root' may not send", "sender: true")
    reject = {"reject": {"as": "root", "base": {}, "cases": [{"name": "n", "errors": {"a": "b"}}]}}
    refused(scenario(steps=[reject]), "steps[0].reject.as", "'root' may not send")
    forbidden = {"send": {"as": "root", "message": "m"}, "expect": {"status": 403}}
    assert parse(scenario(steps=[forbidden]), SOURCE).steps[0].status == 403


def test_unknown_step_kind() -> None:
    refused(scenario(steps=[{"sned": {}}]), "steps[0]", "unknown step kind", "send, query, reject")


def test_unknown_priority_in_a_send() -> None:
    step = {"send": {"as": "alice", "message": "m", "priority": "urgent"}}
    refused(scenario(steps=[step]), "steps[0].send.priority", "'urgent'", "high, medium, low")


def test_unknown_priority_in_the_run_list() -> None:
    refused(scenario(priorities=["high", "critical"]), "priorities", "'critical'")


def test_unknown_queue_priority() -> None:
    step = {"send": {"as": "alice", "message": "m"}, "expect": {"queue": "fast"}}
    refused(scenario(steps=[step]), "expect.queue", "'fast'")


def test_a_reject_case_may_send_an_unknown_priority() -> None:
    step = {
        "reject": {
            "as": "alice",
            "base": {"priority": "{priority}"},
            "cases": [{"name": "bad", "set": {"priority": "urgent"}, "errors": {"priority": "x"}}],
        }
    }
    (reject,) = parse(scenario(steps=[step]), SOURCE).steps
    assert isinstance(reject, Reject)
    assert reject.cases[0].status == 400


def test_oversize_defaults_to_413() -> None:
    case = {"name": "big", "oversize": True, "errors": {"body": "too_large"}}
    step = {"reject": {"as": "alice", "base": {}, "cases": [case]}}
    (reject,) = parse(scenario(steps=[step]), SOURCE).steps
    assert isinstance(reject, Reject) and reject.cases[0].status == 413


def test_unquoted_null_error_code_is_refused() -> None:
    case = {"name": "n", "set": {"message": None}, "errors": {"message": None}}
    step = {"reject": {"as": "alice", "base": {}, "cases": [case]}}
    refused(scenario(steps=[step]), "cases[0].errors", "quote `null`")


def test_unknown_key_lists_the_allowed_ones() -> None:
    step = {"send": {"as": "alice", "message": "m", "prio": "high"}}
    refused(scenario(steps=[step]), "steps[0].send", "['prio']", "allowed: as, times")


def test_unknown_user_and_ref() -> None:
    refused(scenario(steps=[{"send": {"as": "carol", "message": "m"}}]), "unknown user 'carol'")
    step = {"query": {"as": "alice", "route": "by-id", "id": "later"}}
    refused(scenario(steps=[step]), "unknown ref 'later'")


def test_placeholders_are_checked() -> None:
    refused(
        scenario(steps=[{"send": {"as": "alice", "message": "hi {alcie}"}}]),
        "unknown placeholder {alcie}",
    )
    refused(scenario(steps=[{"send": {"as": "alice", "message": "{alice.password}"}}]), "{alice.")
    ok = {"send": {"as": "alice", "message": "{alice} {alice.sub} {{literal}} {priority}"}}
    parse(scenario(steps=[ok]), SOURCE)


def test_a_ref_is_usable_only_after_it_is_saved() -> None:
    steps = [{"send": {"as": "alice", "message": "{n1.id}", "save": "n1"}}]
    refused(scenario(steps=steps), "unknown placeholder {n1.id}")


def test_wrong_types_and_missing_fields() -> None:
    refused(scenario(title=3), "title", "expected str")
    refused(scenario(steps=[{"send": {"as": "alice", "message": "m", "times": True}}]), "times")
    refused(scenario(steps=[{"send": {"as": "alice"}}]), "missing 'message'")
    refused(scenario(steps=[{"query": {"as": "alice", "route": "sideways"}}]), "unknown route")


def test_name_must_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(scenario()))
    with pytest.raises(DefinitionError, match="must match the file name"):
        load(path)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"broken\.yaml: not valid YAML"):
        load(path)


def test_an_email_expectation_needs_a_recipient_with_email() -> None:
    send = {"send": {"as": "alice", "message": "hi"}, "expect": {"email": True}}
    refused(scenario(steps=[send]), "'alice' has no `email: true`")
    users = [{"alias": "alice", "email": True, "sender": True}]
    parsed = parse(scenario(users=users, steps=[send]), SOURCE)
    assert parsed.users[0].email is True
    [step] = parsed.steps
    assert isinstance(step, Send) and step.email is True
