"""Cross-process reader/writer locks on shared state of the deployed stack (`fcntl.flock`).

Tests running in parallel (xdist workers, or two pytest runs on one sandbox) share each
priority's queue, event source mapping, DLQ and alarms. A test that disturbs one of them takes
that lock exclusively; a test that merely relies on it takes it shared:

    locks = Locks(directory)
    with locks.hold(shared=["lane-high"]):            # an ordinary test of priority high
        ...
    with locks.hold(exclusive=["dlq-high"], shared=["lane-high"]) as held:
        ...
        held.release("lane-high")                     # done with the queue, keep the DLQ

Locks are always acquired in sorted name order (no deadlock between holders of several), each
wait is bounded, and a failure names the lock and what holds it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


class LockTimeout(AssertionError):
    """A lock could not be acquired in time."""


@dataclass
class Held:
    """The locks one `Locks.hold` acquired; `release` gives one up before the block ends."""

    files: dict[str, IO[str]] = field(default_factory=dict)

    def release(self, name: str) -> None:
        handle = self.files.pop(name, None)
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def release_all(self) -> None:
        for name in list(self.files):
            self.release(name)


@dataclass(frozen=True)
class Locks:
    """Named reader/writer locks: one file per name under `directory`."""

    directory: Path
    timeout: float = 300.0
    owner: str = field(default_factory=lambda: os.environ.get("PYTEST_CURRENT_TEST", "?"))

    def _acquire(self, name: str, exclusive: bool) -> IO[str]:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.lock"
        handle = path.open("a+")
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(handle, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise LockTimeout(
                        f"lock {name} ({'exclusive' if exclusive else 'shared'}) not acquired "
                        f"in {self.timeout:.0f} s; last exclusive holder: {self._holder(name)}"
                    ) from None
                time.sleep(0.05)
        if exclusive:
            (self.directory / f"{name}.holder").write_text(f"pid {os.getpid()}: {self.owner}")
        return handle

    def _holder(self, name: str) -> str:
        try:
            return (self.directory / f"{name}.holder").read_text()
        except OSError:
            return "unknown"

    @contextmanager
    def hold(self, *, shared: Iterable[str] = (), exclusive: Iterable[str] = ()) -> Iterator[Held]:
        """Hold every named lock (exclusive wins when a name is in both) for the block."""
        wanted = dict.fromkeys(shared, False) | dict.fromkeys(exclusive, True)
        held = Held()
        try:
            for name in sorted(wanted):
                held.files[name] = self._acquire(name, wanted[name])
            yield held
        finally:
            held.release_all()
