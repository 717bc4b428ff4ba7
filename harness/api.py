"""A small client for the notification API: every call returns status, JSON body and timing.

`Api(url, throttled_retries=N)` retries a 429 (the stage's throttling: nothing was accepted, so a
retry is safe) up to N times with exponential back-off, as AWS's SDKs retry throttling; the
default 0 returns every 429, for the tests and load runs that count them. `retry_throttled` is
that policy for any other HTTP client.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

THROTTLED = 429
#: How often a client that is not counting 429s retries one: AWS's SDKs retry throttling with
#: back-off (the scenarios, the suites' `api` fixture, the generated requests). 8 retries wait
#: up to ~25 s in all: under make test's -n 6 several suites share the stage's 40/s.
SDK_THROTTLED_RETRIES = 8
# The back-off's jitter: a generator of its own, so that callers inside Hypothesis tests (the
# generated requests) do not draw from the global one Hypothesis seeds and watches.
_JITTER = random.Random()


def retry_throttled[R](
    send: Callable[[], R],
    status: Callable[[R], int],
    *,
    retries: int,
    backoff: float = 0.1,
    on_retry: Callable[[], None] = lambda: None,
) -> R:
    """`send()` again while it answers 429, at most `retries` times, waiting `backoff` seconds
    (doubled each time, with jitter) in between; the last answer, 429 or not."""
    for attempt in range(retries + 1):
        response = send()
        if status(response) != THROTTLED or attempt == retries:
            return response
        on_retry()
        time.sleep(backoff * 2**attempt * _JITTER.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    raw: bytes
    sent_at: float  # epoch seconds when the request left
    seconds: float

    def __str__(self) -> str:
        return f"{self.status} {self.raw[:500].decode(errors='replace')}"


@dataclass(frozen=True)
class Api:
    base_url: str
    timeout: float = 30.0
    throttled_retries: int = 0
    throttled_backoff: float = 0.1  # seconds before the first retry, doubled each time

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        data = raw_body if raw_body is not None else None
        if body is not None:
            data = json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = token
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=all_headers
        )
        return retry_throttled(
            lambda: self._once(request),
            lambda response: response.status,
            retries=self.throttled_retries,
            backoff=self.throttled_backoff,
        )

    def _once(self, request: urllib.request.Request) -> Response:
        sent_at = time.time()
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as r:
                status, payload = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = None
        return Response(status, parsed, payload, sent_at, time.monotonic() - started)

    def send(self, token: str, notification: dict, **kwargs: Any) -> Response:
        return self.call("POST", "/notifications", token=token, body=notification, **kwargs)

    def get(self, path: str, token: str | None) -> Response:
        return self.call("GET", path, token=token)
