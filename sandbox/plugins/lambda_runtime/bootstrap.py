"""The "init" of one host-process Lambda environment: imports the handler, then serves invokes.

Runs under the function's own interpreter (`python -I -S`), so it imports nothing from the
project and must work on every supported Python. Usage: `bootstrap.py <spawned-at> <path>...`
where <spawned-at> is the executor's `time.monotonic()` at spawn (for Init Duration) and the
paths go first on sys.path (code, layers, runtime libraries), as /var/task, /opt/python and
/var/runtime do on AWS.

Protocol with the executor (sandbox.plugins.lambda_executor), one JSON object per line:
- in on fd 0: {"id", "arn", "payload", "trace", "deadline"} (deadline in time.monotonic()).
- out on fd 1: {"type": "ready"} or {"type": "init_error", "error", "logs"} once, then per
  invoke {"type": "result", "ok", "payload", "logs"}; on SIGUSR1 (sent before a timeout kill)
  {"type": "partial", "logs"} with what the current invocation logged so far.
fd 0/1 are then moved away from the function, whose stdout/stderr are captured per invocation
(Python-level writes; output of subprocesses and C code goes to the environment's log file).
Each captured write is also appended at once to the spool file $SANDBOX_LOG_SPOOL (emptied at
every invoke), so that what a function logged before its process died (os._exit, a signal)
reaches CloudWatch Logs as it does on AWS.

Under the sandbox's network trap, $NETGUARD_HOOK names the trap's audit hook (a sitecustomize
that `-I -S` would skip); it is loaded by path before anything else runs, so nothing of the
project lands on sys.path.
"""

import json
import os
import signal
import sys
import time
import traceback


def install_network_trap():
    """Run the netguard audit hook's file when the executor passed one (no trap: no-op)."""
    path = os.environ.get("NETGUARD_HOOK")
    if not path:
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location("_netguard_hook", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # failing here fails start-up


install_network_trap()

CONTROL_IN = os.fdopen(os.dup(0), "rb", buffering=0)
CONTROL_OUT = os.fdopen(os.dup(1), "wb", buffering=0)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.dup2(2, 1)  # stray fd-level output joins stderr in the environment's log file


def open_spool():
    path = os.environ.pop("SANDBOX_LOG_SPOOL", "")
    if not path:
        return None
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)


class Capture:
    """What the function writes through sys.stdout/sys.stderr, kept until the invoke ends."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, spool):
        self.parts = []
        self.spool = spool

    def write(self, text):
        self.parts.append(text)
        if self.spool is not None:
            os.write(self.spool, text.encode("utf-8", "replace"))
        return len(text)

    def restart_spool(self, head):
        if self.spool is not None:
            os.ftruncate(self.spool, 0)
            os.write(self.spool, head.encode("utf-8", "replace"))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def take(self):
        text = "".join(self.parts)
        self.parts = []
        return text


CAPTURE = Capture(open_spool())
sys.stdout = sys.stderr = CAPTURE
REQUEST = {"id": ""}  # the current request id, for the logging filter and the SIGUSR1 dump


def send(message):
    CONTROL_OUT.write(json.dumps(message).encode() + b"\n")


def install_logging():
    """The root handler AWS's runtime installs: `[LEVEL]\\ttime\\trequest-id\\tmessage`."""
    import logging

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = REQUEST["id"]
            return True

    handler = logging.StreamHandler(CAPTURE)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)


def error_result(error_type, message, tb=None, request_id=""):
    frames = traceback.extract_tb(tb)[1:] if tb is not None else []
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def error_log(error):
    trace = "".join(error["stackTrace"])
    text = f"[ERROR] {error['errorType']}: {error['errorMessage']}\n"
    if trace:
        text += "Traceback (most recent call last):\n" + trace
    return text if text.endswith("\n") else text + "\n"


def load_handler(spec):
    """The handler function, or an AWS-shaped init error (as the Python runtime reports it)."""
    import importlib

    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as e:
        return None, error_result("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}")
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            return None, error_result(
                "Runtime.BuiltInModuleConflict",
                f"Cannot use built-in module {module_name} as a handler module",
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        return None, error_result(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}"
        )
    except SyntaxError as e:
        error = error_result(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}"
        )
        error["stackTrace"] = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}\n']
        return None, error
    except Exception as e:
        return None, error_result(type(e).__name__, str(e), e.__traceback__)
    handler = getattr(module, function_name, None)
    if handler is None:
        # AWS reports a missing handler when it is invoked, not at init.
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, {**error_result("Runtime.HandlerNotFound", message), "_at_invoke": True}
    return handler, None


class Context:
    """The `context` argument of a Python handler."""

    def __init__(self, request, env):
        self.aws_request_id = request["id"]
        self.invoked_function_arn = request["arn"]
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = request["deadline"]

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def log(self, message):
        CAPTURE.write(message)


def max_memory_mb():
    """Peak RSS of this process (VmHWM; ru_maxrss would include the spawning LocalStack)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def report(request_id, started, init_ms, status=None):
    duration = (time.monotonic() - started) * 1000
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
        f"Billed Duration: {int(duration) + 1} ms\tMemory Size: {memory} MB\t"
        f"Max Memory Used: {max_memory_mb()} MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    if status:
        line += f"\tStatus: error\tError Type: {status}"
    return line + "\n"


def invoke(handler, missing, request, init_ms, init_logs):
    """Run one invocation; `missing` is the HandlerNotFound error when there is no handler."""
    request_id = request["id"]
    REQUEST["id"] = request_id
    os.environ["_X_AMZN_TRACE_ID"] = request.get("trace") or ""
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    head = f"{init_logs}START RequestId: {request_id} Version: {version}\n"
    REQUEST["head"] = head
    CAPTURE.restart_spool(head)
    started = time.monotonic()
    payload, error = "null", None
    if missing is not None:
        error = {**missing, "requestId": request_id}
    else:
        try:
            result = handler(json.loads(request["payload"] or "null"), Context(request, os.environ))
            try:
                payload = json.dumps(result)
            except (TypeError, ValueError) as e:
                message = f"Unable to marshal response: {e}"
                error = error_result("Runtime.MarshalError", message, None, request_id)
        except Exception as e:
            error = error_result(type(e).__name__, str(e), e.__traceback__, request_id)
    logs = CAPTURE.take()
    if error is not None:
        logs += error_log(error)
        payload = json.dumps(error)
    status = None if error is None else error["errorType"]
    tail = f"END RequestId: {request_id}\n" + report(request_id, started, init_ms, status)
    REQUEST["id"] = ""
    REQUEST.pop("head", None)
    return {"type": "result", "ok": error is None, "payload": payload, "logs": head + logs + tail}


def dump_partial_logs(signum, frame):
    """Before a timeout kill: hand over what the running invocation has logged so far."""
    send({"type": "partial", "logs": REQUEST.get("head", "") + "".join(CAPTURE.parts)})


def main():
    spawned_at = float(sys.argv[1])
    sys.path[0:0] = sys.argv[2:]
    install_logging()
    handler, error = load_handler(os.environ.get("_HANDLER", ""))
    init_logs = CAPTURE.take()
    init_ms = (time.monotonic() - spawned_at) * 1000
    missing = error if error is not None and error.pop("_at_invoke", False) else None
    if error is not None and missing is None:
        logs = init_logs + error_log(error)
        logs += (
            f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\t"
            f"Error Type: {error['errorType']}\n"
        )
        send({"type": "init_error", "error": error, "logs": logs})
        return
    signal.signal(signal.SIGUSR1, dump_partial_logs)
    send({"type": "ready"})
    for line in CONTROL_IN:
        send(invoke(handler, missing, json.loads(line), init_ms, init_logs))
        init_ms, init_logs = None, ""


if __name__ == "__main__":
    main()
