"""Throughput floors of a sandbox: how many calls per second a few client threads get through.

What the pipeline's own throughput is compared with (load/, `make load`): the rate of no-op
Lambda invokes and of SNS Publish calls on the same sandbox, measured apart from any other
traffic. Every measurement is bounded in time and in calls, and removes what it created.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from harness.lambdas import create_function

NOOP_HANDLER = """
def handler(event, context):
    return None
"""


@dataclass(frozen=True)
class Rate:
    calls: int  # successful calls in the measured window
    errors: int
    seconds: float
    threads: int

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_second": round(self.per_second, 2)}


def call_rate(
    call: Callable[[], object],
    *,
    threads: int = 8,
    seconds: float = 3.0,
    max_calls: int = 100_000,
    warmup: int = 1,
) -> Rate:
    """`call()` from `threads` threads for `seconds` (or `max_calls` calls, whichever is
    first); each thread first makes `warmup` calls that are not counted."""
    lock = threading.Lock()
    counts = {"calls": 0, "errors": 0}
    window: dict[str, float] = {}

    def open_window() -> None:  # run once, by the last thread through the barrier
        window["started"] = time.monotonic()
        window["deadline"] = window["started"] + seconds

    ready = threading.Barrier(threads, action=open_window)

    def worker() -> None:
        for _ in range(warmup):  # a warm-up failure that persists is counted below
            with contextlib.suppress(Exception):
                call()
        ready.wait()
        while time.monotonic() < window["deadline"]:
            with lock:
                if counts["calls"] + counts["errors"] >= max_calls:
                    return
            try:
                call()
                key = "calls"
            except Exception:  # a floor counts failures, it does not stop on them
                key = "errors"
            with lock:
                counts[key] += 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=seconds + 120)
    elapsed = time.monotonic() - window.get("started", time.monotonic())
    return Rate(counts["calls"], counts["errors"], elapsed, threads)


def noop_invoke_rate(lam: Any, *, threads: int = 8, seconds: float = 3.0) -> Rate:
    """Synchronous invokes of a fresh no-op Python function (deleted afterwards)."""
    name = f"floor-noop-{uuid.uuid4().hex[:10]}"
    create_function(lam, name, NOOP_HANDLER, Timeout=5, MemorySize=128)
    try:
        return call_rate(
            lambda: _checked_invoke(lam, name), threads=threads, seconds=seconds, warmup=2
        )
    finally:
        lam.delete_function(FunctionName=name)


def _checked_invoke(lam: Any, name: str) -> None:
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    if response.get("FunctionError"):
        raise RuntimeError(f"{name}: {response['FunctionError']}")


def sns_publish_rate(sns: Any, *, threads: int = 8, seconds: float = 3.0) -> Rate:
    """Publish calls to a fresh topic without subscriptions (deleted afterwards)."""
    arn = sns.create_topic(Name=f"floor-{uuid.uuid4().hex[:10]}")["TopicArn"]
    try:
        return call_rate(
            lambda: sns.publish(TopicArn=arn, Message="floor"), threads=threads, seconds=seconds
        )
    finally:
        sns.delete_topic(TopicArn=arn)
