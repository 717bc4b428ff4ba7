"""Cold starts sized to the machine (sandbox/plugins/lambda_cold_starts.py): the gate alone, then
a burst of invocations of a cold function in a real sandbox."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator

import pytest
from botocore.config import Config

from harness.aws import sandbox_client
from harness.lambdas import create_function
from sandbox.config import SandboxConfig
from sandbox.plugins.lambda_cold_starts import InitSlots

JOIN_SECONDS = 30


def _acquire_in_thread(slots: InitSlots, reserve_idle: Callable[[], object]) -> tuple:
    """Run `slots.acquire` in a thread; (thread, result list) so the test can see it block."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(slots.acquire(reserve_idle)))
    thread.start()
    return thread, result


def test_starts_beyond_the_slots_wait_for_one_to_be_released() -> None:
    slots = InitSlots(2)
    first, second = slots.acquire(lambda: None), slots.acquire(lambda: None)
    assert first[0] is None and second[0] is None  # both may start an environment
    thread, result = _acquire_in_thread(slots, lambda: None)
    thread.join(0.3)
    assert thread.is_alive() and not result  # a third start waits
    first[1]()
    thread.join(JOIN_SECONDS)
    assert result and result[0][0] is None  # ... until a start finished


def test_a_waiting_invocation_takes_an_environment_that_became_idle() -> None:
    slots = InitSlots(1)
    _, release = slots.acquire(lambda: None)
    idle: list[str] = []
    thread, result = _acquire_in_thread(slots, lambda: idle.pop() if idle else None)
    thread.join(0.3)
    assert thread.is_alive()
    idle.append("warm environment")
    slots.environment_idle()
    thread.join(JOIN_SECONDS)
    assert result == [("warm environment", None)]  # no slot taken: nothing to release
    release()
    assert slots.starting == 0


def test_a_wait_is_bounded_so_that_slots_cannot_deadlock() -> None:
    slots = InitSlots(1, max_wait=0.2)
    slots.acquire(lambda: None)  # never released: e.g. an init that invokes a cold function
    thread, result = _acquire_in_thread(slots, lambda: None)
    thread.join(JOIN_SECONDS)
    assert result and result[0][0] is None
    assert slots.starting == 2


# Each environment reports when its init (module-level code) ran; the 1 s sleep makes every
# init long enough that starts allowed at the same time overlap for certain.
SLOW_INIT = """
import os, time
INIT_STARTED = time.time()
time.sleep(1)
INIT_ENDED = time.time()

def handler(event, context):
    return {"pid": os.getpid(), "init": [INIT_STARTED, INIT_ENDED]}
"""


@pytest.fixture
def slow_init_function(sandbox: SandboxConfig, unique: Callable[[str], str]) -> Iterator[str]:
    lam = sandbox_client(sandbox, "lambda")
    name = unique("cold")
    create_function(lam, name, SLOW_INIT, Timeout=30)
    yield name
    lam.delete_function(FunctionName=name)


@pytest.mark.sandbox
def test_a_burst_on_a_cold_function_initializes_at_most_one_environment_per_cpu(
    sandbox: SandboxConfig, slow_init_function: str
) -> None:
    cpus = os.cpu_count() or 1
    burst = 2 * cpus + 2
    lam = sandbox_client(sandbox, "lambda", config=Config(read_timeout=60))
    answers: list[dict] = []

    def invoke() -> None:
        response = lam.invoke(FunctionName=slow_init_function, Payload=b"{}")
        answers.append(json.loads(response["Payload"].read()))

    threads = [threading.Thread(target=invoke) for _ in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS * 2)
    assert len(answers) == burst, answers  # every invocation was served

    inits = {answer["pid"]: answer["init"] for answer in answers}
    overlapping = max(
        sum(started <= moment < ended for started, ended in inits.values())
        for moment, _ in inits.values()
    )
    # LocalStack alone starts all of them at once (`burst` overlapping inits).
    assert overlapping <= cpus, inits
