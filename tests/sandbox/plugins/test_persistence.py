"""Snapshots (sandbox/plugins/persistence.py): the pickling rules and internals without a server,
then through the sandbox's own commands and boto3 — what is there before `down` is there after
`up`. Each sandbox test runs a sandbox of its own (port, home)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.aws import admit_topic, sandbox_client
from harness.lambdas import create_function
from harness.sandboxes import cli, own_config
from harness.waiting import eventually
from sandbox import launcher, snapshots
from sandbox.config import SandboxConfig
from sandbox.processes import instance_pids, is_alive

HANDLER = """
def handler(event, context):
    return {"records": len((event or {}).get("Records", [])), "echo": event}
"""
PASSWORD = "Passw0rd!Passw0rd"


def test_localstack_internals_the_plugin_relies_on() -> None:
    from sandbox.plugins import persistence

    persistence.check_internals()


def test_locks_are_pickled_fresh_and_keys_as_der() -> None:
    import threading

    from cryptography.hazmat.primitives.asymmetric import ec

    from sandbox.plugins import persistence

    held = threading.RLock()
    held.acquire()  # owned by this thread: dill would restore it owned, here it comes back free
    key = ec.generate_private_key(ec.SECP256R1())
    condition = threading.Condition(held)
    restored = persistence.loads(persistence.dumps({"lock": held, "cond": condition, "key": key}))
    assert restored["lock"].acquire(blocking=False)
    assert restored["cond"]._lock is restored["lock"]  # shared locks stay shared
    assert restored["key"].private_numbers() == key.private_numbers()
    held.release()


def test_stores_go_through_the_c_pickler_and_what_it_cannot_pickle_through_dill() -> None:
    """The C pickler (fast: a save no longer stalls a busy sandbox) takes locks and keys; a
    lambda, which only dill pickles (by value), still round trips."""
    import io
    import pickle
    import threading

    from cryptography.hazmat.primitives.asymmetric import rsa

    from sandbox.plugins import persistence

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    store = {"lock": threading.Lock(), "rlock": threading.RLock(), "key": key, "n": [1, 2]}
    persistence._fast_pickler_class()(io.BytesIO()).dump(store)  # no fallback needed
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        persistence._fast_pickler_class()(io.BytesIO()).dump(lambda: 42)

    restored = persistence.loads(persistence.dumps({**store, "f": lambda: 42}))
    assert restored["f"]() == 42
    assert restored["key"].private_numbers() == key.private_numbers()
    assert restored["lock"].acquire(blocking=False) and restored["n"] == [1, 2]


def test_a_store_that_changes_while_pickled_is_pickled_again(monkeypatch) -> None:
    """Saves run while requests change the stores; a dict that grew mid-way is tried again."""
    from sandbox.plugins import persistence

    monkeypatch.setattr(persistence, "PICKLE_BACKOFF_SECONDS", 0)
    busy = {"n": 0}

    class Busy:  # grows a dict the pickler is walking, for its first 5 pickles
        def __reduce__(self):
            busy["n"] += 1
            if busy["n"] <= 5:
                store[f"new-{busy['n']}"] = 0
            return (dict, ())

    # Larger than the pickler's batch (1000 items), as a busy store is: it walks the rest live.
    store = {"busy": Busy(), "a": 1, **{f"old-{n}": n for n in range(1500)}}
    assert persistence.loads(persistence.dumps(store))["a"] == 1
    assert busy["n"] == 6


@pytest.fixture
def own(tmp_path: Path) -> Iterator[SandboxConfig]:
    config = own_config(tmp_path)
    yield config
    launcher.down(config, save_state=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def build_state(config: SandboxConfig) -> dict[str, Any]:
    """One resource (with data) in every service the stack uses; what to look for afterwards."""
    c = {s: sandbox_client(config, s) for s in ("sqs", "sns", "dynamodb", "cognito-idp", "lambda")}
    queue = c["sqs"].create_queue(QueueName="kept")["QueueUrl"]
    c["sqs"].send_message(QueueUrl=queue, MessageBody="waiting")
    inflight = c["sqs"].create_queue(QueueName="inflight", Attributes={"VisibilityTimeout": "2"})
    c["sqs"].send_message(QueueUrl=inflight["QueueUrl"], MessageBody="in flight")
    assert c["sqs"].receive_message(QueueUrl=inflight["QueueUrl"])["Messages"]
    topic = c["sns"].create_topic(Name="kept")["TopicArn"]
    c["sns"].subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=admit_topic(c["sqs"], queue, topic),  # the queue policy is kept too
        Attributes={"RawMessageDelivery": "true"},
    )
    c["dynamodb"].create_table(
        TableName="kept",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    c["dynamodb"].put_item(TableName="kept", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    pool = c["cognito-idp"].create_user_pool(PoolName="kept")["UserPool"]["Id"]
    client_id = c["cognito-idp"].create_user_pool_client(
        UserPoolId=pool, ClientName="app", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    c["cognito-idp"].admin_create_user(UserPoolId=pool, Username="ann")
    c["cognito-idp"].admin_set_user_password(
        UserPoolId=pool, Username="ann", Password=PASSWORD, Permanent=True
    )
    function = create_function(c["lambda"], "kept", HANDLER)
    c["lambda"].create_event_source_mapping(
        EventSourceArn=c["sqs"].get_queue_attributes(
            QueueUrl=c["sqs"].create_queue(QueueName="mapped")["QueueUrl"],
            AttributeNames=["QueueArn"],
        )["Attributes"]["QueueArn"],
        FunctionName=function,
        BatchSize=1,
    )
    return {"queue": queue, "topic": topic, "pool": pool, "client": client_id, "inflight": inflight}


@pytest.mark.sandbox
def test_down_then_up_keeps_every_service_state(own: SandboxConfig) -> None:
    ok(cli(own, "up"))
    built = build_state(own)
    idp = sandbox_client(own, "cognito-idp")
    token = idp.initiate_auth(
        ClientId=built["client"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ann", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    state_id = launcher.state(own)["state_id"]

    down = ok(cli(own, "down"))
    assert "state saved" in down
    assert snapshots.current_file(own.home).exists()
    up = ok(cli(own, "up"))
    assert "up at" in up
    status = launcher.state(own)
    assert status["restore"]["status"] == "done", status
    assert status["state_id"] == state_id

    sqs = sandbox_client(own, "sqs")
    received = sqs.receive_message(QueueUrl=built["queue"], WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in received] == ["waiting"]
    # The message received before the restart reappears once its visibility timeout is over.
    again = eventually(
        lambda: sqs.receive_message(QueueUrl=built["inflight"]["QueueUrl"]).get("Messages"),
        timeout=10,
        describe="the in-flight message visible again",
    )
    assert again[0]["Body"] == "in flight"
    # SNS still fans out to the queue (subscription kept).
    sandbox_client(own, "sns").publish(TopicArn=built["topic"], Message="after restart")
    delivered = eventually(
        lambda: sqs.receive_message(QueueUrl=built["queue"], WaitTimeSeconds=1).get("Messages"),
        timeout=10,
        describe="SNS delivery to the kept queue",
    )
    assert delivered[0]["Body"] == "after restart"
    item = sandbox_client(own, "dynamodb").get_item(TableName="kept", Key={"pk": {"S": "a"}})
    assert item["Item"]["v"] == {"N": "1"}
    assert idp.get_user(AccessToken=token)["Username"] == "ann"
    lam = sandbox_client(own, "lambda")
    answer = json.loads(lam.invoke(FunctionName="kept", Payload=b'{"x": 1}')["Payload"].read())
    assert answer["echo"] == {"x": 1}
    mappings = lam.list_event_source_mappings(FunctionName="kept")["EventSourceMappings"]
    assert [m["State"] for m in mappings] == ["Enabled"]


@pytest.mark.sandbox
def test_an_incompatible_snapshot_is_refused_whole(own: SandboxConfig) -> None:
    ok(cli(own, "up"))
    sandbox_client(own, "sqs").create_queue(QueueName="old")
    ok(cli(own, "down"))
    saved = snapshots.current_file(own.home)
    rewritten = saved.with_suffix(".rewritten")
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(rewritten, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == snapshots.MANIFEST:
                manifest = json.loads(data)
                manifest["versions"]["localstack-core"] = "2024.1.0"
                data = json.dumps(manifest).encode()
            target.writestr(name, data)
    rewritten.replace(saved)
    before = saved.read_bytes()

    refused = cli(own, "up")
    assert refused.returncode == 1
    assert "refused" in refused.stderr and "localstack-core 2024.1.0" in refused.stderr
    assert "make reset" in refused.stderr
    assert launcher.running(own) is None
    assert saved.read_bytes() == before  # kept as it was for the user to decide

    ok(cli(own, "reset"))
    assert not saved.exists()
    ok(cli(own, "up"))
    assert sandbox_client(own, "sqs").list_queues().get("QueueUrls") is None


@pytest.mark.sandbox
def test_named_snapshots_save_list_and_load(own: SandboxConfig) -> None:
    ok(cli(own, "up"))
    sqs = sandbox_client(own, "sqs")
    sqs.create_queue(QueueName="ready")
    ok(cli(own, "snapshot", "save", "ready"))
    sqs.create_queue(QueueName="later")
    listed = ok(cli(own, "snapshot", "list"))
    assert listed.startswith("ready ") and "sqs" in listed

    started = time.monotonic()
    ok(cli(own, "snapshot", "load", "ready"))
    assert time.monotonic() - started < 60
    names = [u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]]
    assert names == ["ready"]
    missing = cli(own, "snapshot", "load", "nothing-here")
    assert missing.returncode == 1 and "no snapshot" in missing.stderr


@pytest.mark.sandbox
def test_a_crash_keeps_the_last_periodic_save(own: SandboxConfig) -> None:
    launcher.up(own, extra_env={"SANDBOX_SAVE_INTERVAL": "0.5"})
    sandbox_client(own, "sqs").create_queue(QueueName="saved-by-timer")
    eventually(
        lambda: (launcher.state(own) or {}).get("last_save"),
        timeout=15,
        describe="a periodic save",
    )
    os.kill(launcher.running(own).pid, 9)
    launcher.down(own, save_state=False)  # tidies the crashed run
    ok(cli(own, "up"))
    urls = sandbox_client(own, "sqs").list_queues()["QueueUrls"]
    assert [u.rsplit("/", 1)[-1] for u in urls] == ["saved-by-timer"]


@pytest.mark.sandbox
def test_down_without_saving_keeps_the_last_snapshot_as_it_was(own: SandboxConfig) -> None:
    """`down --no-save` saves nothing, not even the save a stop without `down` gets."""
    ok(cli(own, "up"))
    sqs = sandbox_client(own, "sqs")
    sqs.create_queue(QueueName="saved")
    ok(cli(own, "down"))
    ok(cli(own, "up"))
    sqs.create_queue(QueueName="not-saved")
    # The sandbox agrees to drop its state: the stop need not wait for its shutdown to finish.
    assert launcher.keep_or_drop_state(own, save_state=False) == (True, None)
    assert "state saved" not in ok(cli(own, "down", "--no-save"))
    ok(cli(own, "up"))
    assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]] == ["saved"]


@pytest.mark.sandbox
def test_a_stop_without_down_saves_at_shutdown_and_ends_by_itself(own: SandboxConfig) -> None:
    """SIGTERM alone (a container's stop): what changed is saved, and LocalStack ends by itself
    (sandbox/runtime.py) with its Lambda environments, instead of hanging until it is killed."""
    ok(cli(own, "up"))
    sqs, lam = sandbox_client(own, "sqs"), sandbox_client(own, "lambda")
    url = sqs.create_queue(QueueName="saved-at-shutdown")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    create_function(lam, "drain", HANDLER)
    lam.create_event_source_mapping(
        FunctionName="drain", EventSourceArn=arn["QueueArn"], BatchSize=1
    )  # its pollers wait on the server until the end
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    eventually(  # the message was handled: an environment process runs
        lambda: sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
        == "0"
        and len(instance_pids(launcher.running(own).instance_id)) > 1,
        timeout=30,
        describe="the message handled by a running environment",
    )
    current = launcher.running(own)
    os.kill(current.pid, signal.SIGTERM)
    eventually(
        lambda: not is_alive(current.pid),
        timeout=launcher.STOP_GRACE_SECONDS,
        describe="LocalStack ending by itself after SIGTERM",
    )
    assert instance_pids(current.instance_id) == []  # no environment outlived it
    launcher.down(own)  # tidies the pid file
    ok(cli(own, "up"))
    assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]] == ["saved-at-shutdown"]


@pytest.mark.sandbox
def test_a_mapping_whose_function_was_deleted_does_not_refuse_the_state(
    own: SandboxConfig,
) -> None:
    """AWS keeps a deleted function's mappings; LocalStack cannot resume one: the state is
    restored without it (named in the log), not refused ("Function not found")."""
    ok(cli(own, "up"))
    sqs, lam = sandbox_client(own, "sqs"), sandbox_client(own, "lambda")
    url = sqs.create_queue(QueueName="kept")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    create_function(lam, "gone", HANDLER)
    mapping = lam.create_event_source_mapping(FunctionName="gone", EventSourceArn=arn["QueueArn"])
    lam.delete_function(FunctionName="gone")
    ok(cli(own, "down"))
    ok(cli(own, "up"))
    assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]] == ["kept"]
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    log = own.log_file.read_text()
    assert f"event source mapping {mapping['UUID']} ({arn['QueueArn']}) not restored" in log
