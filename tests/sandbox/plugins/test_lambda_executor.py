"""The host-process Lambda executor against the real sandbox: one test per AWS behaviour."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.aws import sandbox_client
from harness.lambdas import zip_of
from harness.waiting import eventually
from sandbox.config import SandboxConfig
from sandbox.processes import is_alive

pytestmark = pytest.mark.sandbox

ROLE = "arn:aws:iam::000000000000:role/lambda"
NO_RETRIES = Config(retries={"total_max_attempts": 1}, read_timeout=30)


@pytest.fixture
def lam(sandbox: SandboxConfig) -> object:
    """A Lambda client that does not retry throttles (boto3 would hide TooManyRequests)."""
    return sandbox_client(sandbox, "lambda", config=NO_RETRIES)


@pytest.fixture
def make_function(lam, unique: Callable[[str], str]) -> Iterator[Callable[..., str]]:
    """`make_function({"app.py": code}, Timeout=1)` → the name of an Active function."""
    created: list[str] = []

    def make(files: dict[str, str], *, wait: bool = True, **overrides: object) -> str:
        name = unique("fn")
        params = {
            "FunctionName": name,
            "Runtime": "python3.13",
            "Role": ROLE,
            "Handler": "app.handler",
            "Code": {"ZipFile": zip_of(files)},
            "Timeout": 3,
            **overrides,
        }
        lam.create_function(**params)
        created.append(name)
        if wait:
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return name

    yield make
    for name in created:
        # LocalStack cannot delete a function whose creation failed (InternalError).
        with contextlib.suppress(ClientError):
            lam.delete_function(FunctionName=name)


def invoke(lam, name: str, event: object = None, **kwargs: object) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return response, json.loads(response["Payload"].read())


def log_text(aws: Callable, name: str) -> str:
    try:
        events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    except ClientError:
        return ""
    return "".join(e["message"] for e in events)


ECHO = {
    "app.py": """
        import os, sys
        import helper

        def handler(event, context):
            return {
                "event": event,
                "greeting": helper.GREETING,
                "colour": os.environ.get("COLOUR"),
                "request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "python": "%d.%d" % sys.version_info[:2],
                "pid": os.getpid(),
            }
    """,
    "helper/__init__.py": "GREETING = 'hello from the zip'\n",
}


def test_sync_invoke_sees_event_environment_context_and_zip_dependencies(lam, make_function):
    name = make_function(ECHO, Environment={"Variables": {"COLOUR": "blue"}})
    response, body = invoke(lam, name, {"n": 1})
    assert "FunctionError" not in response
    assert body["event"] == {"n": 1}
    assert body["greeting"] == "hello from the zip"
    assert body["colour"] == "blue"
    assert body["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert 0 < body["remaining_ms"] <= 3000
    assert body["python"] == "3.13"


def test_python312_runtime_runs_on_python_3_12(lam, make_function):
    name = make_function(ECHO, Runtime="python3.12")
    _, body = invoke(lam, name)
    assert body["python"] == "3.12"


def test_function_sees_runtime_boto3_and_layers_but_not_the_project_venv(
    lam, aws, make_function, unique
):
    layer = aws("lambda").publish_layer_version(
        LayerName=unique("layer"),
        Content={"ZipFile": zip_of({"python/layered.py": "VALUE = 'from the layer'\n"})},
        CompatibleRuntimes=["python3.13"],
    )
    code = {
        "app.py": """
            import importlib.util, sys
            import boto3, layered

            def handler(event, context):
                return {
                    "layer": layered.VALUE,
                    "boto3": boto3.__version__,
                    "pytest": importlib.util.find_spec("pytest") is not None,
                    "localstack": importlib.util.find_spec("localstack") is not None,
                    "venv_on_path": any(".venv" in p for p in sys.path),
                    "isolated": bool(sys.flags.isolated),
                }
        """
    }
    name = make_function(code, Layers=[layer["LayerVersionArn"]])
    _, body = invoke(lam, name)
    assert body == {
        "layer": "from the layer",
        "boto3": body["boto3"],
        "pytest": False,
        "localstack": False,
        "venv_on_path": False,
        "isolated": True,
    }
    assert body["boto3"]


def test_environment_processes_carry_the_sandbox_instance_id(lam, make_function, sandbox):
    code = {
        "app.py": """
            import os
            def handler(event, context):
                return os.environ.get("SANDBOX_INSTANCE_ID")
        """
    }
    name = make_function(code)
    _, instance_id = invoke(lam, name)
    assert instance_id == SandboxConfig.from_env().pid_file.read_text().split()[1]


def test_async_invoke_runs_the_function(lam, aws, make_function, unique):
    marker = unique("async")
    code = {"app.py": "def handler(event, context):\n    print('got', event['marker'])\n"}
    name = make_function(code)
    response = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker})
    )
    assert response["StatusCode"] == 202
    eventually(lambda: f"got {marker}" in log_text(aws, name), timeout=15, describe=marker)


def test_handler_exception_is_reported_as_aws_does(lam, make_function):
    code = {
        "app.py": """
            def handler(event, context):
                raise ValueError("boom")
        """
    }
    name = make_function(code)
    response, body = invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert any('raise ValueError("boom")' in frame for frame in body["stackTrace"])


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"app.py": "import not_installed\n"},
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'not_installed'",
        ),
        (
            {"app.py": "def other(event, context):\n    return 1\n"},
            "app.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
        (
            {"app.py": "raise RuntimeError('bad config')\n"},
            "app.handler",
            "RuntimeError",
            "bad config",
        ),
        (
            {"app.py": "def handler(:\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app'",
        ),
        (
            {"app.py": "def handler(event, context):\n    return 1\n"},
            "nodots",
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodots'",
        ),
    ],
    ids=["missing-module", "missing-handler", "raises-at-import", "syntax-error", "bad-name"],
)
def test_init_errors_are_reported_as_aws_does(
    lam, make_function, files, handler, error_type, message
):
    name = make_function(files, Handler=handler)
    for _ in range(2):  # the environment re-initialises: the same error again, not a hang
        response, body = invoke(lam, name)
        assert response["FunctionError"] == "Unhandled"
        assert body["errorType"] == error_type
        assert body["errorMessage"].startswith(message)


def test_timeout_kills_the_process_and_the_next_invoke_works(lam, aws, make_function):
    code = {
        "app.py": """
            import os, time
            def handler(event, context):
                print("about to sleep in", os.getpid())
                time.sleep(event.get("sleep", 0))
                return os.getpid()
        """
    }
    name = make_function(code, Timeout=1)
    _, first_pid = invoke(lam, name)
    response, body = invoke(lam, name, {"sleep": 30})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    eventually(lambda: not is_alive(first_pid), timeout=5, describe=f"pid {first_pid} alive")
    response, second_pid = invoke(lam, name)
    assert "FunctionError" not in response
    assert second_pid != first_pid
    logs = eventually(
        lambda: (t := log_text(aws, name)) and "Status: timeout" in t and t, timeout=15
    )
    assert f"about to sleep in {first_pid}" in logs  # printed before the kill, still delivered
    assert "Task timed out after 1.00 seconds" in logs


def test_a_crashed_process_keeps_what_it_logged_and_the_next_invoke_works(lam, aws, make_function):
    code = {
        "app.py": """
            import os
            def handler(event, context):
                print("before the crash in", os.getpid())
                if event.get("crash"):
                    os._exit(3)
                return os.getpid()
        """
    }
    name = make_function(code)
    _, first_pid = invoke(lam, name)
    response, body = invoke(lam, name, {"crash": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    request_id = response["ResponseMetadata"]["RequestId"]
    response, second_pid = invoke(lam, name)
    assert "FunctionError" not in response and second_pid != first_pid
    logs = eventually(
        lambda: (t := log_text(aws, name)) and "Runtime.ExitError" in t and t, timeout=15
    )
    crashed = logs[logs.index(f"START RequestId: {request_id}") :]
    assert f"before the crash in {first_pid}" in crashed  # logged before os._exit: kept
    assert crashed.index("before the crash") < crashed.index("Runtime exited with error")


def test_start_end_report_and_function_output_reach_cloudwatch_logs(lam, aws, make_function):
    code = {
        "app.py": """
            import logging
            print("module loaded")
            def handler(event, context):
                print("printed", event["n"])
                logging.getLogger().warning("logged %s", event["n"])
                return "ok"
        """
    }
    name = make_function(code)
    response, _ = invoke(lam, name, {"n": 7}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]

    def logged() -> str | None:
        text = log_text(aws, name)
        return text if f"REPORT RequestId: {request_id}" in text else None

    text = eventually(logged, timeout=15, describe=lambda: log_text(aws, name))
    for expected in (
        "module loaded",
        f"START RequestId: {request_id} Version: $LATEST",
        "printed 7",
        "[WARNING]\t",
        f"\t{request_id}\tlogged 7",
        f"END RequestId: {request_id}",
        "Init Duration:",
    ):
        assert expected in text
        assert expected in tail


def test_concurrent_invocations_run_in_separate_processes(lam, make_function):
    code = {
        "app.py": """
            import os, time
            def handler(event, context):
                time.sleep(1)
                return os.getpid()
        """
    }
    name = make_function(code)
    pids: list[int] = []
    threads = [threading.Thread(target=lambda: pids.append(invoke(lam, name)[1])) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(pids) == 3
    assert len(set(pids)) == 3


def _invoke_unless_throttled(lam, name: str, event: object) -> bool:
    try:
        invoke(lam, name, event)
    except ClientError as e:
        if e.response["Error"]["Code"] != "TooManyRequestsException":
            raise
        return False
    return True


def test_reserved_concurrency_throttles_the_excess(lam, make_function):
    code = {
        "app.py": """
            import time
            def handler(event, context):
                time.sleep(event.get("sleep", 0))
                return "done"
        """
    }
    name = make_function(code, Timeout=10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)

    def occupy_the_slot() -> None:  # retried until it runs: the probe below may get in first
        eventually(lambda: _invoke_unless_throttled(lam, name, {"sleep": 3}), timeout=10)

    slow = threading.Thread(target=occupy_the_slot)
    slow.start()

    try:
        assert eventually(
            lambda: not _invoke_unless_throttled(lam, name, {}), timeout=8, interval=0.05
        )
    finally:
        slow.join(timeout=15)
    assert invoke(lam, name)[1] == "done"  # the slot is free again


def test_sqs_event_source_mapping_delivers_batches_and_retries_only_reported_failures(
    lam, aws, make_function, unique
):
    sqs = aws("sqs")
    dlq_url = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    queue_url = sqs.create_queue(
        QueueName=unique("src"),
        Attributes={"VisibilityTimeout": "2", "RedrivePolicy": redrive},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    code = {
        "app.py": """
            def handler(event, context):
                records = event["Records"]
                print("batch of", len(records))
                failures = []
                for record in records:
                    print("got", record["body"])
                    if record["body"].startswith("fail"):
                        failures.append({"itemIdentifier": record["messageId"]})
                return {"batchItemFailures": failures}
        """
    }
    name = make_function(code, Timeout=1)
    # Queued before the mapping exists, so that its first poll takes all three in one batch.
    bodies = ["ok-1", "ok-2", "fail-1"]
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)],
    )
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=name,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    try:

        def dead_lettered() -> list[str]:
            messages = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages")
            return [m["Body"] for m in messages or []]

        assert eventually(dead_lettered, timeout=30) == ["fail-1"]
        text = eventually(
            lambda: (t := log_text(aws, name)).count("got fail-1") == 2 and t, timeout=15
        )
        assert text.count("got ok-1") == 1
        assert text.count("got ok-2") == 1
        assert "batch of 3" in text
    finally:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])


@pytest.mark.parametrize("runtime", ["nodejs20.x", "java21", "provided.al2023"])
def test_non_python_runtimes_fail_with_a_clear_error(lam, make_function, runtime):
    handler = "bootstrap" if runtime.startswith("provided") else "app.handler"
    name = make_function(
        {"app.js": "exports.handler = async () => 1;\n"},
        wait=False,
        Runtime=runtime,
        Handler=handler,
    )
    config = eventually(
        lambda: (c := lam.get_function_configuration(FunctionName=name))["State"] != "Pending"
        and c,
        timeout=15,
    )
    assert config["State"] == "Failed"
    assert runtime in config["StateReason"]
    assert "python3.12, python3.13" in config["StateReason"]
    with pytest.raises(ClientError) as raised:
        invoke(lam, name)
    assert raised.value.response["Error"]["Code"] == "ResourceConflictException"


def test_sandbox_home_is_where_the_runtime_lives(sandbox):
    """The runtime-provided boto3 links live under this sandbox's home, not in the project."""
    runtime = sandbox.home / "lambda-runtime" / "python"
    assert (runtime / "boto3").is_symlink()
    assert os.path.realpath(runtime / "boto3").endswith("site-packages/boto3")
