"""REST API invocations: a non-UTF-8 body is a 400, a stale API id a JSON 404 naming the fix."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import launcher
from sandbox.config import SandboxConfig

pytestmark = pytest.mark.sandbox

BAD_BODY = '{"message": "Invalid request body", "errors": [{"field": "body"}]}'


def call(url: str, method: str, body: bytes | None = None) -> tuple[int, str, str]:
    """(status, Content-Type, text) of one request. The timeout leaves room for the first
    request after a start, which loads the API Gateway provider (seconds; more on a busy box)."""
    request = urllib.request.Request(
        url, method=method, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            reply = response
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def validated_api(apigw, sandbox: SandboxConfig, name: str) -> str:
    """POST /things with a body validator (model: an object) and a JSON BAD_REQUEST_BODY."""
    api_id = apigw.create_rest_api(name=name)["id"]
    root_id = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.create_model(
        restApiId=api_id, name="Thing", contentType="application/json", schema='{"type": "object"}'
    )
    validator = apigw.create_request_validator(restApiId=api_id, validateRequestBody=True)
    things = apigw.create_resource(restApiId=api_id, parentId=root_id, pathPart="things")["id"]
    ids = {"restApiId": api_id, "resourceId": things, "httpMethod": "POST"}
    apigw.put_method(
        **ids,
        authorizationType="NONE",
        requestValidatorId=validator["id"],
        requestModels={"application/json": "Thing"},
    )
    apigw.put_integration(
        **ids, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'}
    )
    apigw.put_method_response(**ids, statusCode="200")
    apigw.put_integration_response(
        **ids, statusCode="200", responseTemplates={"application/json": '{"ok": true}'}
    )
    apigw.put_gateway_response(
        restApiId=api_id,
        responseType="BAD_REQUEST_BODY",
        statusCode="400",
        responseTemplates={"application/json": BAD_BODY},
    )
    apigw.create_deployment(restApiId=api_id, stageName="test")
    return f"{sandbox.endpoint}/_aws/execute-api/{api_id}/test"


@pytest.mark.parametrize(
    "body",
    [b'{"name": "\xff"}', b"\xfe\xff\x00{", '{"name": "é"}'.encode("latin-1")],
    ids=["invalid-byte-in-json", "utf16-bom", "latin-1"],
)
def test_a_body_that_is_not_utf8_is_a_bad_request_body(
    aws: Callable, sandbox: SandboxConfig, unique: Callable, body: bytes
) -> None:
    url = validated_api(aws("apigateway"), sandbox, unique("not-utf8"))
    assert call(f"{url}/things", "POST", b'{"name": "ok"}')[0] == 200
    status, content_type, text = call(f"{url}/things", "POST", body)
    # AWS: the body does not match the model -> BAD_REQUEST_BODY, the API's own JSON response
    assert (status, content_type, json.loads(text)) == (
        400,
        "application/json",
        json.loads(BAD_BODY),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[SandboxConfig]:
    """A sandbox of the test's own (it is reset), always stopped afterwards."""
    config = SandboxConfig(port=free_port(), home=tmp_path / "sandbox")
    launcher.up(config)
    yield config
    launcher.down(config)


def test_a_stale_endpoint_after_a_reset_answers_a_json_404_naming_the_fix(
    own_sandbox: SandboxConfig, aws_for: Callable
) -> None:
    url = validated_api(aws_for(own_sandbox, "apigateway"), own_sandbox, "stale")
    assert call(f"{url}/things", "POST", b"{}")[0] == 200
    launcher.reset(own_sandbox)  # state wiped, LocalStack restarted: API Gateway not loaded yet
    api_id = url.split("/")[-2]
    for method, body in (("GET", None), ("POST", b"{}")):
        status, content_type, text = call(f"{url}/things", method, body)
        assert (status, content_type) == (404, "application/json"), text
        message = json.loads(text)["message"]
        assert f"No REST API with id '{api_id}'" in message and "make deploy" in message
