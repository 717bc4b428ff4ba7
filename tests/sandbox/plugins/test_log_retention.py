"""CloudWatch Logs retention applied (sandbox/plugins/log_retention.py), on real moto objects."""

from __future__ import annotations

import importlib.metadata
import time
import uuid
from collections.abc import Callable

import pytest

from harness.waiting import eventually
from sandbox.plugins import log_retention
from sandbox.plugins.log_retention import DAY_MS, SWEEP_SECONDS


def backend():
    from moto.logs.models import logs_backends

    return logs_backends[str(uuid.uuid4().int)[:12]]["eu-west-1"]


def events(*ages_ms: int, now_ms: int) -> list[dict]:
    return [{"timestamp": now_ms - age, "message": f"{age:>10}"} for age in ages_ms]


def test_events_older_than_the_retention_are_deleted_the_rest_kept() -> None:
    logs = backend()
    now = int(time.time() * 1000)
    kept_group = logs.create_log_group("/never-expires", {})
    group = logs.create_log_group("/one-day", {})
    logs.put_retention_policy("/one-day", 1)
    for g in (group, kept_group):
        g.create_log_stream("s")
        g.put_log_events("s", events(3 * DAY_MS, DAY_MS + 60_000, 60_000, 0, now_ms=now))
    stream = group.streams["s"]
    assert stream.stored_bytes == 40

    assert log_retention.sweep(now_ms=now) >= 2
    assert [now - e.timestamp for e in stream.events] == [60_000, 0]
    assert stream.stored_bytes == 20  # as moto counts: the messages' lengths
    assert len(kept_group.streams["s"].events) == 4  # no retention: never expires
    assert log_retention.sweep(now_ms=now) == 0  # nothing left to delete


def test_an_event_appended_while_the_stream_is_swept_is_kept() -> None:
    """Requests append (moto: `events += new`) while the sweeper runs: only what it read goes."""
    logs = backend()
    now = int(time.time() * 1000)
    group = logs.create_log_group("/busy", {})
    logs.put_retention_policy("/busy", 1)
    group.create_log_stream("s")
    group.put_log_events("s", events(2 * DAY_MS, 0, now_ms=now))
    stream = group.streams["s"]

    class Appending(list):
        def __getitem__(self, index):  # the sweeper reads its slice; a request appends then
            part = super().__getitem__(index)
            if isinstance(index, slice) and not appended:
                appended.append(True)
                stream.put_log_events(events(0, now_ms=now))
            return part

    appended: list[bool] = []
    stream.events = Appending(stream.events)
    assert log_retention.expire_stream(stream, oldest_ms=now - DAY_MS) == 1
    assert [now - e.timestamp for e in stream.events] == [0, 0]


def test_the_plugin_is_registered_as_a_start_up_hook() -> None:
    hooks = importlib.metadata.entry_points(group="localstack.hooks.on_infra_start")
    assert any(
        hook.value == "sandbox.plugins.log_retention:apply_log_retention" for hook in hooks
    ), "run make setup so that the entry point is seen"


@pytest.mark.sandbox
@pytest.mark.long  # up to a minute: the next sweep
def test_the_sandbox_deletes_events_older_than_their_groups_retention(
    aws: Callable, unique: Callable
) -> None:
    """Events stamped 2 days ago (moto accepts up to 14) in a group kept 1 day are gone after the
    next sweep; today's stay."""
    logs = aws("logs")
    group = f"/test/{unique('retention')}"
    logs.create_log_group(logGroupName=group)
    try:
        logs.put_retention_policy(logGroupName=group, retentionInDays=1)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=events(2 * DAY_MS, 0, now_ms=now),
        )

        def messages() -> list[str]:
            return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]

        assert len(messages()) == 2
        eventually(
            lambda: messages() == [f"{0:>10}"],
            timeout=SWEEP_SECONDS + 20,
            interval=1,
            describe=lambda: f"events still held: {messages()}",
        )
    finally:
        logs.delete_log_group(logGroupName=group)
