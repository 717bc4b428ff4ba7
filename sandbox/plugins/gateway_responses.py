"""A REST API's gateway responses shape the errors the gateway itself produces, as on AWS.

Why: the stock next_gen API Gateway picks the right gateway response (and its DEFAULT_4XX /
DEFAULT_5XX fallback) but only honours its status code; its response parameters and response
template are ignored (TODO in `handlers/gateway_exception.py`), so every gateway error is
`{"message": "..."}` whatever the API defines. Here, for a gateway response the API defines
(itself, or through DEFAULT_4XX/DEFAULT_5XX):

- the status code is the response's, else the error's own;
- `gatewayresponse.header.<name>` parameters are mapped like method response parameters:
  `'static'`, `method.request.{header,multivalueheader,querystring,multivaluequerystring,path}.X`,
  `context.X`, `stageVariables.X` (LocalStack's own `ParametersMapper`);
- the response template is chosen by the request's `Accept` header when a template has exactly
  that content type, else `application/json`, else the first; it is rendered with LocalStack's
  VTL engine for mapping templates (`ApiGatewayVtlTemplate`) with `$context` (incl.
  `$context.error.*`), `$stageVariables` and `$input.params()`; the chosen content type becomes
  the response's `Content-Type`. (AWS substitutes variables only; VTL is a superset of that.)
- `$context.error.messageString` is the quoted message (as on AWS, so the default template
  `{"message":$context.error.messageString}` is JSON), and for BAD_REQUEST_BODY
  `$context.error.validationErrorString` lists the JSON-schema errors AWS-style, e.g.
  `[instance type (string) does not match any allowed primitive type (allowed: [\\"object\\"])]`
  or `[object has missing required properties ([\\"name\\"])]` (quotes escaped, embeddable in a
  JSON string). Approximation: `type` and `required` failures use AWS's wording; other schema
  failures use the jsonschema message; a body that is not JSON gives `[Invalid JSON: <reason>]`.

APIs that define no gateway response for the error keep LocalStack's bodies unchanged.

Relies on these internals of localstack-core 2026.3.0 (re-check them on upgrade):
- `localstack.services.apigateway.next_gen.execute_api.handlers.gateway_exception`:
  `GatewayExceptionHandler.create_exception_response(self, exception, context)` (patched), called
  after `set_error_context` filled `context.context_variables["error"]`;
- `gateway_response.get_gateway_response_or_default` and `DEFAULT_GATEWAY_RESPONSES` (a response
  the API did not define is returned as the very object of that dict);
- `RestApiInvocationContext`: `.deployment.rest_api` (`gateway_responses`, `validators`),
  `.resource_method`, `.invocation_request`, `.context_variables`, `.stage_variables`;
- `template_mapping.ApiGatewayVtlTemplate.render_vtl`, `MappingTemplateVariables`;
- `parameters_mapping.ParametersMapper._retrieve_parameter_from_invocation_request` and
  `._retrieve_parameter_from_variables_and_static`;
- `localstack.services.apigateway.helpers.ModelResolver` / `EMPTY_MODEL` (the body's model);
- `localstack.services.plugins.SERVICE_PLUGINS.plugin_manager` (plux `add_listener`): the patch is
  applied when the apigateway provider loads, because importing the handler chain takes seconds.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import TYPE_CHECKING, Any

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import APIGATEWAY_PROVIDER, EXECUTE_API, Target

if TYPE_CHECKING:
    from localstack.http import Response
    from localstack.services.apigateway.next_gen.execute_api.context import (
        RestApiInvocationContext,
    )
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        BaseGatewayException,
    )

LOG = logging.getLogger(__name__)
CREATE_EXCEPTION_RESPONSE = Target(
    f"{EXECUTE_API}.handlers.gateway_exception:GatewayExceptionHandler.create_exception_response",
    params=("self", "exception", "context"),
)
INTERNALS = (
    CREATE_EXCEPTION_RESPONSE,
    Target(
        f"{EXECUTE_API}.gateway_response:get_gateway_response_or_default",
        params=("response_type", "gateway_responses"),
    ),
    Target(f"{EXECUTE_API}.gateway_response:DEFAULT_GATEWAY_RESPONSES"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.deployment"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.resource_method"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.invocation_request"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.context_variables"),
    Target(f"{EXECUTE_API}.context:RestApiInvocationContext.stage_variables"),
    Target(
        f"{EXECUTE_API}.template_mapping:ApiGatewayVtlTemplate.render_vtl",
        params=("self", "template", "variables"),
    ),
    Target(f"{EXECUTE_API}.template_mapping:MappingTemplateVariables"),
    Target(f"{EXECUTE_API}.template_mapping:MappingTemplateInput"),
    Target(f"{EXECUTE_API}.template_mapping:MappingTemplateParams"),
    Target(
        f"{EXECUTE_API}.parameters_mapping:ParametersMapper"
        "._retrieve_parameter_from_invocation_request",
        params=("self", "expr", "invocation_request", "case_sensitive_headers"),
    ),
    Target(
        f"{EXECUTE_API}.parameters_mapping:ParametersMapper"
        "._retrieve_parameter_from_variables_and_static",
        params=("self", "mapping_value", "context_variables", "stage_variables"),
    ),
    Target(f"{EXECUTE_API}.header_utils:build_multi_value_headers", params=("headers",)),
    Target(
        "localstack.services.apigateway.helpers:ModelResolver",
        params=("rest_api_container", "model_name"),
    ),
    Target("localstack.services.apigateway.helpers:ModelResolver.get_resolved_model"),
    Target("localstack.services.apigateway.helpers:EMPTY_MODEL"),
)
APPLICATION_JSON = "application/json"
HEADER_PREFIX = "gatewayresponse.header."
JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def json_type(value: Any) -> str:
    return next(name for kind, name in JSON_TYPES if isinstance(value, kind))


def schema_error_text(error: Any) -> str:
    """One jsonschema ValidationError in the wording of AWS's validator (where it is known)."""
    if error.validator == "type":
        allowed = error.validator_value
        allowed = sorted(allowed) if isinstance(allowed, list) else [allowed]
        return (
            f"instance type ({json_type(error.instance)}) does not match any allowed primitive "
            f"type (allowed: {json.dumps(allowed, separators=(',', ':'))})"
        )
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = sorted(p for p in error.validator_value if p not in error.instance)
        listed = json.dumps(missing, separators=(",", ":"))
        return f"object has missing required properties ({listed})"
    return error.message


def validation_error_string(context: RestApiInvocationContext) -> str:
    """`$context.error.validationErrorString` for a body the method's model rejects."""
    from jsonschema.validators import validator_for
    from localstack.services.apigateway.helpers import EMPTY_MODEL, ModelResolver

    models = (context.resource_method or {}).get("requestModels") or {}
    model = models.get(APPLICATION_JSON, models.get("$default", EMPTY_MODEL))
    resolver = ModelResolver(rest_api_container=context.deployment.rest_api, model_name=model)
    schema = resolver.get_resolved_model()
    if not schema:
        return ""
    try:
        instance = json.loads(context.invocation_request.get("body") or "{}")
    except ValueError as e:
        messages = [f"Invalid JSON: {e}"]
    else:
        errors = sorted(
            validator_for(schema)(schema).iter_errors(instance),
            key=lambda e: (list(map(str, e.absolute_path)), e.validator),
        )
        messages = list(dict.fromkeys(schema_error_text(e) for e in errors))
    # AWS escapes the quotes so the string can sit inside a JSON string of the template
    return "[" + ", ".join(messages).replace('"', '\\"') + "]"


def select_template(templates: dict[str, str], accept: str | None) -> tuple[str, str] | None:
    if not templates:
        return None
    content_type = next(
        (t for t in templates if accept and t.lower() == accept.strip().lower()),
        APPLICATION_JSON if APPLICATION_JSON in templates else next(iter(templates)),
    )
    return content_type, templates[content_type]


def mapped_headers(parameters: dict[str, str], context: RestApiInvocationContext) -> dict:
    from localstack.services.apigateway.next_gen.execute_api.header_utils import (
        build_multi_value_headers,
    )
    from localstack.services.apigateway.next_gen.execute_api.parameters_mapping import (
        ParametersMapper,
    )

    mapper = ParametersMapper()
    request = context.invocation_request
    headers = {}
    for target, source in (parameters or {}).items():
        if not target.startswith(HEADER_PREFIX) or not isinstance(source, str):
            continue
        try:
            if source.startswith("method.request."):
                value = mapper._retrieve_parameter_from_invocation_request(
                    source.removeprefix("method.request."),
                    request,
                    build_multi_value_headers(request["headers"]),
                )
            else:
                value = mapper._retrieve_parameter_from_variables_and_static(
                    source, context.context_variables, context.stage_variables or {}
                )
        except Exception as e:  # a bad mapping must not turn an error response into a crash
            LOG.debug("gateway response parameter %s=%s not mapped: %s", target, source, e)
            continue
        if isinstance(value, list):
            value = ",".join(value)
        if value:
            headers[target.removeprefix(HEADER_PREFIX)] = value
    return headers


def render(template: str, context: RestApiInvocationContext) -> str:
    from localstack.services.apigateway.next_gen.execute_api.template_mapping import (
        ApiGatewayVtlTemplate,
        MappingTemplateInput,
        MappingTemplateParams,
        MappingTemplateVariables,
    )

    request = context.invocation_request
    variables = MappingTemplateVariables(
        context=copy.deepcopy(context.context_variables),
        stageVariables=context.stage_variables or {},
        input=MappingTemplateInput(
            body=request.get("body") or "",
            params=MappingTemplateParams(
                path=request.get("path_parameters") or {},
                querystring=request.get("query_string_parameters") or {},
                header=request.get("headers") or {},
            ),
        ),
    )
    return ApiGatewayVtlTemplate().render_vtl(template=template.strip(), variables=variables)


def apply_gateway_response(
    response: Response, exception: BaseGatewayException, context: RestApiInvocationContext
) -> Response:
    """`response` (LocalStack's) shaped by the API's gateway response for `exception`, if any."""
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        DEFAULT_GATEWAY_RESPONSES,
        get_gateway_response_or_default,
    )

    defined = context.deployment.rest_api.gateway_responses
    gateway_response = get_gateway_response_or_default(exception.type, defined)
    if not gateway_response or gateway_response is DEFAULT_GATEWAY_RESPONSES.get(exception.type):
        return response  # the API defines nothing for this error: LocalStack's body stays

    error = context.context_variables.setdefault("error", {})
    error["messageString"] = json.dumps(exception.message)
    if exception.type == "BAD_REQUEST_BODY":
        error["validationErrorString"] = validation_error_string(context)

    accept = (context.invocation_request.get("headers") or {}).get("Accept")
    selected = select_template(gateway_response.get("responseTemplates") or {}, accept)
    if selected is not None:
        content_type, template = selected
        response.set_data(render(template, context))
        response.headers["Content-Type"] = content_type
    for name, value in mapped_headers(gateway_response.get("responseParameters"), context).items():
        response.headers[name] = value
    return response


def apply_patch() -> None:
    """Wrap `GatewayExceptionHandler.create_exception_response` (once)."""
    patching.check(INTERNALS)

    @patching.wrap(CREATE_EXCEPTION_RESPONSE)
    def create_exception_response(original, self, exception, context):
        response = original(self, exception, context)
        try:
            return apply_gateway_response(response, exception, context)
        except Exception:
            patching.plugin_error(LOG, "gateway response for %s not applied", exception.type)
            return response


@hooks.on_infra_start()
def apply_gateway_responses() -> None:
    patching.check(INTERNALS, import_modules=False)  # the handler chain is imported on load
    patching.when_provider_loads("apigateway", apply_patch, APIGATEWAY_PROVIDER)
