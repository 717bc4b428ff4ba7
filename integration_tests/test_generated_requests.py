"""Generated requests against the deployed API: no input gives a 5xx or breaks the contract.

Schemathesis builds requests from `stack/api/openapi.yaml` (schema-valid ones, and invalid ones
where each violates the schema somewhere), and hostile ones are added by hand: bodies that are
not UTF-8, ids far over DynamoDB's 2 KB key limit (in the path and inside pagination tokens),
bodies not declared JSON, messages with nothing visible, requests with no token. Every answer
must be a documented status with a JSON body matching the spec; a schema-violating request
must be refused (4xx); and afterwards the table must hold exactly the notifications that were
accepted (202) - nothing from a refused request.

What JSON Schema cannot say is checked apart: "at least one visible character" (no Unicode
categories in JSON Schema) and the opaque `next_token` (any string is schema-valid, only
issued ones are accepted). A schema-valid request may be refused only for those.

The seed is random per run and printed (GENERATED_REQUESTS_SEED=<n> repeats a run).
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.api import SDK_THROTTLED_RETRIES, Api, retry_throttled
from harness.users import User, UserFactory
from harness.waiting import eventually
from notifications.priorities import PRIORITIES

SPEC = Path(__file__).resolve().parents[1] / "stack" / "api" / "openapi.yaml"
#: Generated requests per operation and mode (positive, negative): 1,000 with the hostile ones.
EXAMPLES = {
    ("POST", "/notifications"): (200, 220),
    ("GET", "/notifications"): (90, 90),
    ("GET", "/notifications/{id}"): (90, 90),
    ("GET", "/users/{userId}/notifications"): (90, 90),
}
#: (field, code) a schema-valid request may still be refused with (see the module docstring).
NOT_IN_THE_SCHEMA = {
    ("message", "blank"),
    ("message", "invalid_unicode"),
    ("next_token", "invalid"),
}
TOO_LONG = 3000  # characters: over DynamoDB's 2,048-byte partition key and 1,024-byte sort key
INVISIBLE = "\u0000\u0007\u001b\t\n \u00a0\u200b\u200c\u200d\u2060\ufeff\u3000\u0301"
STORED_TIMEOUT = 120.0
JSON = {"Content-Type": "application/json"}
MODES = ("positive", "negative")  # Schemathesis's GenerationMode values
#: Requests in flight at once. The sandbox answers most in ~10 ms, so 4 senders exceed the
#: stage's throttling (40/s, burst 20): a 429 is retried as an SDK would, so that every case
#: gets its real answer; the summary counts the retries.
SENDERS = 4


@dataclass
class Run:
    """Every request sent, what came back, and what broke the contract."""

    api: Api
    sender: User
    admin: User
    seed: int
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    throttled: int = 0  # 429s retried
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)

    @property
    def session(self) -> requests.Session:
        """One HTTP session per sending thread (keep-alive, no sharing across threads)."""
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    @property
    def sent(self) -> int:
        return self.statuses.total()

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def send(self, request: Callable[[], requests.Response]) -> requests.Response:
        """`request()`, retried while the stage throttles it; its final answer recorded."""
        response = retry_throttled(
            request,
            lambda r: r.status_code,
            retries=SDK_THROTTLED_RETRIES,
            on_retry=self.count_throttled,
        )
        self.record(response)
        return response

    def count_throttled(self) -> None:
        with self.lock:
            self.throttled += 1

    def record(self, response: requests.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 202 and response.request.method == "POST":
                self.accepted.add(response.json()["id"])

    def violation(self, label: str, response: requests.Response, why: str) -> None:
        sent = response.request
        body = sent.body if isinstance(sent.body, bytes) else str(sent.body or "").encode()
        with self.lock:
            self.violations.append(
                f"{label}: {why}\n  sent {sent.method} {sent.url} body={body[:300]!r}\n"
                f"  got {response.status_code} {response.headers.get('Content-Type')} "
                f"{response.content[:300]!r}"
            )

    def summary(self) -> str:
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return (
            f"generated requests: {self.sent} sent, {self.server_errors} answered 5xx, "
            f"{len(self.violations)} broke the contract, {len(self.accepted)} accepted "
            f"(seed {self.seed}; statuses {statuses}; {self.throttled} throttled and retried)"
        )


# Schemathesis and Hypothesis are imported where they are used: at the top of this module, every
# test worker imported them to collect it (0.25 s each), for the one worker that runs the test.


def contract_checks(mode: str = "positive") -> list[Any]:
    """What every answer must pass; a negative (schema-violating) request must also be refused."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    negative = [checks.negative_data_rejection] if mode == "negative" else []
    return [
        not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
        *negative,
    ]


@pytest.fixture(scope="module")
def schema(api: Api) -> Any:
    import schemathesis
    import yaml

    loaded = schemathesis.openapi.from_dict(yaml.safe_load(SPEC.read_text()))
    loaded.config.update(base_url=api.base_url)
    return loaded


@pytest.fixture
def run(api: Api, users: UserFactory) -> Iterator[Run]:
    chosen = int(os.environ.get("GENERATED_REQUESTS_SEED") or random.randrange(2**32))
    sender = users.create(sender=True, name="gen")
    yield Run(api, sender, users.create(admin=True, name="gen-admin"), chosen)


def token_for(run: Run, method: str) -> str:
    """Readers read as an admin (so every parameter reaches the table); a sender posts."""
    return run.sender.id_token if method == "POST" else run.admin.id_token


def field_errors(response: requests.Response) -> set[tuple[str, str]]:
    try:
        return {(e["field"], e["code"]) for e in response.json().get("errors", [])}
    except (ValueError, AttributeError, TypeError):
        return set()


def send_case(run: Run, case: Any, *, mode: str) -> None:
    """Send a generated case with a real token (generation's own Authorization is replaced:
    the authorizer has its own tests, the point here is what reaches the functions)."""
    from schemathesis.core.failures import FailureGroup

    label = f"{case.operation.method.upper()} {case.operation.path} ({mode})"
    token = token_for(run, case.operation.method.upper())
    case.headers = {**(case.headers or {}), "Authorization": token}
    response = run.send(lambda: case.call(session=run.session, timeout=30))
    try:
        case.validate_response(response, checks=contract_checks(mode), headers=case.headers)
    except FailureGroup as failures:
        run.violation(label, response, str(failures).strip().splitlines()[0])
    if mode == "positive" and response.status_code == 400:
        unexplained = field_errors(response) - NOT_IN_THE_SCHEMA
        if unexplained or not field_errors(response):
            run.violation(label, response, f"a schema-valid request refused: {unexplained}")


def generate(
    operation: Any, mode: str, count: int, first_seed: int, send: Callable[[Any], Any]
) -> None:
    """`send` each of `count` cases as soon as it is generated (generation is CPU-bound, sending
    waits on the sandbox: the two overlap). Hypothesis may stop early on a small space: then it
    goes on reseeded."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from schemathesis import GenerationMode

    sent = 0
    for attempt in range(10):
        if sent >= count:
            break

        @seed(first_seed + attempt)
        @settings(
            max_examples=count - sent,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
        def collect(case: Any) -> None:
            nonlocal sent
            if sent < count:
                send(case)
                sent += 1

        collect()


def send_raw(
    run: Run,
    schema: Any,
    label: str,
    operation: tuple[str, str],
    url: str,
    expected: set[tuple[int, str | None]],
    *,
    token: str | None,
    **kwargs: Any,
) -> None:
    """A hand-made request: a 4xx among `expected` ((status, field) pairs), under the contract."""
    from schemathesis.core.failures import FailureGroup

    method, path = operation
    headers = ({"Authorization": token} if token else {}) | kwargs.pop("headers", {})
    response = run.send(
        lambda: run.session.request(
            method, run.api.base_url + url, headers=headers, timeout=30, **kwargs
        )
    )
    try:
        schema[path][method].Case().validate_response(
            response, checks=contract_checks(), headers=headers
        )
    except FailureGroup as failures:
        run.violation(label, response, str(failures).strip().splitlines()[0])
    status = response.status_code
    got = {(status, name) for name, _ in field_errors(response)} or {(status, None)}
    if not got & expected:
        run.violation(label, response, f"expected one of {sorted(expected, key=str)}")


def forge(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def not_utf8(rng: random.Random) -> bytes:
    """Random bytes with at least one byte that never occurs in UTF-8."""
    raw = bytearray(rng.randbytes(rng.randint(0, 60)))
    raw.insert(rng.randint(0, len(raw)), rng.choice([0xC0, 0xC1, 0xF5, 0xFE, 0xFF]))
    return bytes(raw)


def send_hostile(run: Run, schema: Any, submit: Callable[..., Any]) -> None:
    """Inputs no schema generates: bytes, huge ids, wrong media types, invisible messages."""
    rng = random.Random(run.seed)
    post = ("POST", "/notifications")

    def post_as_sender(label: str, expected: set[tuple[int, str | None]], **kwargs: Any) -> None:
        token = run.sender.id_token
        submit(
            send_raw, run, schema, label, post, "/notifications", expected, token=token, **kwargs
        )

    bodies = [
        b'{"user_id":"alice","message":"\xff","priority":"low"}',
        b'{"user_id":"alice","message":"caf\xe9","priority":"low"}',  # latin-1
        b"\xfe\xff\x00{\x00}",  # UTF-16 with a BOM
        b'{"user_id":"al\xc3","message":"x","priority":"high"}',  # truncated sequence
        b'{"user_id":"alice","message":"\xed\xa0\x80","priority":"low"}',  # encoded surrogate
        *(not_utf8(rng) for _ in range(15)),
    ]
    for body in bodies:
        post_as_sender("non-UTF-8 body", {(400, "body")}, data=body, headers=JSON)

    valid = json.dumps({"user_id": "gen-recipient", "message": "hi", "priority": "low"}).encode()
    for content_type in (
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/xml",
        "application/json-patch+json",
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        post_as_sender(f"Content-Type {content_type}", {(415, "body")}, data=valid, headers=headers)

    for _ in range(15):
        message = "".join(rng.choice(INVISIBLE) for _ in range(rng.randint(1, 40)))
        message += rng.choice(["", "\u001b[31m", "\u001b]0;x\u0007", "\u001b[0m"])
        body = {"user_id": "gen-recipient", "message": message, "priority": "high"}
        post_as_sender("invisible message", {(400, "message")}, json=body)

    admin, user = run.admin.id_token, run.admin.sub
    by_id = ("GET", "/notifications/{id}")
    by_user = ("GET", "/users/{userId}/notifications")
    by_priority = ("GET", "/notifications")
    long_id = "i" * TOO_LONG
    after = ["2026-01-01T00:00:00.000Z", long_id]
    arabic = after[0].translate({ord("0") + d: 0x0660 + d for d in range(10)})  # Arabic-Indic
    hostile_gets = [
        ("over-long id", by_id, f"/notifications/{long_id}", "id"),
        ("over-long userId", by_user, f"/users/{'u' * TOO_LONG}/notifications", "userId"),
        *(
            (label, by_user, f"/users/{user}/notifications?next_token={token}", "next_token")
            for label, token in (
                ("over-long id in a token", forge({"v": 1, "u": user, "after": after})),
                ("non-ASCII digits in a token", forge({"v": 1, "u": user, "after": [arabic, "i"]})),
                ("empty next_token", ""),
            )
        ),
        *(  # whatever PRIORITY_SHARDS is, one of these has its shard count
            (
                "over-long id in a priority token",
                by_priority,
                "/notifications?priority=high&next_token="
                + forge({"v": 1, "p": "high", "c": [after] * n}),
                "next_token",
            )
            for n in range(1, 9)
        ),
    ]
    for label, operation, url, name in hostile_gets:
        submit(send_raw, run, schema, label, operation, url, {(400, name)}, token=admin)

    for operation, url in (
        (post, "/notifications"),
        (by_priority, "/notifications?priority=low"),
        (by_id, "/notifications/x"),
        (by_user, f"/users/{user}/notifications"),
    ):
        submit(
            send_raw, run, schema, "no token", operation, url, {(401, None)}, token=None, json={}
        )


def stored_by(client: Callable[..., Any], table: str, sender_sub: str) -> set[str]:
    """Ids of every item whose sender is `sender_sub` (a full scan: refused requests have no id)."""
    pages = (
        client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            FilterExpression="sender = :s",
            ExpressionAttributeValues={":s": {"S": sender_sub}},
            ProjectionExpression="id",
            ConsistentRead=True,
        )
    )
    return {item["id"]["S"] for page in pages for item in page.get("Items", [])}


def sent_by(submit: Callable[[Any], Any], futures: list[Any]) -> Callable[[Any], None]:
    return lambda case: futures.append(submit(case))


def send_generated(
    run: Run, schema: Any, pool: ThreadPoolExecutor, operations: list[tuple[str, str]]
) -> list[Any]:
    """Generate and send the cases of `operations` (see EXAMPLES); their futures."""
    sent: list[Any] = []
    for method, path in operations:
        for mode, count in zip(MODES, EXAMPLES[method, path], strict=True):
            submit = partial(pool.submit, send_case, run, mode=mode)
            generate(schema[path][method], mode, count, run.seed, sent_by(submit, sent))
    return sent


def answered(futures: list[Any]) -> None:
    for future in futures:
        future.result()  # a request that could not be sent at all fails the test here


@pytest.mark.long  # 30-75 s (harness/scheduling.py)
@pytest.mark.lanes()  # the reads hold no lane; the writes hold every priority's (below)
def test_no_generated_request_gives_a_5xx_or_breaks_the_contract(
    run: Run,
    schema: Any,
    client: Callable[..., Any],
    stack: dict[str, Any],
    record_property: Callable[[str, object], None],
    priority_lane: Callable[..., Any],
) -> None:
    """The reads go first, holding no lane (they store nothing and wait for no delivery), so
    they overlap the disruptive tests that hold a lane alone; the writes and the hostile
    requests then hold every lane shared until what they stored is checked."""
    started = time.monotonic()
    reads = [operation for operation in EXAMPLES if operation[0] == "GET"]
    writes = [operation for operation in EXAMPLES if operation not in reads]
    with ThreadPoolExecutor(SENDERS) as pool:
        answered(send_generated(run, schema, pool, reads))
        with priority_lane(*PRIORITIES):
            sent = send_generated(run, schema, pool, writes)
            generated_in = time.monotonic() - started
            submit = pool.submit
            send_hostile(run, schema, lambda *args, **kwargs: sent.append(submit(*args, **kwargs)))
            answered(sent)
            sent_in = time.monotonic() - started
            stored = stored_by(client, stack["table_name"], run.sender.sub)
            if run.accepted:  # every accepted id is stored (asynchronously), then nothing else
                stored = eventually(
                    lambda: (found := stored_by(client, stack["table_name"], run.sender.sub))
                    >= run.accepted
                    and found,
                    timeout=STORED_TIMEOUT,
                    interval=2.0,
                    describe=lambda: (
                        f"not every one of the {len(run.accepted)} accepted ids was stored"
                    ),
                )
    summary = (
        f"{run.summary()}; generated in {generated_in:.0f} s while sending, all answered "
        f"in {sent_in:.0f} s ({SENDERS} sending threads)"
    )
    record_property("generated_requests", summary)
    problems = [f"only {run.sent} requests sent"] if run.sent < 1000 else []
    problems += run.violations[:20]
    if extra := stored - run.accepted:
        problems.append(f"stored but never accepted (from refused requests): {sorted(extra)}")
    assert not problems, summary + "\n\n" + "\n\n".join(problems)
    assert run.server_errors == 0, summary
