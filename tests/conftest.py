"""Session-wide fixtures: the sandbox is started once per test session (also under xdist).

The controlling pytest process remembers whether the sandbox was already up; if the session
started it, the session stops it at the end. Workers start it under a file lock, so exactly one
of them does the work and the others find it up.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator

import boto3
import pytest

from sandbox import launcher
from sandbox.config import SandboxConfig


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, with or without xdist
        config._sandbox_was_running = launcher.running(SandboxConfig.from_env()) is not None


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and not getattr(config, "_sandbox_was_running", True):
        launcher.down(SandboxConfig.from_env())


@pytest.fixture(scope="session")
def sandbox_config() -> SandboxConfig:
    return SandboxConfig.from_env()


@pytest.fixture(scope="session")
def sandbox(sandbox_config: SandboxConfig) -> Iterator[SandboxConfig]:
    """A running sandbox (started by the first worker that needs it)."""
    sandbox_config.home.mkdir(parents=True, exist_ok=True)
    with open(sandbox_config.home / "test-session.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        launcher.up(sandbox_config)
    for key, value in sandbox_config.client_env().items():
        os.environ.setdefault(key, value)
    yield sandbox_config


def client_for(target: SandboxConfig, service: str, **kwargs: object) -> object:
    """A boto3 client for `service` on the sandbox `target` (kwargs go to boto3, e.g. config)."""
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return session.client(service, endpoint_url=target.endpoint, **kwargs)


@pytest.fixture(scope="session")
def aws_for() -> Callable[..., object]:
    """`aws_for(config, "sqs")` → a boto3 client for another sandbox instance."""
    return client_for


@pytest.fixture(scope="session")
def aws(sandbox: SandboxConfig) -> Callable[..., object]:
    """`aws("sqs")` → a boto3 client for the session's sandbox."""
    return lambda service, **kwargs: client_for(sandbox, service, **kwargs)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """`unique("queue")` → a short name no other test (or worker) uses."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"
