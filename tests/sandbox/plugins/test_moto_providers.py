"""DynamoDB, Cognito user pools and Application Auto Scaling served by moto (no JDK, no 501s)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import KeySet

from sandbox.config import SandboxConfig

pytestmark = pytest.mark.sandbox


def _key_schema(hash_key: str, range_key: str | None = None) -> list[dict]:
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    return keys + ([{"AttributeName": range_key, "KeyType": "RANGE"}] if range_key else [])


def _create_table(ddb, name: str, **extra: object) -> dict:
    return ddb.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "user")
        ],
        KeySchema=_key_schema("pk", "sk"),
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-user",
                "KeySchema": _key_schema("user", "sk"),
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            }
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        **extra,
    )["TableDescription"]


def test_dynamodb_table_gsi_conditional_write_and_query(aws: Callable, unique: Callable) -> None:
    ddb = aws("dynamodb")
    table = unique("tbl")
    _create_table(ddb, table)
    item = {"pk": {"S": "n#1"}, "sk": {"S": "2026-01-01"}, "user": {"S": "alice"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as error:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert error.value.response["Error"]["Code"] == "ConditionalCheckFailedException"

    found = ddb.query(
        TableName=table,
        IndexName="by-user",
        KeyConditionExpression="#u = :u AND sk >= :since",
        ExpressionAttributeNames={"#u": "user"},
        ExpressionAttributeValues={":u": {"S": "alice"}, ":since": {"S": "2026"}},
    )["Items"]
    assert found == [item]


def test_dynamodb_ttl_pitr_sse_and_tags(aws: Callable, unique: Callable) -> None:
    ddb = aws("dynamodb")
    table = unique("tbl")
    created = _create_table(
        ddb, table, SSESpecification={"Enabled": True}, Tags=[{"Key": "team", "Value": "n"}]
    )
    assert created["SSEDescription"]["Status"] == "ENABLED"

    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    assert pitr == "ENABLED"

    arn = created["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "sbx"}])
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "n", "env": "sbx"}


def test_dynamodb_provisioned_and_on_demand_billing(aws: Callable, unique: Callable) -> None:
    ddb = aws("dynamodb")
    on_demand = unique("tbl")
    ddb.create_table(
        TableName=on_demand,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=_key_schema("pk"),
        BillingMode="PAY_PER_REQUEST",
    )
    described = ddb.describe_table(TableName=on_demand)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    provisioned = unique("tbl")
    _create_table(ddb, provisioned)
    ddb.update_table(
        TableName=provisioned,
        ProvisionedThroughput={"ReadCapacityUnits": 9, "WriteCapacityUnits": 7},
    )
    throughput = ddb.describe_table(TableName=provisioned)["Table"]["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (9, 7)
    ddb.update_table(TableName=provisioned, BillingMode="PAY_PER_REQUEST")
    described = ddb.describe_table(TableName=provisioned)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_dynamodb_never_installs_dynamodb_local(aws: Callable, sandbox: SandboxConfig) -> None:
    aws("dynamodb").list_tables()
    health = json.load(urllib.request.urlopen(f"{sandbox.endpoint}/_localstack/health"))
    assert health["services"]["dynamodb"] == "running"
    installed = [
        p
        for p in sandbox.home.rglob("*")
        if "dynamodblocal" in p.name.lower().replace("-", "") or (p.is_dir() and p.name == "java")
    ]
    assert installed == []
    assert "DynamoDBLocal" not in sandbox.log_file.read_text(errors="replace")


def _user_pool(cognito, unique: Callable) -> tuple[str, str]:
    """A pool with a password-auth client and a confirmed user `alice` in group `admins`."""
    pool_id = cognito.create_user_pool(PoolName=unique("pool"))["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool_id, GroupName="admins")
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username="alice",
        UserAttributes=[{"Name": "email", "Value": "alice@example.com"}],
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="alice", Password="Passw0rd!x", Permanent=True
    )
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="alice", GroupName="admins")
    return pool_id, client_id


def test_cognito_pool_both_auth_flows_and_jwks(
    aws: Callable, unique: Callable, sandbox: SandboxConfig
) -> None:
    cognito = aws("cognito-idp")
    pool_id, client_id = _user_pool(cognito, unique)
    password = {"USERNAME": "alice", "PASSWORD": "Passw0rd!x"}
    user_flow = cognito.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=password
    )["AuthenticationResult"]
    admin_flow = cognito.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters=password,
    )["AuthenticationResult"]

    well_known = f"{sandbox.endpoint}/{pool_id}/.well-known"
    discovery = json.load(urllib.request.urlopen(f"{well_known}/openid-configuration"))
    assert discovery["jwks_uri"] == f"{well_known}/jwks.json"
    keys = KeySet.import_key_set(json.load(urllib.request.urlopen(discovery["jwks_uri"])))
    sub = next(
        a["Value"]
        for a in cognito.admin_get_user(UserPoolId=pool_id, Username="alice")["UserAttributes"]
        if a["Name"] == "sub"
    )
    for result in (user_flow, admin_flow):
        claims = jwt.decode(result["IdToken"], keys, algorithms=["RS256"]).claims
        assert claims["iss"] == discovery["issuer"]
        assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
        assert (claims["token_use"], claims["aud"], claims["sub"]) == ("id", client_id, sub)
        assert claims["cognito:groups"] == ["admins"]
        access = jwt.decode(result["AccessToken"], keys, algorithms=["RS256"]).claims
        assert access["token_use"] == "access"


def test_unimplemented_operation_answers_400_not_501(aws: Callable) -> None:
    with pytest.raises(ClientError) as error:
        aws("cognito-idp").describe_risk_configuration(UserPoolId="us-east-1_nothere")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.value.response["Error"]["Code"] == "UnsupportedOperation"


def test_application_autoscaling_targets_and_policies(aws: Callable, unique: Callable) -> None:
    table = unique("tbl")
    _create_table(aws("dynamodb"), table)
    scaling = aws("application-autoscaling")
    targets = {
        f"table/{table}": "dynamodb:table:ReadCapacityUnits",
        f"table/{table}/index/by-user": "dynamodb:index:WriteCapacityUnits",
    }
    for resource_id, dimension in targets.items():
        arn = scaling.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=resource_id,
            ScalableDimension=dimension,
            MinCapacity=5,
            MaxCapacity=50,
            Tags={"team": "n"},
        )["ScalableTargetARN"]
        assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "n"}
        scaling.put_scaling_policy(
            PolicyName=f"tt-{dimension}",
            ServiceNamespace="dynamodb",
            ResourceId=resource_id,
            ScalableDimension=dimension,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "DynamoDBReadCapacityUtilization"
                    if "Read" in dimension
                    else "DynamoDBWriteCapacityUtilization"
                },
            },
        )
    described = scaling.describe_scalable_targets(
        ServiceNamespace="dynamodb", ResourceIds=list(targets)
    )["ScalableTargets"]
    assert {(t["ResourceId"], t["ScalableDimension"]) for t in described} == set(targets.items())
    policies = scaling.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
    mine = {p["ResourceId"] for p in policies if p["ResourceId"] in targets}
    assert mine == set(targets)
