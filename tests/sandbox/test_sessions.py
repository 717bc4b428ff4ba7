"""sandbox.sessions: a test session stops the sandbox only if it started it and no one else uses it.

A "running instance" here is a sleeping process carrying the instance id in its environment, as
LocalStack does (what `launcher.running` checks); no LocalStack is started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.waiting import eventually
from sandbox import launcher
from sandbox.config import SandboxConfig
from sandbox.sessions import Sessions


def fake_instance(config: SandboxConfig, instance_id: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "SANDBOX_INSTANCE_ID": instance_id},
    )
    config.home.mkdir(parents=True, exist_ok=True)
    config.pid_file.write_text(f"{process.pid} {instance_id}\n")
    # Until the child has exec'd, /proc/<pid>/environ is still this process's, without the id:
    # wait until the launcher sees the instance, as it would see a started LocalStack.
    eventually(lambda: launcher.running(config), timeout=10)
    return process


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[Sessions]:
    config = SandboxConfig(port=1, home=tmp_path)
    instance = fake_instance(config, "instance-1")
    yield Sessions(config)
    instance.kill()
    instance.wait()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_session_that_started_it_stops_it_when_alone(sessions: Sessions) -> None:
    sessions.register("a")
    sessions.started("a")
    assert sessions.release_and_should_stop("a")


def test_not_while_another_session_uses_it(sessions: Sessions) -> None:
    sessions.register("a")
    sessions.started("a")
    sessions.register("b")
    assert sessions.others("a") == ["b"]
    assert not sessions.release_and_should_stop("a")
    assert not sessions.release_and_should_stop("b")  # b found it running: not b's to stop


def test_a_session_that_found_it_running_never_stops_it(sessions: Sessions) -> None:
    sessions.register("b")
    assert not sessions.release_and_should_stop("b")


def test_a_lease_whose_process_died_does_not_count(sessions: Sessions) -> None:
    sessions.register("a")
    sessions.started("a")
    sessions.register("crashed", pid=dead_pid())
    assert sessions.others("a") == []
    assert sessions.release_and_should_stop("a")


def test_adopted_with_sandbox_up_it_is_no_session_s_to_stop(sessions: Sessions) -> None:
    sessions.register("a")
    sessions.started("a")
    sessions.adopt()
    assert not sessions.release_and_should_stop("a")


def test_a_record_of_an_earlier_instance_stops_nothing(sessions: Sessions) -> None:
    sessions.register("a")
    sessions.started("a")
    replacement = fake_instance(sessions.config, "instance-2")  # someone restarted it
    try:
        assert sessions.starter() is None
        assert not sessions.release_and_should_stop("a")
    finally:
        replacement.kill()
        replacement.wait()


def test_an_instance_in_a_container_is_stopped_by_the_session_that_started_it(tmp_path: Path):
    """A container has no pid file: the leases ask the container backend what runs."""
    config = SandboxConfig(port=1, home=tmp_path)
    containers = {"now": launcher.Running(pid=1, instance_id="container-1")}
    in_container = Sessions(config, running=lambda _: containers["now"])
    assert launcher.running(config) is None  # what the host-process check alone would see
    in_container.register("a")
    in_container.started("a")
    assert in_container.starter() == "a"
    containers["now"] = launcher.Running(pid=1, instance_id="container-2")  # replaced meanwhile
    assert not in_container.release_and_should_stop("a")
