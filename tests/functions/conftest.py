"""Unit tests of the Lambda functions: their logic against moto's in-process AWS (`mock_aws`),
no emulator process.

functions/ is the zip root, so it goes on sys.path (as in Lambda); so does this folder,
for the event builders in `lambda_fakes`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE.parents[1] / "functions"
STACK_TABLES = HERE.parents[1] / "stack" / "data.tf"
for path in (FUNCTIONS, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract's environment, minus anything that would reach AWS.

    No endpoint either: a worker that also runs sandbox suites has the sandbox's
    AWS_ENDPOINT_URL in its environment, and moto passes requests for hosts it does not know
    through to them, so these tests would talk to the running sandbox instead of moto.
    """
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "notifications-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Notifications")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "unit-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("PRIORITY_SHARDS", "4")
    monkeypatch.setenv("ADMIN_GROUP", "admins")


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's AWS, in-process, for the duration of the test."""
    from moto import mock_aws  # here: every pytest worker collects this conftest

    with mock_aws():
        yield


def notifications_layout() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """The notifications table's attribute types and GSIs (hash, range) from stack/data.tf."""
    text = STACK_TABLES.read_text()
    block = re.search(r"notifications_attributes = \{([^}]*)\}", text)
    assert block, f"notifications_attributes not found in {STACK_TABLES}"
    attributes = dict(re.findall(r'(\w+) = "([SNB])"', block.group(1)))
    gsis = re.findall(r'(\w+) = \{ hash_key = "(\w+)", range_key = "(\w+)" \}', text)
    assert gsis, f"notifications_gsis not found in {STACK_TABLES}"
    return attributes, {name: (hash_key, range_key) for name, hash_key, range_key in gsis}


@pytest.fixture
def notifications_table(aws: None) -> Any:
    """moto's DynamoDB table laid out as the stack lays out the contract's table."""
    attributes, gsis = notifications_layout()
    return boto3.resource("dynamodb", region_name="us-east-1").create_table(
        TableName="notifications",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind} for name, kind in attributes.items()
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, (hash_key, range_key) in gsis.items()
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def idempotency_table(aws: None) -> str:
    """moto's table for Powertools' idempotency records (key `id`, as in stack/data.tf)."""
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "idempotency"
