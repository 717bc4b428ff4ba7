"""harness.pytest_plugin: a test session stops the sandbox at its end only if one of its workers
started it and no other session uses it (real pytest sessions with xdist, real LocalStack)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import pytest_plugin
from harness.pytest_plugin import CHILD_SESSION_ARGS
from sandbox import launcher
from sandbox.config import SandboxConfig
from sandbox.sessions import Sessions

pytestmark = pytest.mark.sandbox

INNER_TEST = """
import os, time
from pathlib import Path

def test_uses_the_sandbox(sandbox):
    signals = Path(os.environ["SIGNALS"])
    (signals / f"up-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}").touch()
    deadline = time.monotonic() + 120
    while not (signals / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.1)

def test_also_uses_it(sandbox):
    pass
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[SandboxConfig]:
    config = SandboxConfig(
        port=free_port(), home=tmp_path / "sandbox-home"
    )  # not `sandbox`: the package
    yield config
    launcher.down(config)


def inner_session(config: SandboxConfig, folder: Path) -> subprocess.Popen[str]:
    """`pytest -n 2` on INNER_TEST against `config`, in the background."""
    (folder / "test_inner.py").write_text(INNER_TEST)
    (folder / "signals").mkdir()
    env = {
        **os.environ,
        "SANDBOX_PORT": str(config.port),
        "SANDBOX_HOME": str(config.home),
        "SIGNALS": str(folder / "signals"),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            *CHILD_SESSION_ARGS,
            "-c",
            os.devnull,
            "--rootdir",
            str(folder),
            str(folder / "test_inner.py"),
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(session: subprocess.Popen[str]) -> str:
    output, _ = session.communicate(timeout=180)
    assert session.returncode == 0, output
    return output


@pytest.mark.long
def test_a_session_that_started_the_sandbox_alone_stops_it(
    own_sandbox: SandboxConfig, tmp_path: Path
) -> None:
    session = inner_session(own_sandbox, tmp_path)
    (tmp_path / "signals" / "go").touch()
    finish(session)
    assert launcher.running(own_sandbox) is None


@pytest.mark.long
def test_it_leaves_it_running_while_another_session_uses_it(
    own_sandbox: SandboxConfig, tmp_path: Path
) -> None:
    session = inner_session(own_sandbox, tmp_path)
    signals = tmp_path / "signals"
    deadline = time.monotonic() + 120
    while not list(signals.glob("up-*")) and session.poll() is None:
        assert time.monotonic() < deadline, "the inner session never got its sandbox"
        time.sleep(0.1)
    started = launcher.running(own_sandbox)
    assert started is not None, finish(session)
    Sessions(own_sandbox).register("another-session")  # began meanwhile; still running
    (signals / "go").touch()
    finish(session)
    assert launcher.running(own_sandbox) == started


FREEZE_AT_EXIT = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
from harness.pytest_plugin import freeze_at_exit
freeze_at_exit()
print("frozen before exit:", gc.get_freeze_count() > 0)
"""


def test_a_pytest_process_freezes_its_objects_before_pythons_last_collection() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_AT_EXIT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["frozen before exit: False", "frozen at exit: True"]


def fake_config(target: str = "sandbox", collect_only: bool = False) -> Any:
    options = {"--target": target}
    return SimpleNamespace(
        stash=pytest.Stash(),
        option=SimpleNamespace(collectonly=collect_only),
        getoption=options.get,
    )


def stack_test() -> Any:
    return SimpleNamespace(fixturenames=("api", "stack"))


def test_the_stack_is_deployed_ahead_once_and_only_for_a_session_that_needs_it(
    monkeypatch, tmp_path: Path
) -> None:
    started: list[str] = []
    monkeypatch.setenv("SANDBOX_HOME", str(tmp_path))
    monkeypatch.setattr(
        pytest_plugin, "_deploy_quietly", lambda config, _: started.append(str(config.home))
    )
    pytest_plugin.deploy_ahead(fake_config(), [SimpleNamespace(fixturenames=("sandbox",))])
    pytest_plugin.deploy_ahead(fake_config(target="aws"), [stack_test()])
    pytest_plugin.deploy_ahead(fake_config(collect_only=True), [stack_test()])
    assert started == []
    needs_stack = fake_config()
    pytest_plugin.deploy_ahead(needs_stack, [stack_test()])
    pytest_plugin.deploy_ahead(needs_stack, [stack_test()])  # once per process
    needs_stack.stash[pytest_plugin._DEPLOYING].join(timeout=10)
    assert started == [str(tmp_path)]


def test_a_deploy_ahead_waits_for_the_deploy_lock_and_says_nothing(
    monkeypatch, tmp_path: Path, capfd
) -> None:
    from harness import deploy as deploying

    config = SandboxConfig(port=4599, home=tmp_path)
    deployed: list[bool] = []
    told: list[bool] = []

    def deploy(config: SandboxConfig) -> Any:
        deploying.say("applying stack/")
        deployed.append(True)
        return SimpleNamespace(outputs={})

    monkeypatch.setattr(deploying, "deploy", deploy)
    monkeypatch.setattr(pytest_plugin.scheduling, "tell_deployed", lambda _: told.append(True))
    monkeypatch.setattr(pytest_plugin, "ensure_sandbox", lambda *_: None)
    with pytest_plugin.session_lock(config, "deploy"):  # another worker deploys meanwhile
        thread = threading.Thread(target=pytest_plugin._deploy_quietly, args=(config, None))
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive() and not deployed
    thread.join(timeout=10)
    assert deployed == [True] and told == [True]
    assert "applying" not in capfd.readouterr().err


def test_a_failed_deploy_ahead_is_left_to_the_stack_fixture(monkeypatch, tmp_path: Path) -> None:
    from harness import deploy as deploying

    def deploy(config: SandboxConfig) -> None:
        raise RuntimeError("terraform apply failed")

    told: list[bool] = []
    monkeypatch.setattr(deploying, "deploy", deploy)
    monkeypatch.setattr(pytest_plugin.scheduling, "tell_deployed", lambda _: told.append(True))
    monkeypatch.setattr(pytest_plugin, "ensure_sandbox", lambda *_: None)
    pytest_plugin._deploy_quietly(SandboxConfig(port=4599, home=tmp_path), None)
    assert told == []
