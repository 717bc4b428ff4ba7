"""The traffic phase: Locust, headless and in-process (`Environment` + `create_local_runner`).

One `FastHttpUser` class per priority, `fixed_count` users each, so that each priority gets its
own constant rate. Each user keeps to a fixed timeline (`paced`): request k at start + k / its
rate, catching up after a slow answer (Locust's own `constant_throughput` sends a user's first
two requests back to back). Every user sends POST /notifications with one of the test users'
Cognito ID tokens (round robin).

The phase is bounded twice: it stops at `duration_s` or once `max_requests` requests were sent,
whichever comes first; requests in flight then finish (each bounded by `request_timeout_s`)
before the runner quits. 429s are marked successes in Locust's own statistics and counted apart;
every answer is recorded as a `Sent` for the report.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import gevent
import locust
from locust import FastHttpUser, task
from locust.env import Environment
from locust.exception import StopUser

from load.profiles import Profile
from load.report import Sent

PROGRESS_EVERY_S = 5.0
PATH = "/notifications"


class _QuietSpawnWarning(logging.Filter):
    """The burst profile spawns all its users at once on purpose: drop Locust's warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "spawn rate is very high" not in record.getMessage()


logging.getLogger("locust.runners").addFilter(_QuietSpawnWarning())


@dataclass(frozen=True)
class Identity:
    """A sender that addresses its notifications to itself (`user_id` = its sub)."""

    user_id: str
    id_token: str


@dataclass
class Shared:
    """State all Locust users share: the request budget, the stop flag, what was sent."""

    max_requests: int
    identities: itertools.cycle
    deadline: float = float("inf")  # epoch seconds: no request starts after it
    issued: int = 0
    in_flight: int = 0
    stop_at: float | None = None  # epoch seconds when sending stopped (deadline or budget)
    records: list[Sent] = field(default_factory=list)

    def take(self) -> int | None:
        """The next request's sequence number, or None when sending has stopped."""
        if self.stop_at is not None:
            return None
        now = time.time()
        if self.issued >= self.max_requests or now >= self.deadline:
            self.stop_at = min(now, self.deadline)
            return None
        self.issued += 1
        return self.issued


@dataclass(frozen=True)
class TrafficResult:
    sent: list[Sent]
    started: float
    stopped: float  # when sending stopped (requests still in flight then finished later)
    locust_stats: dict[str, Any]


def paced(interval: float) -> Callable[[Any], float]:
    """A Locust wait_time: the next request at the user's `next_at` + `interval` (a fixed
    timeline, so a slow answer is made up for by shorter waits, within the users in flight)."""

    def wait_time(user: Any) -> float:
        user.next_at += interval
        return max(0.0, user.next_at - time.time())

    return wait_time


def user_class(
    priority: str, count: int, rate: float, shared: Shared, profile: Profile, url: str
) -> type[FastHttpUser]:
    per_user = rate / count
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"

    class PriorityUser(FastHttpUser):
        host = base
        fixed_count = count
        wait_time = paced(1 / per_user)
        network_timeout = profile.request_timeout_s
        connection_timeout = profile.request_timeout_s

        def on_start(self) -> None:
            self.identity: Identity = next(shared.identities)
            # spread the users' first requests over one pacing interval (burst: all at once)
            offset = random.uniform(0, 1 / per_user) if profile.stagger else 0.0
            self.next_at = time.time() + offset
            gevent.sleep(offset)

        @task
        def send(self) -> None:
            sequence = shared.take()
            if sequence is None:
                raise StopUser()
            body = {
                "user_id": self.identity.user_id,
                "message": f"load {profile.name} #{sequence} ({priority})",
                "priority": priority,
            }
            shared.in_flight += 1
            sent_at, started = time.time(), time.perf_counter()
            try:
                with self.client.post(
                    url + PATH,
                    json=body,
                    headers={"Authorization": self.identity.id_token},
                    name=f"{PATH} [{priority}]",
                    catch_response=True,
                ) as response:
                    record = _record(priority, response, sent_at, time.perf_counter() - started)
                    if record.kind == "error":
                        response.failure(f"{record.status_key}: {record.error}")
                    else:  # 202 + id, and 429s (counted apart, not failures)
                        response.success()
            finally:
                shared.in_flight -= 1
            shared.records.append(record)

    PriorityUser.__name__ = PriorityUser.__qualname__ = f"{priority.capitalize()}PriorityUser"
    return PriorityUser


def _record(priority: str, response: Any, sent_at: float, seconds: float) -> Sent:
    status = int(response.status_code or 0)
    notification_id = error = None
    if status == 202:
        try:
            body = response.json()
            notification_id = body.get("id") if isinstance(body, dict) else None
        except ValueError:
            pass
    if status != 202 or not notification_id:
        error = str(response.error) if status == 0 and response.error else None
        if error is None:
            error = (response.text or "")[:300]
    return Sent(priority, status, sent_at, seconds, notification_id, error)


def run(
    profile: Profile,
    url: str,
    identities: list[Identity],
    say: Callable[[str], None],
) -> TrafficResult:
    """Send the profile's traffic to `url` (the API's base URL); bounded in time and count."""
    shared = Shared(profile.max_requests, itertools.cycle(identities))
    counts = profile.users_per_priority()
    classes = [
        user_class(p, counts[p], profile.rates[p], shared, profile, url) for p in profile.rates
    ]
    env = Environment(user_classes=classes, stop_timeout=profile.request_timeout_s + 5)
    runner = env.create_local_runner()
    total = sum(counts.values())
    started = time.time()
    deadline = shared.deadline = started + profile.duration_s
    runner.start(total, spawn_rate=total)
    next_progress = started + PROGRESS_EVERY_S
    while True:
        gevent.sleep(0.1)
        now = time.time()
        if shared.stop_at is not None or now >= deadline:
            shared.stop_at = shared.stop_at or min(now, deadline)
            break
        if now >= next_progress:
            say(_progress(shared, now - started, profile))
            next_progress += PROGRESS_EVERY_S
    say(
        f"traffic: sending stopped after {shared.stop_at - started:.1f} s "
        f"({shared.issued} requests); waiting for {shared.in_flight} in flight"
    )
    runner.quit()  # users finish their request in flight (stop_timeout), then stop
    runner.greenlet.join(timeout=profile.request_timeout_s + 15)
    say(_progress(shared, shared.stop_at - started, profile))
    return TrafficResult(shared.records, started, shared.stop_at, _locust_stats(env))


def _progress(shared: Shared, elapsed: float, profile: Profile) -> str:
    records = shared.records
    accepted = sum(1 for r in records if r.accepted)
    throttled = sum(1 for r in records if r.status == 429)
    errors = len(records) - accepted - throttled
    rate = shared.issued / elapsed if elapsed > 0 else 0.0
    return (
        f"traffic {elapsed:5.1f}/{profile.duration_s:.0f} s: sent {shared.issued} "
        f"({rate:.1f}/s of {profile.rate:.1f}) · accepted {accepted} · 429 {throttled} · "
        f"errors {errors} · in flight {shared.in_flight}"
    )


def _locust_stats(env: Environment) -> dict[str, Any]:
    """Locust's own view (a cross-check of the report's counts)."""
    entries = {}
    for (name, method), entry in sorted(env.stats.entries.items()):
        entries[f"{method} {name}"] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
        }
    return {"locust": locust.__version__, "requests": entries}
