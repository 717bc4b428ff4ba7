"""The container entry point's decisions that need no container (sandbox/container.py).

What it does inside a real container (routes removed, capability dropped, port published on
loopback only) is checked by tests/harness/test_container.py with a Docker engine.
"""

from __future__ import annotations

from pathlib import Path

from sandbox import container, snapshots
from sandbox.config import SandboxConfig


def interface(net: Path, name: str, ifindex: int, iflink: int) -> None:
    folder = net / name
    folder.mkdir(parents=True)
    (folder / "ifindex").write_text(f"{ifindex}\n")
    (folder / "iflink").write_text(f"{iflink}\n")


def test_a_namespace_with_only_veth_ends_is_a_containers_own(tmp_path: Path) -> None:
    interface(tmp_path, "lo", 1, 1)
    interface(tmp_path, "eth0", 17, 18)  # its peer is index 18 in the host's namespace
    assert container.own_network_namespace(tmp_path)


def test_loopback_alone_is_a_containers_own(tmp_path: Path) -> None:  # --network none
    interface(tmp_path, "lo", 1, 1)
    assert container.own_network_namespace(tmp_path)


def test_a_host_namespace_is_not(tmp_path: Path) -> None:
    """Host networking: a physical or bridge interface means routes must stay untouched."""
    interface(tmp_path, "lo", 1, 1)
    interface(tmp_path, "eth0", 2, 2)
    interface(tmp_path, "veth1a2b", 9, 8)
    assert not container.own_network_namespace(tmp_path)


def test_a_fresh_instance_keeps_only_what_outlives_a_container(tmp_path: Path) -> None:
    """State, temp and Lambda runtime folders go (a new container has none); the snapshot stays."""
    config = SandboxConfig(port=4566, home=tmp_path)
    for name in (*container.INSTANCE_FOLDERS, "deploy", ".cache"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text("x")
    saved = snapshots.current_file(tmp_path)  # restored by the next container
    saved.write_text("x")
    container.fresh_instance(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache", "deploy", saved.name]
