"""LocalStack Lambda runtime executor that runs Python functions as host processes (no Docker).

LocalStack's open-source core only ships a Docker executor, which needs Docker and a runtime
binary downloaded from GitHub; neither is available offline. This executor keeps LocalStack's
whole Lambda service (API, versions, concurrency counting, async retries, event source mappings,
CloudWatch logs and metrics) and replaces only the part that runs code: each execution
environment is one `python -I -S bootstrap.py` process (see lambda_runtime/bootstrap.py).

LocalStack internals relied on (localstack-core 2026.3.0):
- entry point group `localstack.lambda.runtime_executor`, selected by LAMBDA_RUNTIME_EXECUTOR,
  base class `localstack.services.lambda_.invocation.plugins.RuntimeExecutorPlugin`;
- `runtime_executor.RuntimeExecutor` and its contract as driven by
  `execution_environment.ExecutionEnvironment` (start(env_vars) blocks until ready, invoke()
  returns an `lambda_models.InvocationResult`, stop() may come from any thread) and by
  `version_manager.LambdaVersionManager` (prepare_version() raising marks the function Failed with
  the message as StateReason; a `StatusErrorException` from start() becomes an error response);
- `FunctionVersion.config` (runtime, handler, timeout, memory_size, layers, package_type) and
  `code.prepare_for_execution()` / `get_unzipped_code_location()` for function and layer zips;
- the environment variables `ExecutionEnvironment.get_environment_variables()` hands over
  (_HANDLER, AWS_LAMBDA_*, role credentials, AWS_ENDPOINT_URL built from
  get_endpoint_from_executor(), LOCALSTACK_RUNTIME_ENDPOINT built from get_runtime_endpoint(),
  i.e. the `/_localstack_lambda/<id>` namespace of `executor_endpoint`, unused here: invokes and
  results travel over the process's pipes instead of its HTTP callbacks).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

from localstack import config as ls_config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    NAMESPACE,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from sandbox.netguard.trap import forwarded_env
from sandbox.plugins.lambda_runtime import outcomes
from sandbox.plugins.lambda_runtime.interpreters import (
    RuntimeUnavailable,
    interpreter_for,
    runtime_dir,
    sandbox_lambda_dir,
    unsupported_message,
)
from sandbox.plugins.lambda_runtime.process import ChannelClosed, EnvironmentProcess
from sandbox.plugins.patching import Target

LOG = logging.getLogger(__name__)
RUNTIME_EXECUTOR = "localstack.services.lambda_.invocation.runtime_executor:RuntimeExecutor"
# The RuntimeExecutor contract this executor implements (checked by tests, no server).
INTERNALS = (
    Target(f"{RUNTIME_EXECUTOR}.__init__", params=("self", "id", "function_version"), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.start", params=("self", "env_vars"), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.stop", params=("self",), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.invoke", params=("self", "payload"), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.get_address", params=("self",), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.get_endpoint_from_executor", params=("self",), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.get_runtime_endpoint", params=("self",), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.get_logs", params=("self",), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.prepare_version", params=("function_version",), exact=True),
    Target(f"{RUNTIME_EXECUTOR}.cleanup_version", params=("function_version",), exact=True),
    Target("localstack.services.lambda_.invocation.plugins:RuntimeExecutorPlugin.load"),
    Target("localstack.services.lambda_.invocation.lambda_models:FunctionVersion.config"),
    Target("localstack.services.lambda_.invocation.lambda_models:InvocationResult"),
    Target("localstack.services.lambda_.invocation.executor_endpoint:StatusErrorException"),
)
HOST = "127.0.0.1"
PARTIAL_LOGS_WAIT_SECONDS = 0.2  # how long a timed-out function gets to hand over its logs
# Variables of LocalStack's own environment that every function process inherits. When LocalStack
# runs under the network trap (sandbox.netguard), its variables are passed on as well
# (`forwarded_env`), so that function processes are trapped as LocalStack is.
INHERITED = ("SANDBOX_INSTANCE_ID", "SANDBOX_HOME", "LANG", "LC_ALL")


class HostProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host-process"

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return HostProcessRuntimeExecutor


def _code_paths(function_version: FunctionVersion) -> list[str]:
    """sys.path head as on AWS: /var/task, then layers (the last one wins), then /var/runtime."""
    config = function_version.config
    version = (config.runtime or "").removeprefix("python")
    paths = [str(config.code.get_unzipped_code_location())]
    for layer in reversed(config.layers or []):
        if layer.code is not None:
            layer_root = Path(layer.code.get_unzipped_code_location()) / "python"
            site_packages = layer_root / "lib" / f"python{version}" / "site-packages"
            paths += [str(site_packages), str(layer_root)]
    return [*paths, str(runtime_dir())]


class HostProcessRuntimeExecutor(RuntimeExecutor):
    """One execution environment = one host process, restarted after a timeout or crash."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._env: dict[str, str] = {}
        self._process: EnvironmentProcess | None = None
        self._init_error: tuple[dict, str] | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._folder = sandbox_lambda_dir() / "environments" / id
        self._spool = self._folder / "invocation.log"

    # --- lifecycle -----------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        (self._folder / "tmp").mkdir(parents=True, exist_ok=True)
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        interpreter = interpreter_for(self.function_version.config.runtime)
        self._env = {
            **{k: os.environ[k] for k in INHERITED if k in os.environ},
            "PATH": f"{Path(interpreter).parent}:/usr/local/bin:/usr/bin:/bin",
            **{k: str(v) for k, v in env_vars.items()},
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": str(runtime_dir()),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{self.function_version.config.runtime}",
            "TMPDIR": str(self._folder / "tmp"),
            # What the running invocation logged so far, kept if the process dies (bootstrap).
            "SANDBOX_LOG_SPOOL": str(self._spool),
            # Last, so that a function's own proxy settings cannot take it out of the trap.
            **forwarded_env(),
        }
        self._spawn()

    def _spawn(self) -> None:
        """Start the process and wait for its init to finish (ready, or an init error)."""
        config = self.function_version.config
        process = EnvironmentProcess(
            interpreter_for(config.runtime),
            _code_paths(self.function_version),
            cwd=str(config.code.get_unzipped_code_location()),
            env=self._env,
            log=self._folder / "runtime.log",
        )
        with self._lock:
            if self._stopped:
                process.kill()
                raise StatusErrorException("Environment stopped", outcomes.start_failed("stopped"))
            self._process = process
        deadline = time.monotonic() + ls_config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        try:
            message = process.receive(deadline)
        except ChannelClosed:
            message = None
        if message is None or message["type"] not in ("ready", "init_error"):
            description = process.exit_description()
            process.kill()
            LOG.warning("Lambda environment %s failed to start: %s", self.id, description)
            raise StatusErrorException(
                "Environment startup failed", outcomes.start_failed(description)
            )
        if message["type"] == "init_error":
            self._init_error = (message["error"], message["logs"])
            process.kill()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            process, self._process = self._process, None
        if process is not None:
            process.kill()
        shutil.rmtree(self._folder, ignore_errors=True)

    # --- invocation ----------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        config = self.function_version.config
        version = self.function_version.id.qualifier
        if self._needs_respawn():
            try:
                self._spawn()  # AWS re-initialises an environment after a timeout or crash
            except StatusErrorException as e:
                return InvocationResult(request_id, e.payload, is_error=True, logs="")
        if self._init_error is not None:
            (error, logs), self._init_error = self._init_error, None
            outcome = outcomes.init_failed(request_id, version, error, logs, config.memory_size)
            return InvocationResult(request_id, outcome.payload, is_error=True, logs=outcome.logs)
        process = self._process
        if process is None:  # stopped while this invoke was on its way
            payload_ = outcomes.start_failed("environment stopped")
            return InvocationResult(request_id, payload_, is_error=True, logs="")
        started = time.monotonic()
        deadline = started + config.timeout
        try:
            process.send(
                {
                    "id": request_id,
                    "arn": payload["invoked-function-arn"],
                    "payload": payload["payload"],
                    "trace": payload.get("trace-id"),
                    "deadline": deadline,
                }
            )
            message = process.receive(deadline)
            if message is None:
                return self._timed_out(process, request_id)
        except ChannelClosed:
            process.kill()
            outcome = outcomes.exited(
                request_id,
                version,
                process.exit_description(),
                (time.monotonic() - started) * 1000,
                config.memory_size,
                self._spooled_logs(request_id),
            )
            return InvocationResult(request_id, outcome.payload, is_error=True, logs=outcome.logs)
        return InvocationResult(
            request_id,
            message["payload"].encode(),
            is_error=not message["ok"],
            logs=message["logs"],
        )

    def _spooled_logs(self, request_id: str) -> str:
        """The dead invocation's logs from the spool file (empty when it never started)."""
        try:
            text = self._spool.read_text(errors="replace")
        except OSError:
            return ""
        return text if f"START RequestId: {request_id} " in text else ""

    def _needs_respawn(self) -> bool:
        with self._lock:
            if self._stopped:
                return False
            return self._init_error is None and (self._process is None or not self._process.alive())

    def _timed_out(self, process: EnvironmentProcess, request_id: str) -> InvocationResult:
        """Collect what the function logged, kill it; the next invoke starts a fresh process."""
        memory = process.max_memory_mb()
        process.signal(signal.SIGUSR1)
        partial = None
        try:
            message = process.receive(time.monotonic() + PARTIAL_LOGS_WAIT_SECONDS)
            if message is not None and message["type"] == "partial":
                partial = message["logs"]
        except ChannelClosed:
            pass
        process.kill()
        config = self.function_version.config
        outcome = outcomes.timed_out(
            request_id,
            self.function_version.id.qualifier,
            config.timeout,
            config.memory_size,
            memory,
            partial,
        )
        return InvocationResult(request_id, outcome.payload, is_error=True, logs=outcome.logs)

    # --- addresses (used by LocalStack to build the environment variables) ----------------
    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        port = ls_config.GATEWAY_LISTEN[0].port
        return f"http://{HOST}:{port}{NAMESPACE}/{self.id}"

    def get_logs(self) -> str:
        try:
            return (self._folder / "runtime.log").read_text(errors="replace")
        except OSError:
            return ""

    # --- versions --------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        config = function_version.config
        if config.package_type != PackageType.Zip:
            raise LambdaRuntimeException(unsupported_message(None))
        try:
            interpreter_for(config.runtime)
        except RuntimeUnavailable as e:
            raise LambdaRuntimeException(str(e)) from e
        runtime_dir()
        config.code.prepare_for_execution()
        for layer in config.layers or []:
            if layer.code is not None:
                layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to do: code folders belong to LocalStack, environments clean up in stop()."""
