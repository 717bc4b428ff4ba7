"""One environment process and its JSON-lines control channel (the executor's side of bootstrap.py).

Pipes instead of LocalStack's HTTP callbacks: no port to allocate, no round trips through the
gateway per invoke, and the channel closes by itself when either side dies (the bootstrap exits
on EOF, so environments never outlive a crashed LocalStack for long).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")

_live: set[EnvironmentProcess] = set()
_live_lock = threading.Lock()


class ChannelClosed(Exception):
    """The environment process ended (crashed, was killed, or exited after an init error)."""


class EnvironmentProcess:
    """A running bootstrap.py: send it invokes, read its replies with a deadline, kill it."""

    def __init__(
        self, interpreter: str, paths: list[str], cwd: str, env: dict[str, str], log: Path
    ) -> None:
        self.log = log
        self.spawned_at = time.monotonic()
        with log.open("ab") as log_file:
            self.popen = subprocess.Popen(
                [
                    interpreter,
                    "-I",  # no user site, no PYTHON* variables, script dir not on sys.path
                    "-S",  # no site-packages of the host interpreter
                    str(BOOTSTRAP),
                    repr(self.spawned_at),
                    *paths,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                cwd=cwd,
                env=env,
                start_new_session=True,  # its own process group: a kill takes its children too
            )
        self._buffer = b""
        with _live_lock:
            _live.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.popen.stdin.write(json.dumps(message).encode() + b"\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise ChannelClosed(str(e)) from e

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """The next message, or None when `deadline` (time.monotonic()) passes first."""
        fd = self.popen.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                readable, _, _ = select.select([fd], [], [], remaining)
                chunk = os.read(fd, 1 << 16) if readable else None
            except (OSError, ValueError) as e:
                raise ChannelClosed(str(e)) from e
            if chunk == b"":
                self.popen.wait()
                raise ChannelClosed(f"exit status {self.popen.returncode}")
            if chunk:
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def max_memory_mb(self) -> int:
        """Peak resident memory (VmHWM), read before a kill for the REPORT line."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
        return 0

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """Kill the process group (the function may have started children) and reap it."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        for stream in (self.popen.stdin, self.popen.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        with _live_lock:
            _live.discard(self)

    def exit_description(self) -> str:
        code = self.popen.poll()
        if code is None:
            return "unknown"
        if code < 0:
            return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        return f"exit status {code}"


@atexit.register
def kill_all() -> None:
    """LocalStack is shutting down: no environment process may outlive it."""
    with _live_lock:
        processes = list(_live)
    for process in processes:
        process.kill()
