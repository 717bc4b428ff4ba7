"""Finding and ending the processes one sandbox started — by PID, never by name.

LocalStack and every Lambda environment it spawns inherit SANDBOX_INSTANCE_ID, so the processes
of one sandbox are exactly those whose initial environment carries its id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def read_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; it only waits to be reaped.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def instance_pids(instance_id: str) -> list[int]:
    """PIDs of live processes started by the sandbox instance `instance_id`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            pid = int(entry.name)
            if read_environ(pid).get("SANDBOX_INSTANCE_ID") == instance_id and is_alive(pid):
                pids.append(pid)
    return sorted(pids)


def terminate(pids: list[int], grace_seconds: float) -> list[int]:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL what is left. Returns the killed ones."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(is_alive(p) for p in pids):
        time.sleep(0.05)
    killed = [p for p in pids if is_alive(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed
