"""harness.users.Notifications: a factory's cleanup removes what its users sent or received,
and nothing else (moto's DynamoDB, in-process)."""

from __future__ import annotations

import os

import boto3
import pytest

from harness.users import IN_LIMIT, Notifications

TABLE = "notifications"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch):  # a boto3 DynamoDB client on moto
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)  # moto passes unknown hosts through: keep it off the sandbox
    from moto import mock_aws  # here: every pytest worker collects this module

    with mock_aws():
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def put(dynamodb, item_id: str, recipient: str, sender: str) -> None:
    item = {"id": {"S": item_id}, "user_id": {"S": recipient}, "sender": {"S": sender}}
    dynamodb.put_item(TableName=TABLE, Item=item)


def ids(dynamodb) -> set[str]:
    return {i["id"]["S"] for i in dynamodb.scan(TableName=TABLE)["Items"]}


def test_forget_deletes_what_the_users_sent_or_received_only(dynamodb) -> None:
    put(dynamodb, "to-ann", recipient="ann", sender="svc")
    put(dynamodb, "from-ann", recipient="zed", sender="ann")
    put(dynamodb, "to-bob", recipient="bob", sender="bob")
    put(dynamodb, "someone-else", recipient="zed", sender="svc")
    assert Notifications(dynamodb, TABLE).forget(["ann", "bob", "ann"]) == 3
    assert ids(dynamodb) == {"someone-else"}


def test_more_users_than_one_expression_may_name(dynamodb) -> None:
    subs = [f"user-{n}" for n in range(IN_LIMIT + 7)]
    for sub in subs:
        put(dynamodb, f"to-{sub}", recipient=sub, sender="svc")
    put(dynamodb, "kept", recipient="zed", sender="svc")
    assert Notifications(dynamodb, TABLE).forget(subs) == len(subs)
    assert ids(dynamodb) == {"kept"}
