locals {
  powertools_env = {
    POWERTOOLS_METRICS_NAMESPACE = "Notifications"
    LOG_LEVEL                    = var.log_level
    # botocore's standard retry mode (with its retry quota) and at most 3 attempts, so that a
    # failing dependency costs a record seconds, not the whole batch's time.
    AWS_RETRY_MODE   = "standard"
    AWS_MAX_ATTEMPTS = "3"
  }

  # The processor's queues and their DLQs, by name (module.priority_pipeline's ARNs would close
  # a cycle: the pipelines' event source mappings need the processor first).
  priority_queue_arns = [for p in keys(var.priorities) : "arn:${local.partition}:sqs:${var.region}:${local.account_id}:${local.name}-${p}"]
  priority_dlq_arns   = [for arn in local.priority_queue_arns : "${arn}-dlq"]

  # The stack's key encrypts the tables and topics; the functions may use it only through the
  # service that needs it (kms:ViaService), never directly. DynamoDB decrypts the table key with
  # the caller's credentials (Decrypt; writers also GenerateDataKey); an SNS publisher needs
  # GenerateDataKey and Decrypt. DescribeKey/CreateGrant are only needed to create or update the
  # table, which Terraform's credentials do (through the key policy's root statement).
  via_dynamodb = { StringEquals = { "kms:ViaService" = "dynamodb.${var.region}.amazonaws.com" } }
  via_sns      = { StringEquals = { "kms:ViaService" = "sns.${var.region}.amazonaws.com" } }

  function_defaults = {
    architecture             = var.architecture
    log_retention_days       = var.log_retention_days
    alarm_period_seconds     = var.alarm_period_seconds
    alarm_evaluation_periods = var.alarm_evaluation_periods
  }
}

module "ingest" {
  source = "./modules/function"

  name                 = "${local.name}-ingest"
  description          = "POST /notifications: validate, publish to the notifications topic."
  handler              = "ingest.app.handler"
  package_path         = "${local.artifacts_dir}/ingest.zip"
  architecture         = local.function_defaults.architecture
  timeout_seconds      = var.functions["ingest"].timeout_seconds
  memory_mb            = var.functions["ingest"].memory_mb
  reserved_concurrency = var.functions["ingest"].reserved_concurrency
  tracing_enabled      = var.tracing_enabled
  log_retention_days   = local.function_defaults.log_retention_days
  log_kms_key_arn      = aws_kms_key.main.arn

  environment = merge(local.powertools_env, {
    POWERTOOLS_SERVICE_NAME = "ingest"
    TOPIC_ARN               = aws_sns_topic.notifications.arn
    IDEMPOTENCY_TABLE_NAME  = aws_dynamodb_table.idempotency.name
    SENDER_GROUP            = aws_cognito_user_group.senders.name
  })

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PublishNotifications"
        Effect   = "Allow"
        Action   = "sns:Publish"
        Resource = aws_sns_topic.notifications.arn
      },
      {
        Sid       = "KeyForTheEncryptedTopicViaSns"
        Effect    = "Allow"
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = aws_kms_key.main.arn
        Condition = local.via_sns
      },
      {
        Sid      = "IdempotencyRecords"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        Resource = aws_dynamodb_table.idempotency.arn
      },
      {
        Sid       = "KeyForTheIdempotencyTableViaDynamoDB"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = aws_kms_key.main.arn
        Condition = local.via_dynamodb
      },
    ]
  })

  alarm_period_seconds     = local.function_defaults.alarm_period_seconds
  alarm_evaluation_periods = local.function_defaults.alarm_evaluation_periods
  alarm_actions            = [aws_sns_topic.alerts.arn]
}

module "processor" {
  source = "./modules/function"

  name                 = "${local.name}-processor"
  description          = "SQS priority queues -> notifications table (conditional put), delivery log line and metrics."
  handler              = "processor.app.handler"
  package_path         = "${local.artifacts_dir}/processor.zip"
  architecture         = local.function_defaults.architecture
  timeout_seconds      = var.functions["processor"].timeout_seconds
  memory_mb            = var.functions["processor"].memory_mb
  reserved_concurrency = var.functions["processor"].reserved_concurrency
  tracing_enabled      = var.tracing_enabled
  log_retention_days   = local.function_defaults.log_retention_days
  log_kms_key_arn      = aws_kms_key.main.arn

  environment = merge(local.powertools_env, {
    POWERTOOLS_SERVICE_NAME = "processor"
    TABLE_NAME              = local.notifications_table.name
    DELIVERIES_TOPIC_ARN    = aws_sns_topic.deliveries.arn
    PRIORITY_SHARDS         = tostring(var.priority_shards)
    RETENTION_DAYS          = tostring(var.retention_days)
  })

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ConsumePriorityQueues"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = local.priority_queue_arns
      },
      {
        # Bodies that can never be a notification go to the DLQ at once, with their reason.
        Sid      = "DeadLetterInvalidMessages"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
        Resource = local.priority_dlq_arns
      },
      {
        # Store once (conditional put), read the delivery state, record the delivery.
        Sid      = "StoreNotifications"
        Effect   = "Allow"
        Action   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
        Resource = local.notifications_table.arn
      },
      {
        Sid       = "KeyForTheTableViaDynamoDB"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = aws_kms_key.main.arn
        Condition = local.via_dynamodb
      },
      {
        Sid      = "PublishDeliveries"
        Effect   = "Allow"
        Action   = "sns:Publish"
        Resource = aws_sns_topic.deliveries.arn
      },
      {
        Sid       = "KeyForTheDeliveriesTopicViaSns"
        Effect    = "Allow"
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = aws_kms_key.main.arn
        Condition = local.via_sns
      },
    ]
  })

  alarm_period_seconds     = local.function_defaults.alarm_period_seconds
  alarm_evaluation_periods = local.function_defaults.alarm_evaluation_periods
  alarm_actions            = [aws_sns_topic.alerts.arn]
}

module "query" {
  source = "./modules/function"

  name                 = "${local.name}-query"
  description          = "GET routes: one notification, a user's notifications, notifications by priority."
  handler              = "query.app.handler"
  package_path         = "${local.artifacts_dir}/query.zip"
  architecture         = local.function_defaults.architecture
  timeout_seconds      = var.functions["query"].timeout_seconds
  memory_mb            = var.functions["query"].memory_mb
  reserved_concurrency = var.functions["query"].reserved_concurrency
  tracing_enabled      = var.tracing_enabled
  log_retention_days   = local.function_defaults.log_retention_days
  log_kms_key_arn      = aws_kms_key.main.arn

  environment = merge(local.powertools_env, {
    POWERTOOLS_SERVICE_NAME = "query"
    TABLE_NAME              = local.notifications_table.name
    PRIORITY_SHARDS         = tostring(var.priority_shards)
    ADMIN_GROUP             = aws_cognito_user_group.admins.name
  })

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "ReadNotifications"
        Effect = "Allow"
        Action = ["dynamodb:GetItem", "dynamodb:Query"]
        Resource = concat(
          [local.notifications_table.arn],
          [for gsi in local.gsi_names : "${local.notifications_table.arn}/index/${gsi}"],
        )
      },
      {
        Sid       = "KeyForTheTableViaDynamoDB"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = aws_kms_key.main.arn
        Condition = local.via_dynamodb
      },
    ]
  })

  alarm_period_seconds     = local.function_defaults.alarm_period_seconds
  alarm_evaluation_periods = local.function_defaults.alarm_evaluation_periods
  alarm_actions            = [aws_sns_topic.alerts.arn]
}

resource "aws_lambda_permission" "api_ingest" {
  statement_id  = "AllowApiGatewayPostNotifications"
  action        = "lambda:InvokeFunction"
  function_name = module.ingest.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*/POST/notifications"
}

resource "aws_lambda_permission" "api_query" {
  statement_id  = "AllowApiGatewayGetRoutes"
  action        = "lambda:InvokeFunction"
  function_name = module.query.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*/GET/*"
}

# Reserved concurrency is carved out of the account's regional quota, and Lambda refuses any
# reservation that leaves fewer than 100 executions unreserved (new accounts may have a quota
# of 10, so they can reserve nothing). Checked at plan time instead of failing the apply.
locals {
  reserved_concurrency_total = sum(concat([0], [for f in values(var.functions) : coalesce(f.reserved_concurrency, 0)]))
}

resource "terraform_data" "lambda_concurrency_budget" {
  input = local.reserved_concurrency_total

  lifecycle {
    precondition {
      condition     = local.reserved_concurrency_total == 0 || (var.lambda_concurrency_quota == null ? false : local.reserved_concurrency_total <= var.lambda_concurrency_quota - 100)
      error_message = var.lambda_concurrency_quota == null ? "The functions reserve ${local.reserved_concurrency_total} concurrent executions, but lambda_concurrency_quota is not set. Look up the account's quota (aws service-quotas get-service-quota --service-code lambda --quota-code L-B99A9384 --region ${var.region}) and set lambda_concurrency_quota to it, or set every reserved_concurrency to null." : "The functions reserve ${local.reserved_concurrency_total} concurrent executions, but a quota of ${var.lambda_concurrency_quota} leaves at most ${max(var.lambda_concurrency_quota - 100, 0)} to reserve (Lambda keeps 100 unreserved). Lower the reservations, set them to null, or request a quota increase (Service Quotas L-B99A9384) and update lambda_concurrency_quota."
    }
  }
}
