"""pytest fixtures for every suite: the sandbox, the deployed stack, users, API, tracing.

Registered as a pytest plugin (entry point `pytest11` in pyproject.toml), so `tests/` and
`integration_tests/` share one definition.

The sandbox is started once per test session, also under xdist: workers start it (and deploy the
stack) under a file lock, so one does the work and the others find it done. The session leases
the sandbox while it runs (sandbox.sessions): at its end it stops the sandbox only if one of its
own workers started it and no other session still uses it.
`--sandbox container` (or SANDBOX_RUNTIME=container) runs the same sandbox in a container
started through testcontainers (harness/container.py); without a Docker engine or the image, the
tests that need the sandbox skip, saying why.
`--target aws` runs the integration suites against a stack deployed on AWS instead, given its
`terraform output -json` (`--stack-outputs`), with test users it creates and removes itself.
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from harness import container, sandbox_log, scheduling, skips
from harness.api import SDK_THROTTLED_RETRIES, Api
from harness.aws import sandbox_client
from harness.trace import Tracer
from harness.users import Notifications, UserFactory
from sandbox import service_catalog
from sandbox.config import RUNTIME_VARIABLE, SandboxConfig
from sandbox.sessions import Sessions

SESSION = pytest.StashKey[str]()  # this test session's lease on the sandbox

# For the child pytest sessions the harness's own tests run: the plugins they do not use, off
# (schemathesis, hypothesis and anyio took half of each child process's start-up).
CHILD_SESSION_ARGS = ("-p", "no:cacheprovider", "-p", "no:locust", "-p", "no:schemathesis")
CHILD_SESSION_ARGS += ("-p", "no:hypothesispytest", "-p", "no:anyio")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(skips.INI, skips.INI_HELP, type="linelist", default=[])
    group = parser.getgroup("notifications")
    group.addoption(
        "--target",
        choices=["sandbox", "aws"],
        default=os.environ.get("TEST_TARGET", "sandbox"),
        help="where the integration suites run: the local sandbox (default) or AWS",
    )
    group.addoption(
        "--stack-outputs",
        default=os.environ.get("STACK_OUTPUTS"),
        help="with --target aws: a file holding `terraform output -json` of the deployed stack",
    )
    group.addoption(
        "--sandbox",
        choices=["process", "container"],
        default=os.environ.get(RUNTIME_VARIABLE, "process"),
        help="how the sandbox runs: a host process (default) or the image of `make image` "
        "in a container through testcontainers (needs a Docker engine)",
    )


SESSION_KEY = "sandbox_session"


def pytest_configure(config: pytest.Config) -> None:
    freeze_at_exit()
    service_catalog.use_in_this_process()
    scheduling.configure(config)
    if not hasattr(config, "workerinput"):  # the controller, with or without xdist
        os.environ[RUNTIME_VARIABLE] = config.getoption("--sandbox")  # workers inherit it
        config.pluginmanager.register(skips.SkipPolicy.from_config(config), "skip-policy")
        config.stash[SESSION] = f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        Sessions(SandboxConfig.from_env()).register(config.stash[SESSION])
        config._sandbox_log_start = sandbox_log.log_end(SandboxConfig.from_env())


def freeze_at_exit() -> None:
    """At this process's exit, take every object out of the cyclic collector's sight first.

    Python's finalization runs one last full collection over every object still alive: for a
    test worker that imported LocalStack, moto and boto3, 2.2 s of CPU (the rest of its exit
    takes 0.04 s); six workers ending at once kept `make test` waiting 5 s on 2 cores. Handlers
    registered before this one run after it (last in, first out); pytest's own collections,
    which look for unraisable exceptions, are over by then."""
    atexit.register(gc.freeze)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker acts for its controller's session (and tells its scheduler)."""
    node.workerinput[SESSION_KEY] = node.config.stash[SESSION]
    node.workerinput[scheduling.FOLDER_KEY] = str(scheduling.shared_folder(node.config))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's default (`--dist load`): load scheduling that puts the stack's tests first once
    it is deployed (harness/scheduling.py)."""
    if config.getvalue("dist") != "load":
        return None
    return scheduling.StackFirstScheduling(config, log)


def session_token(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    return workerinput[SESSION_KEY] if workerinput is not None else config.stash[SESSION]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the session when a sandbox plugin logged an error meanwhile (shown in the summary)."""
    config = session.config
    if hasattr(config, "workerinput") or config.getoption("--target") != "sandbox":
        return
    errors = sandbox_log.plugin_errors(SandboxConfig.from_env(), config._sandbox_log_start)
    config._sandbox_plugin_errors = errors
    if errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    errors = getattr(config, "_sandbox_plugin_errors", [])
    if errors:
        terminalreporter.section("sandbox plugin errors", red=True)
        for line in errors:
            terminalreporter.line(line)
        terminalreporter.line(
            f"{len(errors)} plugin error(s): see {SandboxConfig.from_env().log_file}"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    container.deselect_container_tests(config, items)
    scheduling.order(items)
    scheduling.tell_collection(config, items)


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or SESSION not in config.stash:
        return
    scheduling.remove_shared_folder(config)
    sandbox_config = SandboxConfig.from_env()
    with session_lock(sandbox_config, "sandbox"):
        if sessions(sandbox_config).release_and_should_stop(config.stash[SESSION]):
            container.backend().down(sandbox_config)


def sessions(config: SandboxConfig) -> Sessions:
    """The leases on the sandbox, which runs as a host process or a container (--sandbox)."""
    return Sessions(config, running=container.backend().running)


@contextmanager
def session_lock(config: SandboxConfig, name: str) -> Iterator[None]:
    """Serialise one-time set-up across xdist workers (and concurrent pytest runs)."""
    config.home.mkdir(parents=True, exist_ok=True)
    with open(config.home / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--target")


@pytest.fixture(scope="session")
def sandbox_config() -> SandboxConfig:
    return SandboxConfig.from_env()


@pytest.fixture(scope="session")
def sandbox(request: pytest.FixtureRequest, sandbox_config: SandboxConfig) -> SandboxConfig:
    """A running sandbox (started by the first worker that needs it)."""
    if container.selected() and (problem := container.engine_problem()):
        pytest.skip(f"--sandbox container: {problem}")
    ensure_sandbox(request.config, sandbox_config)
    for key, value in sandbox_config.client_env().items():
        os.environ.setdefault(key, value)
    return sandbox_config


def ensure_sandbox(pytest_config: pytest.Config, config: SandboxConfig) -> None:
    """Start the sandbox unless it runs, leased to this session if this call started it."""
    with session_lock(config, "sandbox"):
        if container.backend().up(config) is not None:
            sessions(config).started(session_token(pytest_config))
            process = None if container.selected() else container.backend().running(config)
            if process is not None:  # every worker waits on it: it gets the CPU first
                scheduling.first_in_line(process.pid)


_DEPLOYING = pytest.StashKey[threading.Thread]()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    deploy_ahead(session.config, session.items)


def deploy_ahead(pytest_config: pytest.Config, items: list[pytest.Item]) -> None:
    """Once the tests are collected, start the sandbox and deploy the stack in the background
    if some of them need it (once per process; under xdist each worker asks, one does the work).

    The deploy takes 60-80 s, mostly the AWS provider's waits. Done in the first stack test's
    set-up, it kept that worker idle all along while the other workers ran out of tests that
    need no stack, and it started only when that test did. The `stack` fixture still takes the
    deploy lock, so it waits for this deploy and then finds nothing left to do; if this one
    failed, it deploys itself and the test fails with Terraform's error."""
    if _DEPLOYING in pytest_config.stash or pytest_config.option.collectonly:
        return
    if pytest_config.getoption("--target") != "sandbox":
        return
    if not any(scheduling.uses_stack(item) for item in items):
        return
    if container.selected() and container.engine_problem():
        return  # the sandbox fixture skips, saying why
    thread = threading.Thread(
        target=_deploy_quietly,
        args=(SandboxConfig.from_env(), pytest_config),
        name="deploy-ahead",
        daemon=True,
    )
    pytest_config.stash[_DEPLOYING] = thread
    thread.start()


def _deploy_quietly(config: SandboxConfig, pytest_config: pytest.Config) -> None:
    from harness.deploy import quietly

    try:
        ensure_sandbox(pytest_config, config)
        with quietly():
            deploy_once(config, pytest_config)
    except Exception:  # the fixtures start and deploy again, and fail their test with the error
        return


def deploy_once(config: SandboxConfig, pytest_config: pytest.Config) -> dict[str, Any]:
    """The session's deploy (skipped when nothing changed): one at a time, first in line for
    the CPU; the scheduler is told the stack is deployed. Returns the stack's outputs."""
    from harness.deploy import deploy

    with session_lock(config, "deploy"), scheduling.first_in_line_meanwhile():
        outputs = deploy(config).outputs
    scheduling.tell_deployed(pytest_config)
    return outputs


@pytest.fixture(scope="session")
def aws_for() -> Callable[..., Any]:
    """`aws_for(config, "sqs")` → a boto3 client for another sandbox instance."""
    return sandbox_client


@pytest.fixture(scope="session")
def aws(sandbox: SandboxConfig) -> Callable[..., Any]:
    """`aws("sqs")` → a boto3 client for the session's sandbox."""
    return lambda service, **kwargs: sandbox_client(sandbox, service, **kwargs)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """`unique("queue")` → a short name no other test (or worker) uses."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------ the deployed stack


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, target: str) -> dict[str, Any]:
    """The outputs of the deployed stack (deploying to the sandbox first when needed)."""
    if target == "aws":
        path = request.config.getoption("--stack-outputs")
        if not path:
            pytest.fail("--target aws needs --stack-outputs FILE (terraform output -json)")
        raw = json.loads(Path(path).read_text())
        return {
            k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in raw.items()
        }
    return deploy_once(request.getfixturevalue("sandbox"), request.config)


@pytest.fixture(scope="session")
def client(request: pytest.FixtureRequest, target: str) -> Callable[..., Any]:
    """`client("dynamodb")` → a boto3 client for the target the stack runs on."""
    if target == "aws":
        session = boto3.session.Session()
        return lambda service, **kwargs: session.client(service, **kwargs)
    return request.getfixturevalue("aws")


@pytest.fixture(scope="session")
def api(stack: dict[str, Any], target: str) -> Api:
    """The stack's API, retrying a 429 as an SDK would: the suites run in parallel (-n 6) and
    can outpace the stage's throttling; no suite here counts 429s (the throttling plugin's own
    tests in tests/sandbox/plugins/ do, with their own client)."""
    url = stack["api_base_url"] if target == "aws" else stack["api_endpoint"]
    return Api(url, throttled_retries=SDK_THROTTLED_RETRIES)


@pytest.fixture
def users(stack: dict[str, Any], client: Callable[..., Any], target: str) -> Iterator[UserFactory]:
    """Creates Cognito users with unique names; deletes exactly those afterwards (and, on the
    sandbox, the notifications they sent or received: see harness/users.py)."""
    factory = UserFactory(
        cognito=client("cognito-idp"),
        user_pool_id=stack["user_pool_id"],
        client_id=stack["user_pool_client_id"],
        admin_group=stack["admin_group_name"],
        sender_group=stack["sender_group_name"],
        notifications=(
            Notifications(client("dynamodb"), stack["table_name"]) if target == "sandbox" else None
        ),
    )
    yield factory
    factory.cleanup()


@pytest.fixture(scope="session")
def tracer(stack: dict[str, Any], client: Callable[..., Any]) -> Tracer:
    return Tracer(
        dynamodb=client("dynamodb"),
        logs=client("logs"),
        table_name=stack["table_name"],
        processor_log_group=stack["log_group_names"]["processor"],
    )
