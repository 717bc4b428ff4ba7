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
        Sid      = "EncryptedTopic"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = aws_kms_key.main.arn
      },
      {
        Sid      = "IdempotencyRecords"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        Resource = aws_dynamodb_table.idempotency.arn
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
    TABLE_NAME              = aws_dynamodb_table.notifications.name
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
        Resource = aws_dynamodb_table.notifications.arn
      },
      {
        Sid      = "PublishDeliveries"
        Effect   = "Allow"
        Action   = "sns:Publish"
        Resource = aws_sns_topic.deliveries.arn
      },
      {
        Sid      = "EncryptedDeliveriesTopic"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = aws_kms_key.main.arn
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
    TABLE_NAME              = aws_dynamodb_table.notifications.name
    PRIORITY_SHARDS         = tostring(var.priority_shards)
    ADMIN_GROUP             = aws_cognito_user_group.admins.name
  })

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "ReadNotifications"
      Effect = "Allow"
      Action = ["dynamodb:GetItem", "dynamodb:Query"]
      Resource = concat(
        [aws_dynamodb_table.notifications.arn],
        [for gsi in local.gsi_names : "${aws_dynamodb_table.notifications.arn}/index/${gsi}"],
      )
    }]
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
