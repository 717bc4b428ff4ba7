"""Sandboxes of a test's own (free port, own home) and the sandbox's command line, for tests
that start, stop or restart a sandbox without disturbing the session's shared one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sandbox.config import SandboxConfig

CLI_TIMEOUT_SECONDS = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def own_config(folder: Path) -> SandboxConfig:
    """A sandbox on a free port with its home in `folder`/sandbox (not started)."""
    return SandboxConfig(port=free_port(), home=folder / "sandbox")


def cli(config: SandboxConfig, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m sandbox ARGS` for that sandbox; the result with its output."""
    env = {**os.environ, "SANDBOX_PORT": str(config.port), "SANDBOX_HOME": str(config.home)}
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )
