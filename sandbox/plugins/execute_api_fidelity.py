"""REST API invocations answer as AWS does where LocalStack's execute-api does not.

Why: two inputs got answers no client can use.

- A body that is not valid UTF-8, on a method whose request validator checks the body, made
  LocalStack's validator raise `UnicodeDecodeError` (its `json.loads` only catches
  `JSONDecodeError`): a 500 `text/plain` "Error in apigateway invocation: 'utf-8' codec can't
  decode ...", leaking internals. AWS answers such a body as one that does not match the model:
  BAD_REQUEST_BODY (400, through the API's gateway response). Here too.
- An unknown REST API id (the sandbox was reset or restarted since the last deploy, so the
  endpoint in a client's hands is stale): LocalStack registers its execute-api routes only when
  the API Gateway provider loads, which is lazy, so until some API Gateway call loads it the
  request falls through to S3 (GET: an XML `NoSuchBucket` 404; POST: 200 with an empty body).
  Here the routes exist from start-up (the first request loads the provider, then goes to its
  routes), and an id with no deployed stage gets a JSON 404 saying what to do. On AWS the
  stale host would not resolve at all; the sandbox's path-style URLs cannot say that.

Relies on these internals of localstack-core 2026.3.0 (each patch raises if its target is gone):
- `...next_gen.execute_api.handlers.method_request.MethodRequestHandler._is_body_valid`
  (staticmethod `(method, rest_api, request) -> bool`);
- `...next_gen.execute_api.router.ApiGatewayEndpoint.create_not_found_response`
  (staticmethod `(api_id) -> Response`) and the route patterns of `ApiGatewayRouter
  .register_routes` (path-style `/_aws/execute-api/<api_id>/<stage>/<path>` and host-style
  `<api_id>.execute-api.<server>`), mirrored below;
- `localstack.services.edge.ROUTER` (`add`, the `greedy_path` converter);
  `localstack.services.plugins.SERVICE_PLUGINS` (`require` returning the `Service`, whose
  `_provider` is the `ApigatewayNextGenProvider` with its `router.handler`, the endpoint of
  LocalStack's routes; `plugin_manager.add_listener`).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import APIGATEWAY_PROVIDER, EXECUTE_API, Target

if TYPE_CHECKING:
    from localstack.http import Request, Response

LOG = logging.getLogger(__name__)
PATCHED = "sandbox_execute_api_fidelity"
EXECUTE_API_PATH = "/_aws/execute-api"
EXECUTE_API_HOST = "<regex('.+?'):api_id>.execute-api.<regex('.*'):server>"
#: (path, host, defaults, strict_slashes): LocalStack's execute-api routes (router.py).
EXECUTE_API_ROUTES: tuple[tuple[str, str | None, dict[str, Any] | None, bool], ...] = (
    (f"{EXECUTE_API_PATH}/<api_id>/", None, {"path": "", "stage": None}, True),
    (f"{EXECUTE_API_PATH}/<api_id>/<stage>/", None, {"path": ""}, False),
    (f"{EXECUTE_API_PATH}/<api_id>/<stage>/<greedy_path:path>", None, None, True),
    ("/", EXECUTE_API_HOST, {"path": "", "stage": None}, True),
    ("/<stage>/", EXECUTE_API_HOST, {"path": ""}, False),
    ("/<stage>/<greedy_path:path>", EXECUTE_API_HOST, None, True),
)


def not_deployed_message(api_id: str) -> str:
    return (
        f"No REST API with id '{api_id}' is deployed in this sandbox (it was reset or restarted "
        "since the endpoint was read, or the id or stage is wrong): run `make deploy` and use "
        "the api_endpoint it prints."
    )


INTERNALS = (
    Target(
        f"{EXECUTE_API}.handlers.method_request:MethodRequestHandler._is_body_valid",
        params=("method", "rest_api", "request"),
        exact=True,
    ),
    Target(
        f"{EXECUTE_API}.router:ApiGatewayEndpoint.create_not_found_response",
        params=("api_id",),
        exact=True,
    ),
    Target("localstack.services.edge:ROUTER.add"),
    Target("localstack.services.plugins:SERVICE_PLUGINS.require"),
)


def patch_body_validation() -> None:
    """A body that is not UTF-8 fails validation (BAD_REQUEST_BODY) instead of crashing it."""
    from localstack.services.apigateway.next_gen.execute_api.handlers.method_request import (
        MethodRequestHandler,
    )

    original = MethodRequestHandler._is_body_valid  # AttributeError: the target is gone
    if getattr(original, PATCHED, False):
        return

    def is_body_valid(method: Any, rest_api: Any, request: Any) -> bool:
        try:
            return original(method, rest_api, request)
        except UnicodeDecodeError:
            return False

    setattr(is_body_valid, PATCHED, True)
    MethodRequestHandler._is_body_valid = staticmethod(is_body_valid)


def patch_not_found() -> None:
    """An API id with no deployed stage: a JSON 404 that names the fix."""
    from localstack.services.apigateway.next_gen.execute_api.router import ApiGatewayEndpoint

    original = ApiGatewayEndpoint.create_not_found_response  # AttributeError: the target is gone
    if getattr(original, PATCHED, False):
        return

    def create_not_found_response(api_id: str) -> Response:
        response = original(api_id)
        response.set_json({"message": not_deployed_message(api_id)})
        return response

    setattr(create_not_found_response, PATCHED, True)
    ApiGatewayEndpoint.create_not_found_response = staticmethod(create_not_found_response)


def apply_patches() -> None:
    patching.check(INTERNALS)
    patch_body_validation()
    patch_not_found()


class LoadApiGatewayFirst:
    """Execute-api routes present from start-up: a request loads the provider, then goes to it.

    LocalStack's own routes (registered when the provider loads) are equal to these as werkzeug
    compares rules, so these are never removed (that would remove both): while both exist
    either may match, and both end in the provider's endpoint.
    """

    def register(self) -> None:
        from localstack.services.edge import ROUTER

        for path, host, defaults, strict_slashes in EXECUTE_API_ROUTES:
            ROUTER.add(
                path=path,
                host=host,
                endpoint=self,
                defaults=defaults,
                strict_slashes=strict_slashes,
            )

    def __call__(self, request: Request, **kwargs: Any) -> Response:
        from localstack.services.plugins import SERVICE_PLUGINS

        provider = SERVICE_PLUGINS.require("apigateway")._provider
        return provider.router.handler(request, **kwargs)


@hooks.on_infra_start()
def apply_execute_api_fidelity() -> None:
    patching.check(INTERNALS, import_modules=False)  # the handler chain is imported on load
    eager = APIGATEWAY_PROVIDER in sys.modules
    patching.when_provider_loads("apigateway", apply_patches, APIGATEWAY_PROVIDER)
    if not eager:
        LoadApiGatewayFirst().register()
        LOG.info("execute-api routes served from start-up (API Gateway loads on first use)")
