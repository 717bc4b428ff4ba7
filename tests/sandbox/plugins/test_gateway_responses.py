"""A REST API's gateway responses (status, headers, templates) shape gateway errors, as on AWS."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sandbox.config import SandboxConfig

pytestmark = pytest.mark.sandbox

THING_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}},
}
BAD_BODY_TEMPLATE = (
    '{"message": $context.error.messageString, "type": "$context.error.responseType",'
    ' "errors": [{"field": "body", "detail": "$context.error.validationErrorString"}],'
    ' "requestId": "$context.requestId"}'
)
GATEWAY_RESPONSES = {
    "BAD_REQUEST_BODY": {
        "statusCode": "422",
        "responseParameters": {
            "gatewayresponse.header.X-Error-Kind": "'validation'",
            "gatewayresponse.header.X-Trace-Echo": "method.request.header.X-Trace",
        },
        "responseTemplates": {"application/json": BAD_BODY_TEMPLATE},
    },
    "UNAUTHORIZED": {
        "statusCode": "401",
        "responseParameters": {"gatewayresponse.header.WWW-Authenticate": "'Bearer'"},
        "responseTemplates": {"application/json": '{"message": "Sign in first"}'},
    },
    "DEFAULT_4XX": {
        "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
        "responseTemplates": {
            "application/json": '{"kind": "$context.error.responseType",'
            ' "message": "$context.error.message", "path": "$context.path"}',
            "text/plain": "$context.error.responseType: $context.error.message",
        },
    },
}


def type_error(actual: str, allowed: str) -> str:
    """AWS's validationErrorString for a value of the wrong JSON type."""
    return (
        f"[instance type ({actual}) does not match any allowed primitive type"
        f' (allowed: ["{allowed}"])]'
    )


@dataclass(frozen=True)
class Api:
    id: str
    url: str


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> object:
        return json.loads(self.text)


def call(url: str, method: str = "GET", body: str | None = None, **headers: str) -> Reply:
    request = urllib.request.Request(
        url,
        method=method,
        data=body.encode() if body is not None else None,
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as e:
        return Reply(e.code, dict(e.headers), e.read().decode())


def make_api(aws: Callable, sandbox: SandboxConfig, name: str, responses: dict) -> Api:
    """POST /things validated against a model (MOCK 200), GET /private behind Cognito."""
    apigw = aws("apigateway")
    api_id = apigw.create_rest_api(name=name)["id"]
    root_id = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.create_model(
        restApiId=api_id,
        name="Thing",
        contentType="application/json",
        schema=json.dumps(THING_SCHEMA),
    )
    validator_id = apigw.create_request_validator(
        restApiId=api_id, name="body", validateRequestBody=True
    )["id"]
    things = apigw.create_resource(restApiId=api_id, parentId=root_id, pathPart="things")["id"]
    ids = {"restApiId": api_id, "resourceId": things, "httpMethod": "POST"}
    apigw.put_method(
        **ids,
        authorizationType="NONE",
        requestValidatorId=validator_id,
        requestModels={"application/json": "Thing"},
    )
    apigw.put_integration(
        **ids, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'}
    )
    apigw.put_method_response(**ids, statusCode="200")
    apigw.put_integration_response(
        **ids, statusCode="200", responseTemplates={"application/json": '{"ok": true}'}
    )

    pool = aws("cognito-idp").create_user_pool(PoolName=name)["UserPool"]
    authorizer_id = apigw.create_authorizer(
        restApiId=api_id,
        name="cognito",
        type="COGNITO_USER_POOLS",
        providerARNs=[pool["Arn"]],
        identitySource="method.request.header.Authorization",
    )["id"]
    private = apigw.create_resource(restApiId=api_id, parentId=root_id, pathPart="private")["id"]
    ids = {"restApiId": api_id, "resourceId": private, "httpMethod": "GET"}
    apigw.put_method(**ids, authorizationType="COGNITO_USER_POOLS", authorizerId=authorizer_id)
    apigw.put_integration(
        **ids, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'}
    )

    for response_type, response in responses.items():
        apigw.put_gateway_response(restApiId=api_id, responseType=response_type, **response)
    apigw.create_deployment(restApiId=api_id, stageName="test")
    return Api(api_id, f"{sandbox.endpoint}/_aws/execute-api/{api_id}/test")


@pytest.fixture
def shaped(aws: Callable, sandbox: SandboxConfig, unique: Callable) -> Api:
    return make_api(aws, sandbox, unique("gw-shaped"), GATEWAY_RESPONSES)


@pytest.fixture
def plain(aws: Callable, sandbox: SandboxConfig, unique: Callable) -> Api:
    return make_api(aws, sandbox, unique("gw-plain"), {})


def test_valid_body_reaches_the_integration(shaped: Api) -> None:
    reply = call(f"{shaped.url}/things", "POST", '{"name": "x"}')
    assert (reply.status, reply.json) == (200, {"ok": True})


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('"just a string"', type_error("string", "object")),
        ("[1, 2]", type_error("array", "object")),
        ("{}", '[object has missing required properties (["name"])]'),
        ('{"name": 5}', type_error("integer", "string")),
    ],
    ids=["string", "array", "missing-name", "wrong-type"],
)
def test_bad_body_gets_the_templated_response(shaped: Api, body: str, detail: str) -> None:
    reply = call(f"{shaped.url}/things", "POST", body, **{"X-Trace": "t-123"})
    assert reply.status == 422
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-Error-Kind"] == "validation"
    assert reply.headers["X-Trace-Echo"] == "t-123"
    payload = reply.json
    assert payload["message"] == "Invalid request body"
    assert payload["type"] == "BAD_REQUEST_BODY"
    assert payload["errors"] == [{"field": "body", "detail": detail}]
    assert payload["requestId"]


def test_non_json_body_gets_the_templated_response(shaped: Api) -> None:
    reply = call(f"{shaped.url}/things", "POST", "not json")
    assert reply.status == 422
    assert "X-Trace-Echo" not in reply.headers  # the header was not sent: nothing to map
    [error] = reply.json["errors"]
    assert error["field"] == "body"
    assert error["detail"].startswith("[Invalid JSON")


def test_unauthorized_uses_its_own_gateway_response(shaped: Api) -> None:
    reply = call(f"{shaped.url}/private")
    assert (reply.status, reply.json) == (401, {"message": "Sign in first"})
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_other_4xx_fall_back_to_default_4xx(shaped: Api) -> None:
    reply = call(f"{shaped.url}/nowhere")
    assert reply.status == 403  # DEFAULT_4XX sets no status: MISSING_AUTHENTICATION_TOKEN's own
    assert reply.json == {
        "kind": "MISSING_AUTHENTICATION_TOKEN",
        "message": "Missing Authentication Token",
        "path": "/test/nowhere",
    }
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


def test_template_is_chosen_by_accept(shaped: Api) -> None:
    reply = call(f"{shaped.url}/nowhere", Accept="text/plain")
    assert reply.status == 403
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text == "MISSING_AUTHENTICATION_TOKEN: Missing Authentication Token"


def test_api_without_gateway_responses_keeps_localstack_bodies(plain: Api) -> None:
    reply = call(f"{plain.url}/things", "POST", '"just a string"', **{"X-Trace": "t-1"})
    assert (reply.status, reply.json) == (400, {"message": "Invalid request body"})
    assert "X-Trace-Echo" not in reply.headers
    reply = call(f"{plain.url}/private")
    assert (reply.status, reply.json) == (401, {"message": "Unauthorized"})
    reply = call(f"{plain.url}/nowhere", Accept="text/plain")
    assert (reply.status, reply.json) == (403, {"message": "Missing Authentication Token"})
    assert reply.headers["Content-Type"] == "application/json"
