"""SQS event source mappings polled as on AWS (sandbox/plugins/sqs_event_source.py)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from harness.lambdas import create_function
from harness.waiting import eventually
from sandbox.plugins import sqs_event_source

# ---------------------------------------------------------------------- contract (no server)


def _parameters(function: Callable) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_localstack_internals_are_what_the_plugin_relies_on() -> None:
    from localstack.services.lambda_.api_utils import function_locators_from_arn
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmState, EsmWorker
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import (
        SqsPoller,
        split_by_message_group_id,
    )
    from localstack.services.lambda_.invocation.lambda_models import Function
    from localstack.services.lambda_.invocation.models import LambdaStore, lambda_stores
    from localstack.services.sqs.constants import HEADER_LOCALSTACK_SQS_OVERRIDE_MESSAGE_COUNT
    from localstack.services.sqs.models import StandardQueue
    from localstack.utils.backoff import ExponentialBackoff

    # The patched methods and the ones called.
    assert _parameters(EsmWorker.create) == ["self"]
    assert _parameters(EsmWorker.start) == ["self"]
    assert _parameters(EsmWorker.poller_loop) == ["self", "args", "kwargs"]
    assert _parameters(EsmWorker.update_esm_state_in_store) == ["self", "new_state"]
    assert _parameters(EsmWorker.delete_esm_in_store) == ["self"]
    assert _parameters(SqsPoller.poll_events) == ["self"]
    assert _parameters(SqsPoller.close) == ["self"]
    assert _parameters(SqsPoller.handle_messages) == ["self", "messages"]
    assert _parameters(split_by_message_group_id) == ["messages"]
    assert _parameters(function_locators_from_arn) == ["arn"]
    assert {"initial_interval", "max_interval"} <= set(_parameters(ExponentialBackoff))
    # The instance attributes used (annotated on the classes).
    worker_attributes = inspect.get_annotations(EsmWorker)
    for name in ("poller", "esm_config", "enabled", "current_state", "_shutdown_event"):
        assert name in worker_attributes
    assert {"ENABLED", "DISABLING", "DISABLED", "DELETING"} <= set(EsmState.__members__)
    assert isinstance(inspect.getattr_static(SqsPoller, "is_fifo_queue"), cached_property)
    assert "queue_url" in inspect.get_annotations(SqsPoller)
    # Batches above 10 in one ReceiveMessage: the poller's client hook sends LocalStack's header.
    hooks = inspect.getsource(SqsPoller._register_client_hooks)
    assert "sqs_override_max_message_count" in hooks
    assert "HEADER_LOCALSTACK_SQS_OVERRIDE_MESSAGE_COUNT" in hooks
    assert HEADER_LOCALSTACK_SQS_OVERRIDE_MESSAGE_COUNT.startswith("x-localstack-")
    # A receive returns at the first message unless poll_empty_queue (the wait override) is set.
    receive = inspect.signature(StandardQueue.receive).parameters
    assert list(receive)[:4] == ["self", "num_messages", "wait_time_seconds", "visibility_timeout"]
    assert receive["poll_empty_queue"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "reserved_concurrent_executions" in inspect.get_annotations(Function)
    assert "functions" in inspect.get_annotations(LambdaStore)
    assert lambda_stores is not None
    # The SQS API calls the pollers make, with the parameters they pass.
    sqs = botocore.session.get_session().get_service_model("sqs")
    receive_input = sqs.operation_model("ReceiveMessage").input_shape.members
    assert {
        "QueueUrl",
        "MaxNumberOfMessages",
        "WaitTimeSeconds",
        "MessageAttributeNames",
        "MessageSystemAttributeNames",
    } <= set(receive_input)
    entry = sqs.operation_model("ChangeMessageVisibilityBatch").input_shape.members["Entries"]
    assert {"Id", "ReceiptHandle", "VisibilityTimeout"} <= set(entry.member.members)
    # And the plugin's own start-up check agrees.
    sqs_event_source.check_localstack_internals()


def test_the_start_up_check_fails_loudly_when_a_target_is_missing() -> None:
    class Changed:
        pass

    with pytest.raises(RuntimeError, match="has no 'poller_loop'"):
        sqs_event_source._require(Changed, "poller_loop")
    with pytest.raises(RuntimeError, match="takes"):
        sqs_event_source._require_parameters(lambda self, batch: None, ["self", "messages"])


def test_the_plugin_is_registered_as_a_start_up_hook() -> None:
    hooks = importlib.metadata.entry_points(group="localstack.hooks.on_infra_start")
    assert any(
        hook.value == "sandbox.plugins.sqs_event_source:apply_sqs_event_source" for hook in hooks
    ), "run .venv/bin/pip install -e . --no-deps so that the entry point is seen"


def test_a_batching_window_receives_whole_seconds_then_waits_out_the_last_fraction() -> None:
    assert sqs_event_source.receive_plan(9.5) == (2, 0.0)
    assert sqs_event_source.receive_plan(1.9) == (1, 0.0)
    assert sqs_event_source.receive_plan(0.4) == (0, 0.4)
    assert sqs_event_source.receive_plan(-0.1) == (0, 0.0)


def test_only_lambda_throttles_count_as_throttles() -> None:
    throttle = ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke")
    try:
        raise RuntimeError("wrapped") from throttle
    except RuntimeError as wrapped:
        assert sqs_event_source.is_throttle(wrapped)
    assert sqs_event_source.is_throttle(throttle)
    assert not sqs_event_source.is_throttle(ValueError("function error"))
    assert not sqs_event_source.is_throttle(ClientError({"Error": {"Code": "Other"}}, "Invoke"))


# ---------------------------------------------------------------------- the pollers, with fakes


class FakeSqs:
    """Answers ReceiveMessage from a script of message lists; records every call."""

    def __init__(self, *answers: list[dict]) -> None:
        self.answers = list(answers)
        self.receives: list[dict] = []
        self.released: list[dict] = []
        self.on_receive: Callable[[], None] = lambda: None

    def receive_message(self, **params: Any) -> dict:
        self.receives.append(params)
        self.on_receive()
        return {"Messages": self.answers.pop(0)} if self.answers else {}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> None:
        self.released += Entries


class FakePoller:
    queue_url = "http://queue"
    is_fifo_queue = False

    def __init__(self, sqs: FakeSqs, fail_with: Exception | None = None) -> None:
        self.source_client = sqs
        self.batches: list[list[str]] = []
        self.fail_with = fail_with

    def handle_messages(self, messages: list[dict]) -> None:
        self.batches.append([m["Body"] for m in messages])
        if self.fail_with:
            raise self.fail_with


def _messages(*bodies: str) -> list[dict]:
    return [{"Body": b, "ReceiptHandle": f"rh-{b}", "MessageId": b} for b in bodies]


def _pollers(poller: FakePoller, **config: Any) -> sqs_event_source.MappingPollers:
    worker = type("Worker", (), {})()
    worker.poller = poller
    worker._shutdown_event = threading.Event()
    worker.esm_config = {"UUID": "u" * 36, "FunctionArn": "arn:fn", **config}
    pollers = sqs_event_source.MappingPollers(worker)
    pollers._reserved_concurrency = lambda: None  # no Lambda store here
    return pollers


def test_window_0_invokes_what_one_long_poll_returns() -> None:
    sqs = FakeSqs(_messages("a", "b"))
    pollers = _pollers(FakePoller(sqs), BatchSize=5, ScalingConfig={"MaximumConcurrency": 2})
    pollers._scale_up = lambda: None  # no extra thread in this test
    assert pollers._poll_once() is sqs_event_source.Outcome.INVOKED
    assert pollers.poller.batches == [["a", "b"]]
    [receive] = sqs.receives
    assert receive["WaitTimeSeconds"] == sqs_event_source.MAX_WAIT_SECONDS
    assert receive["MaxNumberOfMessages"] == 5
    assert receive["sqs_override_max_message_count"] == 5


def test_a_window_keeps_receiving_until_the_batch_is_full() -> None:
    sqs = FakeSqs(_messages("a"), _messages(*"bcd"), _messages(*"efghijkl"), _messages("z"))
    pollers = _pollers(FakePoller(sqs), BatchSize=12, MaximumBatchingWindowInSeconds=30)
    pollers._scale_up = lambda: None
    assert pollers._poll_once() is sqs_event_source.Outcome.INVOKED
    assert pollers.poller.batches == [list("abcdefghijkl")]  # full: no fourth receive
    assert [r["sqs_override_max_message_count"] for r in sqs.receives] == [12, 11, 8]
    assert [r["MaxNumberOfMessages"] for r in sqs.receives] == [10, 10, 8]
    assert {r["WaitTimeSeconds"] for r in sqs.receives} == {sqs_event_source.MAX_WAIT_SECONDS}


def test_messages_received_after_the_mapping_stopped_are_released_not_invoked() -> None:
    sqs = FakeSqs(_messages("late-1", "late-2"))
    pollers = _pollers(FakePoller(sqs), BatchSize=10)
    sqs.on_receive = pollers.stopping.set  # stopped while the long poll was waiting
    assert pollers._poll_once() is sqs_event_source.Outcome.STOPPED
    assert pollers.poller.batches == []
    assert sqs.released == [
        {"Id": "0", "ReceiptHandle": "rh-late-1", "VisibilityTimeout": 0},
        {"Id": "1", "ReceiptHandle": "rh-late-2", "VisibilityTimeout": 0},
    ]


def test_a_throttle_pauses_scaling_and_keeps_the_messages() -> None:
    throttle = ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke")
    sqs = FakeSqs(_messages("a"))
    pollers = _pollers(FakePoller(sqs, fail_with=throttle), BatchSize=1)
    pollers._scale_up = lambda: None
    assert pollers._poll_once() is sqs_event_source.Outcome.THROTTLED
    assert pollers._throttled_until > time.monotonic()
    assert sqs.released == []  # left to their visibility timeout, as on AWS
    sqs_event_source.MappingPollers._scale_up(pollers)
    assert not pollers._extras  # no new poller while throttled


def test_a_failed_batch_is_reported_as_failed() -> None:
    sqs = FakeSqs(_messages("a"))
    pollers = _pollers(FakePoller(sqs, fail_with=RuntimeError("function error")), BatchSize=1)
    pollers._scale_up = lambda: None
    assert pollers._poll_once() is sqs_event_source.Outcome.FAILED


@pytest.mark.parametrize(
    ("maximum", "reserved", "limit"),
    [(3, None, 3), (3, 1, 3), (None, None, 5), (None, 2, 2), (None, 0, 1), (None, 50, 5)],
)
def test_the_concurrency_limit(maximum, reserved, limit) -> None:
    scaling = {"ScalingConfig": {"MaximumConcurrency": maximum}} if maximum else {}
    pollers = _pollers(FakePoller(FakeSqs()), **scaling)
    pollers._reserved_concurrency = lambda: reserved
    assert pollers.concurrency_limit() == limit


def test_extra_pollers_never_exceed_the_limit_and_stop_when_the_queue_is_empty() -> None:
    sqs = FakeSqs(*[_messages(str(n)) for n in range(8)])
    pollers = _pollers(FakePoller(sqs), BatchSize=1, ScalingConfig={"MaximumConcurrency": 3})
    peak = 0
    original = pollers._scale_up

    def scale_up() -> None:
        nonlocal peak
        original()
        peak = max(peak, 1 + len(pollers._extras))

    pollers._scale_up = scale_up
    while pollers._poll_once() is not sqs_event_source.Outcome.EMPTY:
        pass
    pollers.stopping.set()
    pollers.join()
    assert sorted(b for batch in pollers.poller.batches for b in batch) == sorted(
        map(str, range(8))
    )
    assert 1 < peak <= 3
    assert not pollers._extras


# ---------------------------------------------------------------------- against the sandbox

RECORDER = """
import json, os, time

def handler(event, context):
    started = time.time()
    records = event.get("Records", [])
    time.sleep(float(os.environ.get("SLEEP", "0")))
    print("INVOCATION " + json.dumps({
        "bodies": [r["body"] for r in records],
        "receives": [int(r["attributes"]["ApproximateReceiveCount"]) for r in records],
        "start": started,
        "end": time.time(),
    }))
    failed = [r["messageId"] for r in records if r["body"].startswith("fail")]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}
"""


@dataclass
class Lane:
    """A queue, a recording function and (once created) the mapping between them."""

    sqs: Any
    lam: Any
    logs: Any
    queue_url: str
    queue_arn: str
    function: str
    mapping: str = ""

    def map(self, **settings: Any) -> str:
        self.mapping = self.lam.create_event_source_mapping(
            EventSourceArn=self.queue_arn, FunctionName=self.function, **settings
        )["UUID"]
        self.wait_for_state("Enabled" if settings.get("Enabled", True) else "Disabled")
        return self.mapping

    def state(self) -> str:
        return self.lam.get_event_source_mapping(UUID=self.mapping)["State"]

    def wait_for_state(self, wanted: str) -> None:
        eventually(
            lambda: self.state() == wanted,
            timeout=30,
            describe=lambda: f"mapping {self.mapping} is {self.state()}, not {wanted}",
        )

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def invocations(self) -> list[dict]:
        try:
            pages = self.logs.get_paginator("filter_log_events").paginate(
                logGroupName=f"/aws/lambda/{self.function}"
            )
            events = [e for page in pages for e in page["events"]]
        except ClientError:  # no log group before the first invocation
            return []
        return sorted(
            (
                json.loads(e["message"].split("INVOCATION ", 1)[1])
                for e in events
                if "INVOCATION " in e["message"]
            ),
            key=lambda i: i["start"],
        )

    def processed(self, bodies: set[str], timeout: float = 30) -> list[dict]:
        """The invocations, once every body in `bodies` was handled."""

        def done() -> list[dict] | None:
            found = self.invocations()
            return found if bodies <= {b for i in found for b in i["bodies"]} else None

        return eventually(
            done, timeout=timeout, interval=0.25, describe=lambda: f"{self.invocations()}"
        )

    def queue_counts(self) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )


@pytest.fixture
def lane(aws: Callable[..., Any], unique: Callable[[str], str]) -> Iterator[Callable[..., Lane]]:
    """`lane(queue_attributes, SLEEP="1", **function_settings)` → a queue and a function."""
    created: list[Lane] = []
    sqs, lam, logs = aws("sqs"), aws("lambda"), aws("logs")

    def make(queue_attributes: dict | None = None, sleep: float = 0, **function: Any) -> Lane:
        url = sqs.create_queue(QueueName=unique("esm"), Attributes=queue_attributes or {})[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        name = unique("esm-fn")
        function.setdefault("Timeout", 10)
        create_function(
            lam, name, RECORDER, Environment={"Variables": {"SLEEP": str(sleep)}}, **function
        )
        created.append(Lane(sqs, lam, logs, url, arn, name))
        return created[-1]

    yield make
    for made in created:
        with contextlib.suppress(ClientError):
            if made.mapping:
                lam.delete_event_source_mapping(UUID=made.mapping)
        with contextlib.suppress(ClientError):
            lam.delete_function(FunctionName=made.function)
        with contextlib.suppress(ClientError):
            sqs.delete_queue(QueueUrl=made.queue_url)


def _max_overlap(invocations: list[dict]) -> int:
    edges = sorted(
        [(i["start"], 1) for i in invocations] + [(i["end"], -1) for i in invocations],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same instant
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.sandbox
def test_window_0_picks_up_a_message_on_an_idle_queue(lane) -> None:
    made = lane()
    made.map(BatchSize=1)
    made.lam.invoke(FunctionName=made.function, Payload=b"{}")  # the poller, not a cold start
    quiet_since = time.monotonic()
    # Idle for more than 3 s (LocalStack's own poller would be in its empty-poll back-off).
    eventually(
        lambda: made.queue_counts() == (0, 0) and time.monotonic() - quiet_since > 3.5,
        timeout=15,
        interval=0.5,
    )
    sent = time.time()
    made.send("idle-1")
    [invocation] = [i for i in made.processed({"idle-1"}) if i["bodies"]]
    assert invocation["bodies"] == ["idle-1"]
    assert invocation["receives"] == [1]  # received once: never released or retried
    print(f"picked up {1000 * (invocation['start'] - sent):.0f} ms after SendMessage")


@pytest.mark.sandbox
def test_maximum_concurrency_bounds_the_batches_in_flight(lane) -> None:
    made = lane(sleep=1)
    made.map(BatchSize=1, ScalingConfig={"MaximumConcurrency": 3})
    bodies = [f"slow-{n}" for n in range(6)]
    made.sqs.send_message_batch(
        QueueUrl=made.queue_url,
        Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)],
    )
    invocations = made.processed(set(bodies), timeout=60)
    assert sorted(b for i in invocations for b in i["bodies"]) == sorted(bodies)  # each once
    assert all(len(i["bodies"]) == 1 for i in invocations)
    assert 2 <= _max_overlap(invocations) <= 3, invocations


@pytest.mark.sandbox
def test_a_batching_window_gathers_messages_sent_together_into_one_batch(lane) -> None:
    made = lane()
    made.map(BatchSize=10, MaximumBatchingWindowInSeconds=2)
    bodies = [f"together-{n}" for n in range(5)]
    made.send(*bodies)  # five separate SendMessage calls
    invocations = made.processed(set(bodies))
    assert [sorted(i["bodies"]) for i in invocations] == [sorted(bodies)]


@pytest.mark.sandbox
def test_nothing_is_invoked_once_a_disabled_mapping_reports_disabled(lane) -> None:
    made = lane(sleep=2)
    made.map(BatchSize=1)
    made.send("before")
    eventually(lambda: made.queue_counts() == (0, 1), timeout=15)  # "before" is being handled
    made.lam.update_event_source_mapping(UUID=made.mapping, Enabled=False)
    # Sent while the mapping's long poll may still be waiting: received, it must be released.
    made.send("while-disabling")
    made.wait_for_state("Disabled")
    disabled_at = time.time()
    made.send("after")

    got: set[str] = set()

    def both_in_the_queue() -> bool:
        messages = made.sqs.receive_message(
            QueueUrl=made.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        got.update(m["Body"] for m in messages)
        return got == {"while-disabling", "after"}

    # A message the stopping poller received is released at once (visibility 0), not held until
    # its visibility timeout (30 s) ends; one sent after Disabled is never received by it.
    eventually(both_in_the_queue, timeout=10, describe=lambda: f"received {got}")
    invocations = made.processed({"before"})
    assert [b for i in invocations for b in i["bodies"]] == ["before"]
    # Disabled means no poller is left: the batch in flight had finished before.
    assert all(i["end"] <= disabled_at for i in invocations), (invocations, disabled_at)


@pytest.mark.sandbox
def test_a_partial_batch_failure_retries_only_the_failed_record(lane, aws, unique) -> None:
    sqs = aws("sqs")
    dlq_url = sqs.create_queue(QueueName=unique("esm-dlq"))["QueueUrl"]
    try:
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
        made = lane({"VisibilityTimeout": "2", "RedrivePolicy": redrive})
        # Queued before the mapping exists, so that its first receive takes all three.
        made.sqs.send_message_batch(
            QueueUrl=made.queue_url,
            Entries=[{"Id": b, "MessageBody": b} for b in ("ok-1", "ok-2", "fail-1")],
        )
        made.map(BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])

        def dead_lettered() -> list[str]:
            messages = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages")
            return [m["Body"] for m in messages or []]

        assert eventually(dead_lettered, timeout=30) == ["fail-1"]
        invocations = made.invocations()
        assert sorted(invocations[0]["bodies"]) == ["fail-1", "ok-1", "ok-2"]
        assert [i["bodies"] for i in invocations[1:]] == [["fail-1"]]
        assert invocations[1]["receives"] == [2]
    finally:
        sqs.delete_queue(QueueUrl=dlq_url)


@pytest.mark.sandbox
def test_throttled_batches_are_not_lost(lane) -> None:
    made = lane({"VisibilityTimeout": "3"}, sleep=1)
    made.lam.put_function_concurrency(FunctionName=made.function, ReservedConcurrentExecutions=1)
    made.map(BatchSize=1, ScalingConfig={"MaximumConcurrency": 2})  # more than the function has
    bodies = [f"throttled-{n}" for n in range(4)]
    made.sqs.send_message_batch(
        QueueUrl=made.queue_url,
        Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)],
    )
    invocations = made.processed(set(bodies), timeout=60)
    assert sorted(b for i in invocations for b in i["bodies"]) == sorted(bodies)
    assert _max_overlap(invocations) == 1


@pytest.mark.sandbox
def test_a_disabled_mapping_that_is_deleted_is_gone(aws, unique) -> None:
    """LocalStack left it "Deleting" for good (only an enabled mapping's poller removed it)."""
    sqs, lam = aws("sqs"), aws("lambda")
    url = sqs.create_queue(QueueName=unique("esm-off"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    name = create_function(lam, unique("esm-off-fn"), RECORDER)
    try:
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn["QueueArn"], Enabled=False
        )["UUID"]
        lam.delete_event_source_mapping(UUID=mapping)
        eventually(
            lambda: not lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"],
            timeout=10,
            describe="the deleted mapping gone",
        )
    finally:
        lam.delete_function(FunctionName=name)
        sqs.delete_queue(QueueUrl=url)
