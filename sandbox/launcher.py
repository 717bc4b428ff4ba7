"""Start, stop and inspect the LocalStack process of one sandbox.

All of a sandbox's files live under its home folder (see `SandboxConfig`): LocalStack's state and
temp files, its log, its pid file and the instance id that tags every process it starts.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from sandbox import snapshots
from sandbox.config import HOST, SandboxConfig
from sandbox.processes import instance_pids, is_alive, read_environ, terminate

START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
# Once the state is saved (or dropped by `down --no-save`), LocalStack's own shutdown (stopping
# services, environments, pollers) has nothing left to keep: it gets less time before it is killed.
SETTLED_STOP_GRACE_SECONDS = 3.0
SAVE_TIMEOUT_SECONDS = 120.0
STATE_ROUTE = "/_sandbox/state"  # served by sandbox/plugins/persistence.py
# How long a sandbox whose process is alive gets to answer before it is taken for hung or for
# "no state". Under load it can be busy for seconds (a periodic save pickling a large state took
# 6-12 s during `make e2e-repeat`); a 1 s answer taken as "no state id" made a deploy forget what
# it had deployed and create every resource again (all refused: they existed).
BUSY_TIMEOUT_SECONDS = 20.0


class SandboxError(RuntimeError):
    """A failure the user can act on; its message says what happened and what to do."""


@dataclass(frozen=True)
class Running:
    pid: int
    instance_id: str


def _get_json(config: SandboxConfig, path: str, timeout: float) -> dict | None:
    try:
        with urllib.request.urlopen(f"{config.endpoint}{path}", timeout=timeout) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def health(config: SandboxConfig, timeout: float = 1.0) -> dict | None:
    """LocalStack's health document, or None when nothing healthy answers."""
    return _get_json(config, "/_localstack/health", timeout)


def state(config: SandboxConfig, timeout: float = 1.0) -> dict | None:
    """The persistence status (state id, restore outcome, last save), or None."""
    return _get_json(config, STATE_ROUTE, timeout)


def state_id(config: SandboxConfig, timeout: float = BUSY_TIMEOUT_SECONDS) -> str | None:
    """The id of the running sandbox's state (kept across `down`/`up` by its snapshots), or None
    when it does not serve the state route (started by an older version). No answer within
    `timeout` is an error, never "no state"."""
    try:
        with urllib.request.urlopen(f"{config.endpoint}{STATE_ROUTE}", timeout=timeout) as r:
            return json.load(r).get("state_id") or None
    except urllib.error.HTTPError as e:
        if e.code < 500:  # not ours: e.g. S3's XML for a route that does not exist
            return None
        failure: Exception = e
    except ValueError:  # a 2xx that is not JSON: not ours either
        return None
    except OSError as e:
        failure = e
    raise SandboxError(
        f"sandbox: {config.endpoint} did not tell its state id within {timeout:.0f} s "
        f"({failure}); `python -m sandbox status` shows whether it answers"
    )


def save(config: SandboxConfig, target: Path | None = None, reason: str = "request") -> dict:
    """Ask the running sandbox to save its state (to `target`, else its current snapshot)."""
    body = json.dumps({"path": str(target) if target else None, "reason": reason}).encode()
    request = urllib.request.Request(f"{config.endpoint}{STATE_ROUTE}", data=body, method="POST")
    older = (
        f"{config.endpoint} does not answer {STATE_ROUTE} as this version's sandbox does (was it "
        "started by an older version? Its state cannot be saved: `python -m sandbox down "
        "--no-save` stops it)"
    )
    try:
        with urllib.request.urlopen(request, timeout=SAVE_TIMEOUT_SECONDS) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read() or b"{}").get("error") or str(e)
        except ValueError:  # not ours: e.g. S3's XML for a route that does not exist
            detail = older
        raise SandboxError(f"sandbox: the state could not be saved: {detail}") from e
    except ValueError as e:  # a 2xx that is not JSON
        raise SandboxError(f"sandbox: the state could not be saved: {older}") from e
    except OSError as e:
        raise SandboxError(f"sandbox: the state could not be saved: {e}") from e


def stop_saving(config: SandboxConfig) -> bool:
    """Tell the running sandbox to save nothing more, not even at shutdown (`down --no-save`).

    Returns whether it agreed."""
    request = urllib.request.Request(f"{config.endpoint}{STATE_ROUTE}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=SAVE_TIMEOUT_SECONDS):
            return True
    except OSError as e:  # HTTPError included: the stop goes on; say what may have been saved
        _say(f"sandbox: could not stop its saves ({e}); it may save at shutdown")
        return False


def keep_or_drop_state(config: SandboxConfig, save_state: bool) -> tuple[bool, SandboxError | None]:
    """Before a stop: save the state (`down`), or have the sandbox save nothing more (`--no-save`).

    Returns whether the state is settled (saved, or dropped as asked: the shutdown has nothing
    left to keep, so it may be cut short), and the save's error, which the caller reports after
    the stop.
    """
    if health(config, timeout=BUSY_TIMEOUT_SECONDS) is None:
        return False, None
    if not save_state:
        return stop_saving(config), None
    try:
        save(config, reason="down")
    except SandboxError as e:
        return False, e
    return True, None


def log_tail(config: SandboxConfig, lines: int = 25) -> str:
    try:
        with config.log_file.open(errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError:
        return "(no log)"


def running(config: SandboxConfig) -> Running | None:
    """The LocalStack process recorded in the pid file, if it is still this sandbox's."""
    try:
        pid, instance_id = config.pid_file.read_text().split()
    except (OSError, ValueError):
        return None
    pid_ = int(pid)
    if is_alive(pid_) and read_environ(pid_).get("SANDBOX_INSTANCE_ID") == instance_id:
        return Running(pid_, instance_id)
    return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _port_freed(port: int, grace_seconds: float = 3.0) -> bool:
    """Whether the port is free, waiting a little for a process that has just exited."""
    deadline = time.monotonic() + grace_seconds
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _clean_stale(config: SandboxConfig) -> None:
    """A pid file whose process is gone means the previous run crashed: say so and tidy up."""
    if not config.pid_file.exists():
        return
    try:
        _, instance_id = config.pid_file.read_text().split()
    except ValueError:
        instance_id = ""
    _say(f"sandbox: previous run ended without `down` (stale {config.pid_file}); last log:")
    _say(log_tail(config, 10).rstrip())
    if instance_id:
        leftovers = instance_pids(instance_id)
        if leftovers:
            _say(f"sandbox: stopping leftover process(es) of that run: {leftovers}")
            terminate(leftovers, STOP_GRACE_SECONDS)
    config.pid_file.unlink(missing_ok=True)


def up(
    config: SandboxConfig,
    timeout: float = START_TIMEOUT_SECONDS,
    extra_env: dict[str, str] | None = None,
) -> float | None:
    """Start LocalStack in the background and wait until it is healthy.

    `extra_env` is added to LocalStack's environment (tests use it to trap the network).
    Returns the seconds it took, or None when this sandbox was already up.
    """
    if running(config) is not None:
        if health(config, timeout=BUSY_TIMEOUT_SECONDS) is not None:
            return None
        raise SandboxError(
            f"sandbox: process {running(config).pid} is alive but {config.endpoint} does not "
            "answer; run `python -m sandbox down` and try again. Last log lines:\n"
            + log_tail(config)
        )
    _clean_stale(config)
    if not _port_freed(config.port):
        raise SandboxError(
            f"sandbox: port {config.port} on {HOST} is taken by another program. Stop it, or "
            "choose another port with SANDBOX_PORT=<port>."
        )
    saved = snapshots.current_file(config.home)
    if saved.exists():
        try:
            snapshots.read_manifest(saved).check_loadable()
        except snapshots.SnapshotError as e:
            raise SandboxError(str(e)) from e
    for folder in (config.home, config.state_dir, config.tmp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    instance_id = uuid.uuid4().hex
    env = {**os.environ, **config.localstack_env(instance_id), **(extra_env or {})}
    started = time.monotonic()
    with config.log_file.open("ab") as log:
        log.write(f"\n=== sandbox up {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
        log.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox.runtime"],
            cwd=config.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the launcher; not hit by the terminal's Ctrl-C
        )
    config.pid_file.write_text(f"{process.pid} {instance_id}\n")
    deadline = started + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            config.pid_file.unlink(missing_ok=True)
            raise SandboxError(
                f"sandbox: LocalStack exited with code {process.returncode} while starting. "
                f"Last lines of {config.log_file}:\n{log_tail(config)}"
            )
        if health(config, timeout=0.5) is not None and _restored(config):
            return time.monotonic() - started
        time.sleep(0.02)
    down(config, save_state=False)
    raise SandboxError(
        f"sandbox: LocalStack was not healthy after {timeout:.0f} s; stopped it. "
        f"Last lines of {config.log_file}:\n{log_tail(config)}"
    )


def _restored(config: SandboxConfig) -> bool:
    """Whether the saved state is restored (or there was none); raises when it was refused."""
    status = state(config, timeout=0.5)
    restore = (status or {}).get("restore", {}).get("status")
    if restore in (None, "pending", "restoring"):
        return False
    if restore in ("refused", "failed"):
        error = status["restore"].get("error")
        down(config, save_state=False)
        raise SandboxError(f"{error}\nThe sandbox was stopped; last log lines:\n{log_tail(config)}")
    return True


def down(config: SandboxConfig, save_state: bool = True) -> list[int]:
    """Save the state (unless told not to), then stop LocalStack and every process it started.

    Returns the PIDs that were stopped. A failed save is reported after the stop (SandboxError);
    the snapshot of the last successful save is kept as it was.
    """
    current = running(config)
    if current is None:
        _clean_stale(config)
        return []
    settled, error = keep_or_drop_state(config, save_state)
    grace = SETTLED_STOP_GRACE_SECONDS if settled else STOP_GRACE_SECONDS
    # LocalStack first, so that it shuts its Lambda environments down itself...
    terminate([current.pid], grace)
    # ...then anything of this instance that is still alive.
    leftovers = instance_pids(current.instance_id)
    terminate(leftovers, STOP_GRACE_SECONDS)
    config.pid_file.unlink(missing_ok=True)
    if error is not None:
        raise error
    return [current.pid, *leftovers]


def reset(config: SandboxConfig) -> bool:
    """Wipe all sandbox state, its snapshot included (named snapshots are kept).

    Restarts LocalStack when it was running; returns whether it was.
    """
    was_running = running(config) is not None
    down(config, save_state=False)
    shutil.rmtree(config.state_dir, ignore_errors=True)
    shutil.rmtree(config.tmp_dir, ignore_errors=True)
    snapshots.current_file(config.home).unlink(missing_ok=True)
    if was_running:
        up(config)
    return was_running
