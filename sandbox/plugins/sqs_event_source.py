"""SQS event source mappings polled as on AWS: long polls, batching windows, concurrent batches.

AWS behaviour reproduced (Lambda developer guide):
- https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html — Lambda polls the queue with long
  polling and invokes the function synchronously with a batch; a successful batch is deleted,
  a failed one becomes visible again after the queue's visibility timeout.
- https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html — pollers scale up while
  messages are available and back down when traffic drops; `ScalingConfig.MaximumConcurrency`
  (2-1000) caps the batches one mapping processes at the same time.
- https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching
  — a batch is invoked when `BatchSize` is reached, when the batching window
  (`MaximumBatchingWindowInSeconds`) ends or when the payload reaches 6 MB; with a window of 0
  "Lambda sends batches to your function as quickly as possible".
- https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html — after function
  errors and throttles Lambda backs off by reducing the mapping's concurrency; the messages are
  not lost, they reappear once their visibility timeout runs out.

How: every enabled SQS mapping gets one permanent poller and up to MaximumConcurrency - 1 extra
ones. A poller long-polls (`WaitTimeSeconds` at most MAX_WAIT_SECONDS per ReceiveMessage, so that
disabling or deleting a mapping takes effect within ~2 s) and never sleeps after an empty receive:
the long poll is the wait, so a message on an idle queue is picked up at once. With window 0 it
invokes as soon as a receive returns messages (up to BatchSize); with a window it keeps receiving
until BatchSize, 6 MB of bodies, or the window (opened by the first message) ends. Each poller
holds one batch at a time and invokes synchronously, so at most MaximumConcurrency batches are in
flight. A poller that receives messages starts one more poller (up to the limit); an extra poller
stops after an empty receive, a failed batch or a throttle (after a throttle the permanent one
pauses 0.5-5 s and no poller is added meanwhile). Without `ScalingConfig` the limit is
DEFAULT_CONCURRENCY, lowered to the function's reserved concurrency when that is smaller.
Messages received after the mapping was stopped are made visible again (ChangeMessageVisibility 0)
instead of being invoked. While the pollers of a disabled (or updated) mapping are finishing, it
reports Disabling; it reports Disabled only once none is left, so nothing runs after that.
A disabled mapping that is deleted is gone at once, as on AWS: LocalStack removed a mapping from
its store only when an enabled one's poller stopped, so a disabled one stayed "Deleting" for good
(and a saved state holding one, whose function was deleted next, could not be restored).

Not reproduced: AWS's own quirks and limits — a batching window may last up to 20 s on a very
quiet queue (with-sqs.html), scale-up is limited to 300 pollers a minute, MaximumConcurrency is not
bounded by reserved concurrency (AWS throttles instead, as here); throttled batches are not
retried before their visibility timeout ends. FIFO groups are still invoked one group per batch
(LocalStack's split), and Pipes, Kinesis and DynamoDB streams keep LocalStack's own poller.

Relies on these internals of localstack-core 2026.3.0 (re-check them on upgrade; checked by
`check_localstack_internals` when the Lambda provider loads: a missing one fails the load):
- `localstack.services.lambda_.event_source_mapping.esm_worker.EsmWorker`: `create`, `start`,
  `poller_loop` (its state transitions and its error back-off, `ExponentialBackoff` up to
  LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_ERROR_SEC, are kept: `poll_events` below raises into
  it), `update_esm_state_in_store`, `delete_esm_in_store`, and the attributes `poller`,
  `esm_config`, `enabled`, `current_state`, `state_transition_reason`, `user_state_reason`,
  `_state_lock`, `_shutdown_event`; `EsmState`;
- `localstack.services.lambda_.event_source_mapping.pollers.sqs_poller`: `SqsPoller.poll_events`
  (replaced for mappings: one call runs the permanent poller until the mapping stops),
  `SqsPoller.close`, `SqsPoller.handle_messages` (filtering, invocation through the ESM processor,
  ReportBatchItemFailures, deletion — safe from several threads: it keeps no state between calls
  and the botocore clients it uses are thread-safe), `SqsPoller.is_fifo_queue` (a cached_property,
  read once before any extra poller starts), `.queue_url`, `.source_client` and the client hook
  that turns `sqs_override_max_message_count` into LocalStack's
  `x-localstack-sqs-override-message-count` header (batches above 10 in one ReceiveMessage);
  `split_by_message_group_id`. A throttle is recognised by the botocore ClientError
  (TooManyRequestsException) that `LambdaSender.send_events` lets through
  `EsmEventProcessor.process_events_batch` and `handle_messages` unwrapped. The wait-time override
  header is not used: LocalStack's
  `StandardQueue.receive` with it shortens the window for each message received and takes whole
  seconds only;
- `localstack.services.lambda_.invocation.models.lambda_stores` (`functions[...]
  .reserved_concurrent_executions`) and `localstack.services.lambda_.api_utils
  .function_locators_from_arn`;
- `localstack.utils.backoff.ExponentialBackoff`; the patches (`sandbox.plugins.patching`) are
  applied from a start-up hook before any mapping exists.
"""

from __future__ import annotations

import enum
import inspect
import itertools
import logging
import threading
import time
from typing import Any

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import LAMBDA_PROVIDER, Target

LOG = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 2  # per ReceiveMessage: how long a stopped mapping may still be receiving
MIN_EMPTY_RECEIVE_SECONDS = 0.2  # e.g. a receive that only moved messages to the DLQ
DEFAULT_CONCURRENCY = 5  # AWS starts with five concurrent batches
MAX_RECEIVE = 10  # SQS's MaxNumberOfMessages limit; more through LocalStack's override header
MAX_CHANGE_VISIBILITY_ENTRIES = 10
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invocation payload limit
MINI_BATCH = 2500  # LocalStack's SqsPoller.poll_events splits batches this size (payload size)
THROTTLE_CODES = ("TooManyRequestsException",)

# uuid -> the pollers of the worker currently running that mapping (at most one worker each).
_RUNNING: dict[str, MappingPollers] = {}
_RUNNING_LOCK = threading.Lock()


class Outcome(enum.Enum):
    EMPTY = "empty"
    INVOKED = "invoked"
    FAILED = "failed"  # the function (or the invocation) failed: the batch reappears later
    THROTTLED = "throttled"
    STOPPED = "stopped"


def is_throttle(error: BaseException | None) -> bool:
    """Whether an invocation failed because Lambda throttled it (reserved concurrency)."""
    while error is not None:
        code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
        if code in THROTTLE_CODES:
            return True
        error = error.__cause__ or error.__context__
    return False


def receive_plan(remaining: float) -> tuple[int, float]:
    """(WaitTimeSeconds, seconds to wait first) for the next receive of a batching window.

    ReceiveMessage waits whole seconds only: a long poll while a second or more is left, then the
    last fraction of the window is waited out locally before one final short poll.
    """
    whole = min(MAX_WAIT_SECONDS, int(remaining))
    return (whole, 0.0) if whole >= 1 else (0, max(0.0, remaining))


class MappingPollers:
    """The pollers of one EsmWorker run of an SQS event source mapping."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.poller = worker.poller
        self.stopping: threading.Event = worker._shutdown_event
        config = worker.esm_config
        self.uuid: str = config["UUID"]
        self.batch_size = int(config.get("BatchSize") or MAX_RECEIVE)
        self.window = int(config.get("MaximumBatchingWindowInSeconds") or 0)
        self.maximum_concurrency = (config.get("ScalingConfig") or {}).get("MaximumConcurrency")
        self.function_arn: str = config["FunctionArn"]
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._extras: set[threading.Thread] = set()
        self._started = 0
        self._recovering = False
        self._throttled_until = 0.0
        from localstack.utils.backoff import ExponentialBackoff

        self._throttle_backoff = ExponentialBackoff(initial_interval=0.5, max_interval=5)

    # ------------------------------------------------------------------ the permanent poller

    def poll_cycle(self) -> None:
        """`SqsPoller.poll_events` of a mapping: the permanent poller, until the mapping stops.

        Exceptions propagate to `EsmWorker.poller_loop`, which logs them and backs off as for any
        LocalStack poller; the first receive that works after one returns, so that the loop resets
        its back-off (and calls again after LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC).
        """
        try:
            _ = self.poller.is_fifo_queue  # GetQueueAttributes once, before other threads read it
            while not self.stopping.is_set():
                outcome = self._poll_once()
                if self._recovering:
                    self._recovering = False
                    return
                if outcome is Outcome.THROTTLED:
                    self.stopping.wait(max(0.0, self._throttled_until - time.monotonic()))
        except Exception:
            self._recovering = True
            raise

    def join(self) -> None:
        """Wait until every extra poller has stopped (the mapping is stopping)."""
        while True:
            with self._lock:
                threads = list(self._extras)
            if not threads:
                return
            for thread in threads:
                thread.join()

    # ------------------------------------------------------------------ one poll

    def _poll_once(self) -> Outcome:
        messages = self._collect()
        if not messages:
            return Outcome.EMPTY
        if self.stopping.is_set():
            self._release(messages)
            return Outcome.STOPPED
        self._scale_up()
        return self._dispatch(messages)

    def _receive(self, count: int, wait: int) -> list[dict]:
        response = self.poller.source_client.receive_message(
            QueueUrl=self.poller.queue_url,
            MaxNumberOfMessages=min(count, MAX_RECEIVE),
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            # LocalStack's SqsPoller client hook: more than 10 messages in one receive.
            sqs_override_max_message_count=count,
        )
        return response.get("Messages") or []

    def _collect(self) -> list[dict]:
        """A batch: the first receive long-polls; a batching window then gathers more."""
        started = time.monotonic()
        messages = self._receive(self.batch_size, MAX_WAIT_SECONDS)
        if not messages:
            early = MIN_EMPTY_RECEIVE_SECONDS - (time.monotonic() - started)
            if early > 0:  # an empty answer long before the wait ended: never spin on those
                self.stopping.wait(early)
            return messages
        if self.window <= 0:
            return messages
        deadline = time.monotonic() + self.window
        size = sum(len(m.get("Body") or "") for m in messages)
        while len(messages) < self.batch_size and size < MAX_PAYLOAD_BYTES:
            wait, pause = receive_plan(deadline - time.monotonic())
            if (wait == 0 and pause <= 0) or self.stopping.wait(pause):
                break
            more = self._receive(self.batch_size - len(messages), wait)
            messages += more
            size += sum(len(m.get("Body") or "") for m in more)
            if wait == 0:
                break
        return messages

    def _dispatch(self, messages: list[dict]) -> Outcome:
        """Invoke as LocalStack's `SqsPoller.poll_events` does, through `handle_messages`."""
        from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import (
            split_by_message_group_id,
        )

        outcome = Outcome.INVOKED
        for mini_batch in itertools.batched(messages, MINI_BATCH, strict=False):
            if self.poller.is_fifo_queue:
                groups = list(split_by_message_group_id(list(mini_batch)).values())
            else:
                groups = [list(mini_batch)]
            for group in groups:
                try:
                    self.poller.handle_messages(group)
                except Exception as e:
                    if is_throttle(e):
                        LOG.info(
                            "mapping %s: function throttled; %d messages reappear after their "
                            "visibility timeout",
                            self.uuid,
                            len(messages),
                        )
                        self._note_throttle()
                        return Outcome.THROTTLED  # the rest of the batch reappears too
                    LOG.warning(
                        "Polling or batch processing failed: %s",
                        e,
                        exc_info=LOG.isEnabledFor(logging.DEBUG),
                    )
                    outcome = Outcome.FAILED
        if outcome is Outcome.INVOKED:
            with self._lock:
                self._throttle_backoff.reset()
        return outcome

    def _release(self, messages: list[dict]) -> None:
        """Make messages received after the mapping stopped visible again, uninvoked."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ]
        for chunk in itertools.batched(entries, MAX_CHANGE_VISIBILITY_ENTRIES, strict=False):
            try:
                self.poller.source_client.change_message_visibility_batch(
                    QueueUrl=self.poller.queue_url, Entries=list(chunk)
                )
            except Exception as e:  # they reappear after the visibility timeout anyway
                LOG.info("mapping %s: could not release %d messages: %s", self.uuid, len(chunk), e)

    # ------------------------------------------------------------------ scaling

    def _note_throttle(self) -> None:
        with self._lock:
            pause = self._throttle_backoff.next_backoff()
            self._throttled_until = max(self._throttled_until, time.monotonic() + pause)

    def concurrency_limit(self) -> int:
        if self.maximum_concurrency:
            return max(1, int(self.maximum_concurrency))
        reserved = self._reserved_concurrency()
        if reserved is None:
            return DEFAULT_CONCURRENCY
        return max(1, min(DEFAULT_CONCURRENCY, reserved))

    def _reserved_concurrency(self) -> int | None:
        from localstack.services.lambda_.api_utils import function_locators_from_arn
        from localstack.services.lambda_.invocation.models import lambda_stores

        try:
            name, _, account, region = function_locators_from_arn(self.function_arn)
            function = lambda_stores[account][region].functions.get(name)
            return function.reserved_concurrent_executions if function else None
        except Exception:  # the function is being deleted: keep the default
            return None

    def _scale_up(self) -> None:
        limit = self.concurrency_limit()
        with self._lock:
            if self.stopping.is_set() or time.monotonic() < self._throttled_until:
                return
            if 1 + len(self._extras) >= limit:
                return
            self._started += 1
            thread = threading.Thread(
                target=self._extra_poller,
                name=f"esm-sqs-{self.uuid[:8]}-{self._started}",
                daemon=True,
            )
            self._extras.add(thread)
            thread.start()

    def _extra_poller(self) -> None:
        try:
            while not self.stopping.is_set():
                if self._poll_once() is not Outcome.INVOKED:
                    return  # empty receive, failed or throttled batch, stopped: scale down
        except Exception as e:
            LOG.info("mapping %s: an extra poller stopped: %s", self.uuid, e)
        finally:
            with self._lock:
                self._extras.discard(threading.current_thread())


# ---------------------------------------------------------------------- start-up checks


def _require(owner: Any, name: str) -> None:
    """`owner` (a class or module) has `name`: an attribute, or an annotated instance attribute."""
    if inspect.getattr_static(owner, name, None) is not None:
        return
    classes = inspect.getmro(owner) if inspect.isclass(owner) else ()
    if not any(name in vars(cls).get("__annotations__", {}) for cls in classes):
        raise RuntimeError(f"sqs_event_source: {owner!r} has no {name!r} (LocalStack changed?)")


def _require_parameters(function: Any, expected: list[str]) -> None:
    found = list(inspect.signature(function).parameters)
    if found != expected:
        raise RuntimeError(
            f"sqs_event_source: {function.__qualname__} takes {found}, expected {expected}"
        )


ESM_WORKER = "localstack.services.lambda_.event_source_mapping.esm_worker:EsmWorker"
SQS_POLLER = "localstack.services.lambda_.event_source_mapping.pollers.sqs_poller:SqsPoller"
WORKER_CREATE = Target(f"{ESM_WORKER}.create", params=("self",), exact=True)
WORKER_START = Target(f"{ESM_WORKER}.start", params=("self",), exact=True)
WORKER_DELETE = Target(f"{ESM_WORKER}.delete", params=("self",), exact=True)
WORKER_POLLER_LOOP = Target(f"{ESM_WORKER}.poller_loop", params=("self", "args", "kwargs"))
POLL_EVENTS = Target(f"{SQS_POLLER}.poll_events", params=("self",), exact=True)
POLLER_CLOSE = Target(f"{SQS_POLLER}.close", params=("self",), exact=True)
# The patched methods; `check_localstack_internals` checks the rest of what the plugin reads.
INTERNALS = (
    WORKER_CREATE,
    WORKER_START,
    WORKER_DELETE,
    WORKER_POLLER_LOOP,
    POLL_EVENTS,
    POLLER_CLOSE,
)


def check_localstack_internals() -> None:
    """Raise RuntimeError unless every LocalStack internal this plugin relies on is as expected."""
    patching.check(INTERNALS)
    from functools import cached_property

    from localstack.services.lambda_ import api_utils
    from localstack.services.lambda_.event_source_mapping import esm_worker
    from localstack.services.lambda_.event_source_mapping.pollers import sqs_poller
    from localstack.services.lambda_.invocation import lambda_models, models
    from localstack.utils import backoff

    worker = esm_worker.EsmWorker
    for name in ("create", "start", "poller_loop", "delete_esm_in_store"):
        _require(worker, name)
    for method in (worker.create, worker.start, worker.delete_esm_in_store):
        _require_parameters(method, ["self"])
    _require_parameters(worker.poller_loop, ["self", "args", "kwargs"])
    _require_parameters(worker.update_esm_state_in_store, ["self", "new_state"])
    for name in (
        "poller",
        "esm_config",
        "enabled",
        "current_state",
        "state_transition_reason",
        "user_state_reason",
        "_state_lock",
        "_shutdown_event",
    ):
        _require(worker, name)
    for state in ("ENABLED", "DISABLING", "DISABLED", "DELETING"):
        _require(esm_worker.EsmState, state)

    poller = sqs_poller.SqsPoller
    for name in ("poll_events", "close"):
        _require(poller, name)
        _require_parameters(getattr(poller, name), ["self"])
    _require_parameters(poller.handle_messages, ["self", "messages"])
    if not isinstance(inspect.getattr_static(poller, "is_fifo_queue", None), cached_property):
        raise RuntimeError("sqs_event_source: SqsPoller.is_fifo_queue is no cached_property")
    for name in ("queue_url", "source_client"):
        _require(poller, name)
    if "sqs_override_max_message_count" not in inspect.getsource(poller._register_client_hooks):
        raise RuntimeError("sqs_event_source: SqsPoller's message count override hook is gone")
    _require_parameters(sqs_poller.split_by_message_group_id, ["messages"])

    _require_parameters(api_utils.function_locators_from_arn, ["arn"])
    _require(models.LambdaStore, "functions")
    _require(models, "lambda_stores")
    _require(lambda_models.Function, "reserved_concurrent_executions")
    _require(backoff.ExponentialBackoff, "next_backoff")
    _require(backoff.ExponentialBackoff, "reset")


# ---------------------------------------------------------------------- the patches


def _create_after(create: Any, worker: Any, predecessor: MappingPollers) -> None:
    """Run `EsmWorker.create` once the worker this one replaces has stopped polling."""
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmState

    predecessor.finished.wait()
    if worker._shutdown_event.is_set():  # replaced or deleted meanwhile: never started
        if worker.current_state == EsmState.DELETING:
            worker.delete_esm_in_store()
        return
    create(worker)


@hooks.on_infra_start(priority=50)
def apply_sqs_event_source() -> None:
    """Replace the polling of SQS event source mappings when the Lambda provider loads (it
    creates every mapping's worker; importing its modules at start-up would cost ~30 ms and
    4 MB for a sandbox that may not use Lambda): its modules are only looked for now."""
    patching.check(INTERNALS, import_modules=False)
    patching.when_provider_loads("lambda", patch_sqs_pollers, LAMBDA_PROVIDER)


def patch_sqs_pollers() -> None:
    """The patches (see above); raise if LocalStack changed (the Lambda provider then fails)."""
    check_localstack_internals()
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmState
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    @patching.wrap(WORKER_CREATE)
    def create(fn: Any, self: Any) -> None:
        if not isinstance(self.poller, SqsPoller):
            return fn(self)
        with _RUNNING_LOCK:
            predecessor = _RUNNING.get(self.uuid)
        if predecessor is None or predecessor.worker is self:
            return fn(self)
        # UpdateEventSourceMapping replaced a worker whose pollers are still finishing.
        if not self.enabled:
            with self._state_lock:
                self.current_state = EsmState.DISABLING
                self.state_transition_reason = self.user_state_reason
        threading.Thread(
            target=_create_after,
            args=(fn, self, predecessor),
            name=f"esm-sqs-{self.uuid[:8]}-successor",
            daemon=True,
        ).start()
        return None

    @patching.wrap(WORKER_START)
    def start(fn: Any, self: Any) -> None:
        if isinstance(self.poller, SqsPoller):
            pollers = MappingPollers(self)
            self.poller._sandbox_pollers = pollers
            with _RUNNING_LOCK:
                _RUNNING[self.uuid] = pollers
        return fn(self)

    @patching.wrap(WORKER_POLLER_LOOP)
    def poller_loop(fn: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        pollers = getattr(self.poller, "_sandbox_pollers", None)
        try:
            return fn(self, *args, **kwargs)
        finally:
            if pollers is not None:
                with _RUNNING_LOCK:
                    if _RUNNING.get(self.uuid) is pollers:
                        del _RUNNING[self.uuid]
                pollers.finished.set()

    @patching.wrap(POLL_EVENTS)
    def poll_events(fn: Any, self: Any) -> None:
        pollers = self.__dict__.get("_sandbox_pollers")
        return fn(self) if pollers is None else pollers.poll_cycle()

    @patching.wrap(WORKER_DELETE)
    def delete(fn: Any, self: Any) -> None:
        fn(self)
        if not self.enabled:  # no poller will finish the deletion (see the module docstring)
            self.delete_esm_in_store()

    @patching.wrap(POLLER_CLOSE)
    def close(fn: Any, self: Any) -> None:
        pollers = self.__dict__.get("_sandbox_pollers")
        if pollers is not None:
            pollers.join()  # before EsmWorker.poller_loop reports Disabled or deletes
        return fn(self)
