locals {
  openapi = templatefile("${path.module}/api/openapi.yaml", {
    api_name          = "${local.name}-api"
    ingest_invoke_arn = module.ingest.invoke_arn
    query_invoke_arn  = module.query.invoke_arn
    user_pool_arn     = aws_cognito_user_pool.this.arn
  })

  # The same document with placeholders, fully known at plan time (for_each needs known keys).
  openapi_static = yamldecode(templatefile("${path.module}/api/openapi.yaml", {
    api_name          = "api"
    ingest_invoke_arn = "ingest"
    query_invoke_arn  = "query"
    user_pool_arn     = "pool"
  }))
}

resource "aws_api_gateway_rest_api" "this" {
  name        = "${local.name}-api"
  description = "Notifications API (stack/api/openapi.yaml)"
  body        = local.openapi

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

# The spec's x-amazon-apigateway-gateway-responses, also as resources: AWS imports them with
# the spec, but not every implementation does (LocalStack ignores them), and the values are
# identical, so the two never disagree.
resource "aws_api_gateway_gateway_response" "this" {
  for_each = local.openapi_static["x-amazon-apigateway-gateway-responses"]

  rest_api_id         = aws_api_gateway_rest_api.this.id
  response_type       = each.key
  status_code         = try(tostring(each.value.statusCode), null)
  response_templates  = try(each.value.responseTemplates, null)
  response_parameters = try(each.value.responseParameters, null)
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  # A new deployment whenever the spec (routes, integrations, authorizer, gateway responses)
  # changes.
  triggers = {
    redeployment      = sha1(local.openapi)
    gateway_responses = sha1(jsonencode([for r in aws_api_gateway_gateway_response.this : [r.response_type, r.status_code, r.response_templates]]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_api_gateway_gateway_response.this]
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.name}-api/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Responses are per caller and change with every accepted notification; a cache would serve stale or another user's data.
  #checkov:skip=CKV2_AWS_29:WAF is an account-level choice with its own cost; throttling and the Cognito authorizer protect the API. Attach a web ACL outside the stack if required.
  #checkov:skip=CKV2_AWS_51:Integrations are Lambda proxies (not HTTP backends), so a client certificate for backend authentication has nothing to authenticate to.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.api_stage_name
  xray_tracing_enabled = var.tracing_enabled

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      extendedRequestId  = "$context.extendedRequestId"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      path               = "$context.path"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integrationStatus"
      errorMessage       = "$context.error.message"
      errorType          = "$context.error.responseType"
      caller             = "$context.authorizer.claims.sub"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
    })
  }

  # API Gateway refuses access logging (and execution logging) while the account has no
  # CloudWatch Logs role in the region: say so at plan time instead of failing the apply.
  lifecycle {
    precondition {
      condition     = var.manage_api_gateway_account || var.api_gateway_account_has_cloudwatch_role
      error_message = "The stage writes access logs, which API Gateway only accepts once the account has a CloudWatch Logs role in ${var.region}. Set manage_api_gateway_account = true (this stack creates the role and sets it on the account), or, if another stack already set one (aws apigateway get-account --region ${var.region} shows a cloudwatchRoleArn), set api_gateway_account_has_cloudwatch_role = true."
    }
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is off on purpose (per-caller, fast-changing data; see the stage).
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.api_throttling.rate_limit
    throttling_burst_limit = var.api_throttling.burst_limit
    metrics_enabled        = true
    # Execution logs (errors only) need the account's CloudWatch role, which the stage's
    # precondition guarantees; access logs (JSON) are always on.
    logging_level      = "ERROR"
    data_trace_enabled = false
  }

  # Backpressure, not errors: a burst the stage admits must find an environment to run in.
  # A Lambda throttled behind API Gateway answers 500 (AWS) / 502 (LocalStack), never 429.
  lifecycle {
    precondition {
      condition = alltrue([for f in ["ingest", "query"] :
      var.functions[f].reserved_concurrency == null ? true : var.functions[f].reserved_concurrency >= var.api_throttling.burst_limit])
      error_message = "The stage admits bursts of ${var.api_throttling.burst_limit} requests per method, more than the reserved concurrency of ingest (${coalesce(var.functions["ingest"].reserved_concurrency, -1)}) or query (${coalesce(var.functions["query"].reserved_concurrency, -1)}): a burst would be answered 500 by throttled Lambdas instead of 429 by the stage. Lower api_throttling.burst_limit or raise the reserved concurrency."
    }
  }
}

# ---------------------------------------------------------------- account-wide
# The API Gateway CloudWatch Logs role of the account and region (one per account and region:
# manage_api_gateway_account = false when another stack sets it).
resource "aws_iam_role" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0
  name  = "${local.name}-apigw-cloudwatch"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "api_gateway_cloudwatch" {
  count      = var.manage_api_gateway_account ? 1 : 0
  role       = aws_iam_role.api_gateway_cloudwatch[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_api_gateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch[0].arn

  depends_on = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}
