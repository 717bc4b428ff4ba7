"""The sandbox container itself, as `pytest --sandbox container` starts it (harness/container.py).

Marked `container`: selected only in a `--sandbox container` session (`make test-container`),
deselected elsewhere, e.g. in `make test`, which needs no Docker engine. Without an engine or the
image, the `sandbox` fixture skips these with the reason. The end-to-end suites
(integration_tests/) are what proves the sandbox works in the container; these check what the
container adds: the port on loopback only, LocalStack's `Ready.` line, Docker's health status,
and no way out of the machine.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from harness import container
from harness.sandboxes import own_config
from sandbox import launcher, snapshots
from sandbox.config import HOST, SandboxConfig

pytestmark = [pytest.mark.container, pytest.mark.sandbox]

CAP_NET_ADMIN = 12
# TEST-NET-1 (RFC 5737): never routed anywhere; with no default route the connect fails locally.
UNROUTABLE = "192.0.2.1"


@pytest.fixture(scope="module")
def box(sandbox: SandboxConfig):  # docker.models.containers.Container
    found = container.find(sandbox)
    assert found is not None, f"no container {container.name(sandbox)}"
    return found


def run_in(box, *command: str) -> str:
    code, output = box.exec_run(list(command))
    assert code == 0, f"{command}: exit {code}: {output.decode(errors='replace')}"
    return output.decode()


def test_it_runs_the_built_image_and_says_ready(sandbox: SandboxConfig, box) -> None:
    assert container.IMAGE in box.image.tags
    assert "Ready." in box.logs().decode(errors="replace").splitlines()


def test_the_port_is_published_on_the_hosts_loopback_only(sandbox: SandboxConfig, box) -> None:
    ports = box.attrs["NetworkSettings"]["Ports"]  # also the image's EXPOSE 4566, unpublished
    published = {port: bindings for port, bindings in ports.items() if bindings}
    assert published == {f"{sandbox.port}/tcp": [{"HostIp": HOST, "HostPort": str(sandbox.port)}]}


def test_docker_reports_it_healthy(sandbox: SandboxConfig) -> None:
    container.wait_healthy(sandbox, timeout=60)


def test_it_has_no_route_out_of_the_machine(box) -> None:
    assert run_in(box, "ip", "-4", "route", "show", "default").strip() == ""
    assert run_in(box, "ip", "-6", "route", "show", "default").strip() == ""
    # Only with no default route (asserted above) does this connect fail without a packet.
    probe = (
        "import errno, socket\n"
        "try:\n"
        f"    socket.create_connection(({UNROUTABLE!r}, 80), timeout=2)\n"
        "except OSError as e:\n"
        "    print(errno.errorcode.get(e.errno, e))\n"
    )
    assert run_in(box, "python", "-c", probe).strip() == "ENETUNREACH"


def test_no_resolver_for_outside_names(box) -> None:
    resolv = run_in(box, "cat", "/etc/resolv.conf")
    servers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
    # Docker writes `nameserver 127.0.0.1` (--dns); a resolv.conf without any (seen once, right
    # after dockerd started) means the same to glibc: the local resolver. Nothing else may appear.
    assert set(servers) <= {HOST}, resolv


def test_localstack_cannot_put_a_route_back(box) -> None:
    """CAP_NET_ADMIN, granted for the entry point only, is out of LocalStack's bounding set."""
    status = run_in(box, "cat", "/proc/1/status")
    lines = [line.split(":\t") for line in status.splitlines() if line.startswith("Cap")]
    caps = {key: int(value, 16) for key, value in lines}
    assert not caps["CapBnd"] & (1 << CAP_NET_ADMIN), caps
    assert not caps["CapEff"] & (1 << CAP_NET_ADMIN), caps


def test_a_new_container_restores_what_the_last_one_saved(sandbox: SandboxConfig, tmp_path: Path):
    """`down` saves into the mounted home and the next container restores it, as `make up` does.

    A container of its own (another port and home), so the session's sandbox is untouched.
    """
    own = own_config(tmp_path)
    sqs = boto3.client(
        "sqs",
        endpoint_url=own.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        container.up(own)
        first_state = launcher.state(own)["state_id"]
        url = sqs.create_queue(QueueName="kept-across-containers")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="still here")
        container.down(own)
        assert snapshots.current_file(own.home).exists()
        container.up(own)
        status = launcher.state(own)
        assert status["restore"]["status"] == "done", status
        assert status["state_id"] == first_state  # so `make deploy` keeps its Terraform state
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])]
        assert bodies == ["still here"]
    finally:
        container.down(own, save_state=False)
