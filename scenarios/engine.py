"""Run one scenario for one priority against the deployed stack (the demo and the tests share it).

Each run creates its own users, so runs are independent of each other and of their order: the
demo runs a scenario's priorities in threads, pytest-xdist spreads them over workers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from harness.api import Api, Response
from harness.mail import Outbox, subscribe_email
from harness.trace import Trace, Tracer
from harness.users import UserFactory
from harness.waiting import eventually
from scenarios.definition import Case, Query, Reject, Scenario, Send, Step

DELIVERY_TIMEOUT: Final = float(os.environ.get("SCENARIO_DELIVERY_TIMEOUT", "60"))
LISTING_TIMEOUT: Final = 10.0  # GSIs are eventually consistent on AWS
EMAIL_TIMEOUT: Final = 15.0
OVERSIZE_BYTES: Final = 17 * 1024  # over the API's 16 KiB body limit
MAX_PAGES: Final = 10

type Progress = Callable[[str], None]


class StepFailed(AssertionError):
    """An expectation that did not hold; the message says what was observed."""


@dataclass(frozen=True)
class Actor:
    """A scenario user: `{alice}` is the username (for people), `{alice.sub}` the Cognito sub, the
    identity the API knows: what notifications are addressed to and listed by."""

    name: str
    sub: str
    token: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Ref:
    """A saved notification: `{first}` and `{first.id}` are its id."""

    id: str

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class Mailing:
    """The e-mail channel: subscribe addresses (SNS), read what was sent (sandbox only)."""

    sns: Any
    deliveries_topic_arn: str
    outbox: Outbox | None  # None on AWS: sent e-mail cannot be read back

    @staticmethod
    def address(actor: Actor) -> str:
        return f"{actor.name}@example.com"


@dataclass(frozen=True)
class StackView:
    """What the engine needs from the deployed stack."""

    api: Api
    tracer: Tracer
    queues: dict[str, str]  # priority → queue name
    mailing: Mailing | None = None

    @classmethod
    def from_outputs(
        cls, outputs: dict[str, Any], api: Api, tracer: Tracer, mailing: Mailing | None = None
    ) -> StackView:
        queues = {p: q["queue_name"] for p, q in outputs["queues"].items()}
        return cls(api, tracer, queues, mailing)


@dataclass(frozen=True)
class Timeline:
    label: str
    trace: Trace


@dataclass
class Outcome:
    scenario: str
    priority: str
    timelines: list[Timeline] = field(default_factory=list)
    checks: int = 0
    seconds: float = 0.0
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def check(condition: bool, message: str | Callable[[], str]) -> None:
    if not condition:
        raise StepFailed(message() if callable(message) else message)


class Execution:
    """One scenario for one priority: users, then the steps in order."""

    def __init__(
        self,
        scenario: Scenario,
        priority: str,
        stack: StackView,
        users: UserFactory,
        progress: Progress,
    ) -> None:
        self.scenario, self.priority, self.stack = scenario, priority, stack
        self.users, self.progress = users, progress
        self.context: dict[str, Any] = {"priority": priority}
        self.outcome = Outcome(scenario.name, priority)
        self.subscriptions: list[str] = []

    def fill(self, value: Any) -> Any:
        """Resolve `{...}` placeholders (validated at load time) in strings, lists, mappings."""
        if isinstance(value, str):
            return value.format_map(self.context)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    def check(self, condition: bool, message: str | Callable[[], str]) -> None:
        self.outcome.checks += 1
        check(condition, message)

    def run(self) -> Outcome:
        started = time.monotonic()
        try:
            for spec in self.scenario.users:
                roles = ", ".join(
                    r for r, on in (("admin", spec.admin), ("sender", spec.sender)) if on
                )
                self.progress(f"creating user {spec.alias}" + (f" ({roles})" if roles else ""))
                user = self.users.create(admin=spec.admin, sender=spec.sender, name=spec.alias)
                self.context[spec.alias] = Actor(user.username, user.sub, user.id_token)
                if spec.email:
                    self.subscribe(self.context[spec.alias])
            for number, step in enumerate(self.scenario.steps, 1):
                try:
                    self.step(step, number)
                except AssertionError as e:
                    raise StepFailed(f"step {number} ({describe(step)}): {e}") from e
        except AssertionError as e:
            self.outcome.failure = str(e)
        finally:
            for subscription in self.subscriptions:
                self.mailing.sns.unsubscribe(SubscriptionArn=subscription)
            self.outcome.seconds = time.monotonic() - started
        return self.outcome

    @property
    def mailing(self) -> Mailing:
        check(self.stack.mailing is not None, "this scenario needs the e-mail channel")
        assert self.stack.mailing is not None
        return self.stack.mailing

    def subscribe(self, actor: Actor) -> None:
        address = self.mailing.address(actor)
        self.progress(f"subscribing {address} to {actor.name}'s deliveries")
        self.subscriptions.append(
            subscribe_email(self.mailing.sns, self.mailing.deliveries_topic_arn, address, actor.sub)
        )

    def step(self, step: Step, number: int) -> None:
        match step:
            case Send():
                self.send(step, number)
            case Query():
                self.query(step)
            case Reject():
                for case in step.cases:
                    self.reject(step, case)

    def actor(self, alias: str) -> Actor:
        return self.context[alias]

    # ------------------------------------------------------------------ send

    def send(self, step: Send, number: int) -> None:
        actor, to = self.actor(step.sender), self.actor(step.to)
        priority = self.fill(step.priority)
        body = {"user_id": to.sub, "message": self.fill(step.message), "priority": priority}
        headers = (
            {"Idempotency-Key": self.fill(step.idempotency_key)} if step.idempotency_key else {}
        )
        responses = [
            self.stack.api.send(actor.token, body, headers=headers) for _ in range(step.times)
        ]
        for r in responses:
            self.check(
                r.status == step.status, f"POST /notifications → {r}; expected {step.status}"
            )
        if step.status != 202:
            return
        ids = [r.body["id"] for r in responses]
        if step.same_id:
            self.check(len(set(ids)) == 1, f"expected one id for {step.times} sends, got {ids}")
        if step.save:
            self.context[step.save] = Ref(ids[0])
        if not (step.delivered or step.queue or step.item):
            return
        label = step.save or "sent"
        trace = Trace(ids[0], sent_at=responses[0].sent_at)
        self.progress(f"{label}: {priority} {ids[0][:8]} accepted, waiting for delivery")
        self.stack.tracer.wait_for_delivery(trace, timeout=DELIVERY_TIMEOUT)
        self.outcome.timelines.append(Timeline(label, trace))
        self.expect_delivered(step, trace, priority, to)

    def expect_delivered(self, step: Send, trace: Trace, priority: str, to: Actor) -> None:
        assert trace.item is not None
        if step.queue:
            wanted = self.stack.queues[self.fill(step.queue)]
            self.check(
                trace.queue == wanted, lambda: f"queue {wanted} expected\n{trace.describe()}"
            )
        self.check(
            len(trace.delivery_lines) == 1,
            lambda: f"one delivery line expected\n{trace.describe()}",
        )
        line = trace.delivery_lines[0]
        self.check(
            (line.get("priority"), line.get("user_id")) == (priority, to.sub),
            lambda: f"delivery line names {priority}/{to.sub} ({to})?\n{trace.describe()}",
        )
        for key, wanted in {"priority": priority, **self.fill(step.item)}.items():
            got = trace.item.get(key)
            self.check(got == wanted, f"stored item {key}={got!r}, expected {wanted!r}")
        if step.email:
            self.expect_email(to, self.fill(step.message))

    def expect_email(self, to: Actor, text: str) -> None:
        outbox = self.mailing.outbox
        address = self.mailing.address(to)
        if outbox is None:
            self.progress(
                f"e-mail to {address}: not checked (sent e-mail is readable only in the sandbox)"
            )
            return
        mails = eventually(
            lambda: [m for m in outbox.sent_to(address) if m.text == text],
            timeout=EMAIL_TIMEOUT,
            describe=lambda: f"no e-mail {text!r} to {address}: {outbox.sent_to(address)}",
        )
        self.check(len(mails) == 1, f"one e-mail to {address} expected, got {len(mails)}")

    # ------------------------------------------------------------------ query

    def path(self, step: Query) -> str:
        if step.route == "by-user":
            return f"/users/{quote(self.actor(step.subject).sub)}/notifications?limit=100"
        if step.route == "by-id":
            return f"/notifications/{quote(self.context[step.subject].id)}"
        return f"/notifications?priority={quote(self.fill(step.subject))}&limit=100"

    def query(self, step: Query) -> None:
        token, path = self.actor(step.caller).token, self.path(step)

        def probe() -> Response:
            r = self.stack.api.get(path, token)
            check(r.status == step.status, f"GET {path} → {r}; expected {step.status}")
            if step.items is not None:
                got = [i["id"] for i in r.body["items"]]
                wanted = [self.context[ref].id for ref in step.items]
                check(got == wanted, f"GET {path}: ids {got}, expected {wanted} ({step.items})")
            if step.item is not None:
                wanted_id = self.context[step.item].id
                check(r.body.get("id") == wanted_id, f"GET {path} → {r}; expected id {wanted_id}")
            if step.includes:
                self.expect_included(path, token, r, step.includes)
            return r

        self.progress(f"GET {path.split('?')[0]} as {step.caller}")
        eventually(probe, timeout=LISTING_TIMEOUT, interval=0.3)
        self.outcome.checks += 1

    def expect_included(self, path: str, token: str, r: Response, refs: tuple[str, ...]) -> None:
        """Every ref appears in the listing (following next_token: other runs share it)."""
        missing = {self.context[ref].id for ref in refs}
        for _ in range(MAX_PAGES):
            missing -= {i["id"] for i in r.body["items"]}
            token_ = r.body.get("next_token")
            if not missing or not token_:
                break
            r = self.stack.api.get(f"{path}&next_token={quote(token_)}", token)
            check(r.status == 200, f"GET {path} next page → {r}")
        check(not missing, f"GET {path}: {sorted(missing)} not listed")

    # ------------------------------------------------------------------ reject

    def reject(self, step: Reject, case: Case) -> None:
        self.progress(f"invalid: {case.name}")
        r = self.stack.api.call(
            "POST",
            "/notifications",
            token=self.actor(step.sender).token,
            raw_body=self.payload(step, case),
        )
        errors = r.body.get("errors", []) if isinstance(r.body, dict) else []
        got = {e.get("field"): e.get("code") for e in errors}
        self.check(
            (r.status, got) == (case.status, case.errors),
            f"case '{case.name}': got {r.status} {got}, expected {case.status} {case.errors}",
        )

    def payload(self, step: Reject, case: Case) -> bytes:
        if case.raw is not None:
            return case.raw.encode()
        body = {k: v for k, v in self.fill(step.base).items() if k not in case.drop}
        body.update(self.fill(case.set))
        if case.oversize:
            body["message"] = "x" * OVERSIZE_BYTES
        return json.dumps(body, ensure_ascii=False).encode()


def describe(step: Step) -> str:
    match step:
        case Send():
            return f"send as {step.sender}" + (f" → {step.save}" if step.save else "")
        case Query():
            return f"query {step.route} as {step.caller}"
        case Reject():
            return f"reject {len(step.cases)} cases"
    return type(step).__name__


def run(
    scenario: Scenario,
    priority: str,
    stack: StackView,
    users: UserFactory,
    progress: Progress | None = None,
) -> Outcome:
    """Run `scenario` for `priority`; never raises for a failed expectation (see Outcome)."""
    return Execution(scenario, priority, stack, users, progress or (lambda _: None)).run()
