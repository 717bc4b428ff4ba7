"""The sandbox in a container: started with testcontainers from the image `make image` builds.

Selected with `pytest --sandbox container` or `SANDBOX_RUNTIME=container` (`make deploy`,
scenarios). This module has the launcher's interface (`up`, `down`, `running`), so the harness
picks one of the two with `backend()` and does everything else the same way.

The container (one per port, named `notifications-sandbox-<port>`, the name docker-compose.yml
gives too) publishes its port on the host's 127.0.0.1 only, under the same number (the URLs
LocalStack hands out name that port), and mounts SANDBOX_HOME (`.sandbox-container/` by default)
as the image's, so that its files (IAM policy log, state) are where the tests look for them.
Readiness is LocalStack's `Ready.` log line through a stock testcontainers wait strategy. The
image is never pulled (it is built offline), so testcontainers' reaper (Ryuk, an image of its
own) is off: `down()` removes the container, and `up()` replaces a stopped one of a past run.
"""

from __future__ import annotations

import os
import re
import sys
import time
from types import ModuleType
from typing import Any

from sandbox import launcher
from sandbox.config import HOST, RUNTIME_VARIABLE, SandboxConfig

IMAGE = os.environ.get("SANDBOX_IMAGE", "notifications-sandbox:latest")
READY_LINE = re.compile(r"^Ready\.$", re.MULTILINE)  # LocalStack's, as on its own image
STOP_GRACE_SECONDS = 10
CONTAINER_HOME = "/var/lib/sandbox"  # the image's SANDBOX_HOME; the host's is mounted there


def selected() -> bool:
    return os.environ.get(RUNTIME_VARIABLE, "process") == "container"


def backend() -> ModuleType:
    """`sandbox.launcher` (a host process) or this module, as SANDBOX_RUNTIME says."""
    return sys.modules[__name__] if selected() else launcher


def name(config: SandboxConfig) -> str:
    return f"notifications-sandbox-{config.port}"


def _client():  # docker.DockerClient; imported late: only the dev tools have docker-py
    import docker

    return docker.from_env(timeout=30)


def engine_problem() -> str | None:
    """Why the container path cannot run here (no engine, no image), or None."""
    try:
        import docker

        client = _client()
        client.ping()
    except ImportError:
        return "docker-py is not installed (`make setup` installs the dev tools)"
    except docker.errors.DockerException as e:
        return f"no Docker engine answers ({e}); start dockerd, or use the host sandbox"
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        return f"the image {IMAGE} is not built; run `make image` (offline, no pull)"
    return None


def find(config: SandboxConfig):  # docker.models.containers.Container | None
    """The container named for this port (running or not), or None."""
    import docker

    try:
        return _client().containers.get(name(config))
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException:
        return None  # no engine: nothing of ours runs


def running(config: SandboxConfig) -> launcher.Running | None:
    """The sandbox container of this port when it runs: its main process and its id."""
    container = find(config)
    if container is None or container.status != "running":
        return None
    return launcher.Running(pid=container.attrs["State"]["Pid"], instance_id=container.id)


def up(config: SandboxConfig, timeout: float = launcher.START_TIMEOUT_SECONDS) -> float | None:
    """Start the container and wait for `Ready.` and health; None when it was already up."""
    if running(config) is not None:
        if launcher.health(config, timeout=launcher.BUSY_TIMEOUT_SECONDS) is not None:
            return None
        raise launcher.SandboxError(
            f"sandbox: container {name(config)} runs but {config.endpoint} does not answer; "
            f"see `docker logs {name(config)}`, then `docker rm -f {name(config)}`"
        )
    if problem := engine_problem():
        raise launcher.SandboxError(f"sandbox: {problem}")
    if (stale := find(config)) is not None:
        stale.remove(force=True)  # a stopped container of a past run
    if not launcher.port_is_free(config.port):
        raise launcher.SandboxError(
            f"sandbox: port {config.port} on {HOST} is taken by another program. Stop it, or "
            "choose another port with SANDBOX_PORT=<port>."
        )
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    testcontainers_config.ryuk_disabled = True
    config.home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    container = (
        DockerContainer(IMAGE)
        .with_name(name(config))
        .with_envs(
            SANDBOX_PORT=str(config.port),
            SANDBOX_RUN_AS=f"{os.getuid()}:{os.getgid()}",  # owns the mounted folder
            SANDBOX_ENFORCE_IAM=os.environ.get("SANDBOX_ENFORCE_IAM", "1"),
        )
        .with_volume_mapping(config.home, CONTAINER_HOME, "rw")
        # See docker-compose.yml: the route removal needs NET_ADMIN (dropped before LocalStack
        # starts); no resolver for outside names.
        .with_kwargs(network="bridge", cap_add=["NET_ADMIN"], dns=[HOST])
        .waiting_for(LogMessageWaitStrategy(READY_LINE).with_startup_timeout(int(timeout)))
    )
    # Published on the host's loopback only. `with_bind_ports` takes no host address; docker-py's
    # `ports` does: {"4566/tcp": ("127.0.0.1", 4566)}.
    container.ports[f"{config.port}/tcp"] = (HOST, config.port)
    try:
        container.start()
    except Exception as e:
        logs = _logs(config)
        down(config)
        raise launcher.SandboxError(f"sandbox: container did not get ready ({e}):\n{logs}") from e
    while launcher.health(config, timeout=0.5) is None:  # the published port, from the host
        if time.monotonic() - started > timeout:
            down(config)
            raise launcher.SandboxError(f"sandbox: {config.endpoint} did not answer after Ready.")
        time.sleep(0.05)
    return time.monotonic() - started


def deselect_container_tests(config: Any, items: list[Any]) -> None:
    """Tests marked `container` check the container itself: they run only with --sandbox container.

    Deselected (not skipped) otherwise, so `make test` reports them as deselected.
    """
    if config.getoption("--sandbox") == "container":
        return
    deselected = [item for item in items if item.get_closest_marker("container") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("container") is None]


def _logs(config: SandboxConfig) -> str:
    container = find(config)
    return container.logs().decode(errors="replace") if container is not None else ""


def down(config: SandboxConfig, save_state: bool = True) -> list[int]:
    """Save the state (as `launcher.down` does), then stop and remove the container.

    The snapshot lands in the mounted SANDBOX_HOME, so the next container restores it as
    `make up` does; its log is kept in SANDBOX_HOME/localstack.log. A failed save is reported
    after the stop (SandboxError), the last good snapshot kept.
    """
    container = find(config)
    if container is None:
        return []
    error = None
    if container.status == "running":
        _, error = launcher.keep_or_drop_state(config, save_state)
    pid = container.attrs["State"]["Pid"]
    container.stop(timeout=STOP_GRACE_SECONDS)
    config.home.mkdir(parents=True, exist_ok=True)
    config.log_file.write_text(_logs(config))
    container.remove(force=True)
    if error is not None:
        raise error
    return [pid] if pid else []


def wait_healthy(config: SandboxConfig, timeout: float) -> float:
    """Seconds until Docker reports the container `healthy` (its HEALTHCHECK), for compose."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        container = find(config)
        state = container.attrs["State"] if container is not None else {}
        if state.get("Health", {}).get("Status") == "healthy":
            return time.monotonic() - started
        if container is not None and state.get("Status") == "exited":
            raise launcher.SandboxError(f"sandbox: {name(config)} exited:\n{_logs(config)}")
        time.sleep(0.2)
    raise launcher.SandboxError(f"sandbox: {name(config)} not healthy after {timeout:.0f} s")


if __name__ == "__main__":  # `python -m harness.container wait`, for `make compose-up`
    cfg = SandboxConfig.from_env()
    try:
        seconds = wait_healthy(cfg, launcher.START_TIMEOUT_SECONDS)
    except launcher.SandboxError as error:
        sys.exit(str(error))
    print(f"sandbox: container {name(cfg)} healthy at {cfg.endpoint} after {seconds:.1f} s")
