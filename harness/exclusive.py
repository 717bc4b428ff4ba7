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
wait is bounded, and a failure names the lock and what holds it now: every holder (shared or
exclusive) leaves a file `<name>.holders/<pid>-<n>` naming its process and test while it holds
the lock, and removes it on release (a holder whose process died is not named).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sandbox.processes import is_alive


class LockTimeout(AssertionError):
    """A lock could not be acquired in time."""


_serial = itertools.count()


@dataclass
class _Lock:
    """One acquired lock: its file (holding the flock) and the holder note naming us."""

    handle: IO[str]
    note: Path

    def release(self) -> None:
        self.note.unlink(missing_ok=True)  # first: once unlocked, the next holder writes its own
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


@dataclass
class Held:
    """The locks one `Locks.hold` acquired; `release` gives one up before the block ends."""

    locks: dict[str, _Lock] = field(default_factory=dict)

    def release(self, name: str) -> None:
        lock = self.locks.pop(name, None)
        if lock is not None:
            lock.release()

    def release_all(self) -> None:
        for name in list(self.locks):
            self.release(name)


@dataclass(frozen=True)
class Locks:
    """Named reader/writer locks: one file per name under `directory`."""

    directory: Path
    timeout: float = 300.0

    def _acquire(self, name: str, exclusive: bool) -> _Lock:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = (self.directory / f"{name}.lock").open("a+")
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
                        f"in {self.timeout:.0f} s; held by: {'; '.join(self.holders(name))}"
                    ) from None
                time.sleep(0.05)
        return _Lock(handle, self._note(name, exclusive))

    def _note(self, name: str, exclusive: bool) -> Path:
        """Name this holder (read at acquisition: the test running now) until it releases."""
        folder = self.directory / f"{name}.holders"
        folder.mkdir(exist_ok=True)
        note = folder / f"{os.getpid()}-{next(_serial)}"
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").removesuffix(" (call)")
        note.write_text(f"{'exclusive' if exclusive else 'shared'} pid {os.getpid()}: {test}")
        return note

    def holders(self, name: str) -> list[str]:
        """Who holds `name` now (shared or exclusive), as their notes say; ["nobody known"]."""
        found = []
        for note in sorted((self.directory / f"{name}.holders").glob("*-*")):
            try:
                pid = int(note.name.split("-", 1)[0])
                text = note.read_text()
            except (OSError, ValueError):
                continue  # released meanwhile
            if is_alive(pid):
                found.append(text)
        return found or ["nobody known"]

    @contextmanager
    def hold(self, *, shared: Iterable[str] = (), exclusive: Iterable[str] = ()) -> Iterator[Held]:
        """Hold every named lock (exclusive wins when a name is in both) for the block."""
        wanted = dict.fromkeys(shared, False) | dict.fromkeys(exclusive, True)
        held = Held()
        try:
            for name in sorted(wanted):
                held.locks[name] = self._acquire(name, wanted[name])
            yield held
        finally:
            held.release_all()
