"""Who may stop a sandbox that test sessions share: the session that started it, when no one
else uses it.

Several test sessions (a developer's `make e2e` and `make test`, helpers on one machine) may use
one sandbox instance. Each session holds a lease, a file `<home>/sessions/<token>` naming its
process, for as long as it runs. The session that actually started the instance (its
`up` did the work) records `<home>/sessions/started-by`: its token and the instance id.
At its end, a session stops the sandbox only when that record names it and the running instance,
and no other session's lease is alive. A sandbox someone started by hand, or adopted with
`python -m sandbox up` while it was running, is never stopped by a test session.

The callers serialise `started`/`release_and_should_stop` against `launcher.up` with one file
lock (harness.pytest_plugin.session_lock), so no session starts using the instance between
another's check and its stop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox import launcher
from sandbox.config import SandboxConfig
from sandbox.processes import is_alive

STARTED_BY = "started-by"


@dataclass(frozen=True)
class Sessions:
    config: SandboxConfig
    # What runs the instance: a host process (the default) or harness.container's `running`.
    running: Callable[[SandboxConfig], launcher.Running | None] = launcher.running

    @property
    def folder(self) -> Path:
        return self.config.home / "sessions"

    def register(self, token: str, pid: int | None = None) -> None:
        """Lease the sandbox for the session `token` (run by `pid`, this process by default)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / token).write_text(str(pid or os.getpid()))

    def others(self, token: str) -> list[str]:
        """The tokens of the other sessions whose process is still alive (dead leases removed)."""
        alive = []
        for lease in self.folder.glob("*") if self.folder.is_dir() else ():
            if lease.name in (token, STARTED_BY):
                continue
            try:
                pid = int(lease.read_text())
            except (OSError, ValueError):
                continue
            if is_alive(pid):
                alive.append(lease.name)
            else:
                lease.unlink(missing_ok=True)
        return alive

    def started(self, token: str) -> None:
        """Record that session `token` started the running instance."""
        current = self.running(self.config)
        if current is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / STARTED_BY).write_text(f"{token} {current.instance_id}")

    def starter(self) -> str | None:
        """The session that started the running instance; None when no session did."""
        current = self.running(self.config)
        try:
            token, instance_id = (self.folder / STARTED_BY).read_text().split()
        except (OSError, ValueError):
            return None
        return token if current is not None and current.instance_id == instance_id else None

    def adopt(self) -> None:
        """Someone outside the test sessions uses the running instance: no session stops it."""
        (self.folder / STARTED_BY).unlink(missing_ok=True)

    def release_and_should_stop(self, token: str) -> bool:
        """End session `token`'s lease; True when it must stop the sandbox (see the module doc)."""
        (self.folder / token).unlink(missing_ok=True)
        if self.starter() != token:
            return False
        if self.others(token):
            return False
        self.adopt()  # the record goes with the instance
        return True
