"""Results the executor reports itself when the function could not: timeouts, crashes, init errors.

Payloads and log lines follow what AWS's Python runtimes produce, so tests written against AWS
(errorType, errorMessage, the REPORT line's Status) hold here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Outcome:
    payload: bytes
    logs: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _report(
    request_id: str, duration_ms: float, memory_size: int, max_memory_mb: int, status: str
) -> str:
    return (
        f"END RequestId: {request_id}\n"
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {int(duration_ms)} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {max_memory_mb} MB\t{status}\n"
    )


def _start(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def timed_out(
    request_id: str,
    version: str,
    timeout_s: int,
    memory_size: int,
    max_memory_mb: int,
    partial_logs: str | None,
) -> Outcome:
    """AWS: the environment is stopped, the caller gets Sandbox.Timedout."""
    message = f"Task timed out after {timeout_s:.2f} seconds"
    logs = partial_logs if partial_logs is not None else _start(request_id, version)
    if logs and not logs.endswith("\n"):
        logs += "\n"
    logs += f"{_now()} {request_id} {message}\n\n"
    logs += _report(request_id, timeout_s * 1000, memory_size, max_memory_mb, "Status: timeout")
    error = {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: {message}",
    }
    return Outcome(json.dumps(error).encode(), logs)


def exited(
    request_id: str,
    version: str,
    description: str,
    duration_ms: float,
    memory_size: int,
    partial_logs: str = "",
) -> Outcome:
    """The process died during an invoke (os._exit, a signal, a crash in C code).

    `partial_logs`: what the invocation logged before it died (from START on), kept as on AWS.
    """
    message = f"RequestId: {request_id} Error: Runtime exited with error: {description}"
    status = "Status: error\tError Type: Runtime.ExitError"
    logs = partial_logs or _start(request_id, version)
    if not logs.endswith("\n"):
        logs += "\n"
    logs += message + "\n"
    logs += _report(request_id, duration_ms, memory_size, 0, status)
    error = {"errorType": "Runtime.ExitError", "errorMessage": message}
    return Outcome(json.dumps(error).encode(), logs)


def init_failed(
    request_id: str, version: str, error: dict, init_logs: str, memory_size: int
) -> Outcome:
    """The handler could not be loaded: the invoke answers with the init error, as on AWS."""
    status = f"Status: error\tError Type: {error.get('errorType', 'Runtime.Unknown')}"
    logs = init_logs + _start(request_id, version) + _report(request_id, 0, memory_size, 0, status)
    return Outcome(json.dumps(error).encode(), logs)


def start_failed(description: str) -> bytes:
    """The payload LocalStack returns when an environment cannot even start."""
    message = f"Runtime exited without providing a reason: {description}"
    return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
