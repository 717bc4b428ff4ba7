"""Lambda cold starts sized to the machine: at most one environment initializing per CPU.

Why: an invocation that finds no idle environment starts a new one, as on AWS. LocalStack lets
16 start at once. On AWS they initialize on separate hardware; here they share the sandbox's
cores. Measured (`make load PROFILE=steady` right after a deploy, 2 cores, 14 requests/s): the
first second of traffic started 20 ingest environments at once, each init took 0.7-2.4 s instead
of 0.3 s because they all competed for the same two cores, the requests arriving meanwhile found
none ready and started more, and high-priority notifications took 3 s (p95) for the first 10 s.

Here an invocation that finds no idle environment waits for an init slot (one per CPU) and,
while it waits, takes any environment of its function that becomes idle: the first environments
are ready in a fraction of the time, and one warm environment serves many requests meanwhile.
What AWS guarantees still holds: each invocation gets an environment of its own version, fresh
or reused; concurrency (reserved concurrency, throttling) is counted by LocalStack before this,
so a waiting invocation holds its lease as one in a cold start does on AWS. A wait is bounded
(`MAX_WAIT_SECONDS`, then the environment starts regardless), so an init that invokes another
cold function cannot deadlock the slots. Provisioned concurrency is not affected.

Relies on these internals of localstack-core 2026.3.0 (re-check them on upgrade):
- `invocation.assignment.AssignmentService.get_environment` (a context manager, replaced here
  for on-demand environments), its `environments` (version manager id -> environment id ->
  environment), `start_environment` and `stop_environment`;
- `ExecutionEnvironment.reserve()` / `release()` (READY <-> INVOKING, `InvalidStatusException`
  otherwise) and `initialization_type`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import LAMBDA_PROVIDER, Target

LOG = logging.getLogger(__name__)

INVOCATION = "localstack.services.lambda_.invocation"
GET_ENVIRONMENT = Target(
    f"{INVOCATION}.assignment:AssignmentService.get_environment",
    params=("self", "version_manager_id", "function_version", "provisioning_type"),
    exact=True,
)
INTERNALS = (
    GET_ENVIRONMENT,
    Target(f"{INVOCATION}.assignment:AssignmentService.environments"),
    Target(
        f"{INVOCATION}.assignment:AssignmentService.start_environment",
        params=("self", "version_manager_id", "function_version"),
    ),
    Target(f"{INVOCATION}.assignment:AssignmentService.stop_environment", params=("self",)),
    Target(f"{INVOCATION}.execution_environment:ExecutionEnvironment.reserve"),
    Target(f"{INVOCATION}.execution_environment:ExecutionEnvironment.release"),
    Target(f"{INVOCATION}.execution_environment:InvalidStatusException"),
    Target(f"{INVOCATION}.lambda_models:InitializationType.on_demand"),
)

# Past this, a waiting invocation starts its environment even with every slot taken.
MAX_WAIT_SECONDS = 10.0


class InitSlots:
    """At most `slots` environments initializing at once; waiters take idle ones meanwhile.

    `acquire(reserve_idle)` returns (environment, None) when `reserve_idle()` reserved an idle
    one, or (None, release) when the caller may start one and must call `release()` once it has
    started (or failed to).
    """

    def __init__(self, slots: int, max_wait: float = MAX_WAIT_SECONDS) -> None:
        self.slots = max(1, slots)
        self.max_wait = max_wait
        self.starting = 0
        self._changed = threading.Condition()

    def acquire[E](
        self, reserve_idle: Callable[[], E | None]
    ) -> tuple[E | None, Callable[[], None] | None]:
        deadline = time.monotonic() + self.max_wait
        with self._changed:
            while True:
                environment = reserve_idle()
                if environment is not None:
                    return environment, None
                left = deadline - time.monotonic()
                if self.starting < self.slots or left <= 0:
                    self.starting += 1
                    return None, self._release_slot
                self._changed.wait(left)

    def _release_slot(self) -> None:
        with self._changed:
            self.starting -= 1
            self._changed.notify_all()

    def environment_idle(self) -> None:
        """An environment became READY: wake the waiters, one of them may take it."""
        with self._changed:
            self._changed.notify_all()


def _reserve_idle(service: Any, version_manager_id: str, initialization_type: Any) -> Any:
    """An idle environment of this version, reserved for the caller, or None."""
    from localstack.services.lambda_.invocation.execution_environment import (
        InvalidStatusException,
    )

    for environment in list(service.environments[version_manager_id].values()):
        if environment.initialization_type != initialization_type:
            continue
        try:
            environment.reserve()
        except InvalidStatusException:
            continue
        return environment
    return None


@contextlib.contextmanager
def on_demand_environment(
    slots: InitSlots, service: Any, version_manager_id: str, function_version: Any
) -> Iterator[Any]:
    """LocalStack's get_environment for on-demand environments, with the start gated by `slots`.

    Failure handling is LocalStack's: an on-demand environment whose invocation raised is
    stopped (never reused); one that timed out meanwhile (release refused) is only logged.
    """
    from localstack.services.lambda_.invocation.execution_environment import (
        InvalidStatusException,
    )
    from localstack.services.lambda_.invocation.lambda_models import InitializationType

    environment, release_slot = slots.acquire(
        lambda: _reserve_idle(service, version_manager_id, InitializationType.on_demand)
    )
    if release_slot is not None:  # no idle environment came: start one
        try:
            environment = service.start_environment(version_manager_id, function_version)
        finally:
            release_slot()
        service.environments[version_manager_id][environment.id] = environment
        environment.reserve()
    try:
        yield environment
        environment.release()
    except InvalidStatusException as e:
        LOG.error("InvalidStatusException: %s", e)
    except Exception:
        service.stop_environment(environment)
        raise
    else:
        slots.environment_idle()


def apply_init_slots(slots: InitSlots) -> None:
    patching.check(INTERNALS)
    from localstack.services.lambda_.invocation.lambda_models import InitializationType

    @patching.wrap(GET_ENVIRONMENT)
    def get_environment(
        fn: Any,
        self: Any,
        version_manager_id: str,
        function_version: Any,
        provisioning_type: Any,
    ) -> Any:
        if provisioning_type != InitializationType.on_demand:
            return fn(self, version_manager_id, function_version, provisioning_type)
        return on_demand_environment(slots, self, version_manager_id, function_version)


@hooks.on_infra_start(priority=50)
def limit_concurrent_cold_starts() -> None:
    slots = InitSlots(os.cpu_count() or 1)
    patching.when_provider_loads("lambda", lambda: apply_init_slots(slots), LAMBDA_PROVIDER)
