"""The launcher against real LocalStack processes, each test with its own port and folder."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Thread

import pytest

from harness.lambdas import create_function
from harness.sandboxes import cli, own_config
from sandbox import launcher, service_catalog
from sandbox.config import SandboxConfig
from sandbox.processes import instance_pids, is_alive

pytestmark = pytest.mark.sandbox


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[SandboxConfig]:
    """A sandbox instance of the test's own, always stopped afterwards."""
    config = own_config(tmp_path)
    yield config
    launcher.down(config)


def test_up_is_healthy_on_loopback_then_down_leaves_nothing(own_sandbox: SandboxConfig) -> None:
    result = cli(own_sandbox, "up")
    assert result.returncode == 0, result.stderr
    assert f"http://127.0.0.1:{own_sandbox.port}" in result.stdout
    assert " s " in result.stdout  # the seconds it took
    current = launcher.running(own_sandbox)
    assert current is not None
    # Bound to loopback only: the port is not reachable on another local address.
    listening = Path("/proc/net/tcp").read_text()
    port_hex = f"{own_sandbox.port:04X}"
    local_addresses = [
        line.split()[1] for line in listening.splitlines()[1:] if line.split()[3] == "0A"
    ]
    ours = [a for a in local_addresses if a.endswith(f":{port_hex}")]
    assert ours == ["0100007F:" + port_hex], ours
    # Everything lives under the sandbox's own folder.
    assert own_sandbox.log_file.exists() and own_sandbox.pid_file.exists()
    assert (own_sandbox.state_dir).is_dir()
    # The service catalog index came from the installation (sandbox/service_catalog.py) into
    # LocalStack's static libraries folder; LocalStack did not build one of its own.
    catalog = service_catalog.file_name()
    assert (own_sandbox.state_dir / "usr/lib/localstack" / catalog).is_file()
    assert not (own_sandbox.state_dir / "var/lib/localstack/cache" / catalog).exists()

    result = cli(own_sandbox, "down")
    assert result.returncode == 0, result.stderr
    assert not is_alive(current.pid)
    assert instance_pids(current.instance_id) == []
    assert not own_sandbox.pid_file.exists()


def test_up_twice_says_already_up_and_does_nothing(own_sandbox: SandboxConfig) -> None:
    assert cli(own_sandbox, "up").returncode == 0
    pid = launcher.running(own_sandbox).pid
    again = cli(own_sandbox, "up")
    assert again.returncode == 0
    assert "already up" in again.stdout
    assert launcher.running(own_sandbox).pid == pid


def test_status_lists_services_and_exits_3_when_down(own_sandbox: SandboxConfig) -> None:
    down = cli(own_sandbox, "status")
    assert down.returncode == 3 and "not running" in down.stdout
    assert cli(own_sandbox, "up").returncode == 0
    up = cli(own_sandbox, "status")
    assert up.returncode == 0
    assert "sqs" in up.stdout and "lambda" in up.stdout


def test_port_taken_by_another_program_is_a_clear_error(own_sandbox: SandboxConfig) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", own_sandbox.port))
        squatter.listen()
        result = cli(own_sandbox, "up")
    assert result.returncode == 1
    assert f"port {own_sandbox.port}" in result.stderr and "taken" in result.stderr
    assert launcher.running(own_sandbox) is None


def test_stale_pid_from_a_crashed_run_is_reported_and_cleaned(own_sandbox: SandboxConfig) -> None:
    own_sandbox.home.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    own_sandbox.pid_file.write_text(f"{dead.pid} deadbeef\n")
    own_sandbox.log_file.write_text("the crashed run's last words\n")
    result = cli(own_sandbox, "up")
    assert result.returncode == 0, result.stderr
    assert "stale" in result.stderr and "the crashed run's last words" in result.stderr
    assert launcher.running(own_sandbox) is not None


def test_a_start_that_fails_shows_the_log(own_sandbox: SandboxConfig, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text(
        "import os, sys\nprint('simulated start-up failure', file=sys.stderr)\nos._exit(3)\n"
    )
    with pytest.raises(launcher.SandboxError) as failure:
        launcher.up(own_sandbox, extra_env={"PYTHONPATH": str(broken)})
    message = str(failure.value)
    assert "exited with code 3" in message
    assert "simulated start-up failure" in message
    assert launcher.running(own_sandbox) is None


def test_reset_wipes_state_and_restarts(own_sandbox: SandboxConfig, aws_for) -> None:
    assert cli(own_sandbox, "up").returncode == 0
    sqs = aws_for(own_sandbox, "sqs")
    sqs.create_queue(QueueName="survives-nothing")
    assert cli(own_sandbox, "reset").returncode == 0
    assert launcher.running(own_sandbox) is not None
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_down_also_ends_every_lambda_process(own_sandbox: SandboxConfig, aws_for) -> None:
    assert cli(own_sandbox, "up").returncode == 0
    lam = aws_for(own_sandbox, "lambda")
    create_function(lam, "warm", "def handler(event, context):\n    return {'ok': True}\n")
    assert lam.invoke(FunctionName="warm")["StatusCode"] == 200
    current = launcher.running(own_sandbox)
    assert len(instance_pids(current.instance_id)) >= 2  # LocalStack + a warm environment

    assert cli(own_sandbox, "down").returncode == 0
    assert instance_pids(current.instance_id) == []


@contextmanager
def fake_sandbox(tmp_path: Path, status: int, body: bytes, delay: float = 0.0):
    """A loopback server answering every GET and POST with `status` and `body` after `delay`."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Answer(BaseHTTPRequestHandler):
        def answer(self) -> None:
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    server.handle_error = lambda *args: None  # a client that gave up: its pipe is closed
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SandboxConfig(port=server.server_address[1], home=tmp_path)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, b"<Error><Code>NoSuchBucket</Code></Error>"), (200, b"")],
    ids=["s3-xml-404", "empty-200"],
)
def test_saving_a_sandbox_that_does_not_serve_the_state_route_says_why(
    tmp_path: Path, status: int, body: bytes
) -> None:
    """A sandbox started by an older version answers the route with whatever LocalStack routes
    it to (S3's XML): the error names the likely cause and the way out, not a JSON parser's."""
    with fake_sandbox(tmp_path, status, body) as config:
        with pytest.raises(launcher.SandboxError, match=r"older version.*--no-save"):
            launcher.save(config)
        assert launcher.state_id(config) is None  # a deploy then keys on the instance


def test_a_busy_sandbox_is_waited_for_its_state_id(tmp_path: Path) -> None:
    """Seen in `make e2e-repeat`: a save under load kept the sandbox from answering for over 1 s;
    the deploy took that for "no state", forgot its Terraform state and failed on every resource."""
    with fake_sandbox(tmp_path, 200, b'{"state_id": "s1"}', delay=1.5) as config:
        assert launcher.state_id(config) == "s1"
        with pytest.raises(launcher.SandboxError, match="did not tell its state id within 1 s"):
            launcher.state_id(config, timeout=1.0)
