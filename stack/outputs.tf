# ---------------------------------------------------------------- API and auth
output "api_id" {
  description = "REST API id (the sandbox URL is http://127.0.0.1:<port>/_aws/execute-api/<api_id>/<stage_name>)."
  value       = aws_api_gateway_rest_api.this.id
}

output "stage_name" {
  description = "API stage name."
  value       = aws_api_gateway_stage.this.stage_name
}

output "api_base_url" {
  description = "Base URL of the API on AWS (stage invoke URL, no trailing slash)."
  value       = trimsuffix(aws_api_gateway_stage.this.invoke_url, "/")
}

output "user_pool_id" {
  description = "Cognito user pool id."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "Cognito user pool ARN."
  value       = aws_cognito_user_pool.this.arn
}

output "user_pool_client_id" {
  description = "App client id (no secret; USER_SRP_AUTH, plus USER_PASSWORD_AUTH and ADMIN_USER_PASSWORD_AUTH when password_auth_flows is true)."
  value       = aws_cognito_user_pool_client.this.id
}

output "admin_group_name" {
  description = "Cognito group of the admins."
  value       = aws_cognito_user_group.admins.name
}

output "sender_group_name" {
  description = "Cognito group of the senders (only they may POST /notifications)."
  value       = aws_cognito_user_group.senders.name
}

# ---------------------------------------------------------------- messaging
output "notifications_topic_arn" {
  description = "ARN of the notifications topic."
  value       = aws_sns_topic.notifications.arn
}

output "deliveries_topic_arn" {
  description = "ARN of the deliveries topic (the e-mail channel: subscribe an address with a filter policy on user_id)."
  value       = aws_sns_topic.deliveries.arn
}

output "alerts_topic_arn" {
  description = "ARN of the alerts topic (every alarm's alarm and OK action)."
  value       = aws_sns_topic.alerts.arn
}

output "queues" {
  description = "Per priority: queue, DLQ and subscription DLQ URLs and ARNs, subscription ARN and event source mapping UUID."
  value = {
    for p, m in module.priority_pipeline : p => {
      queue_url                 = m.queue_url
      queue_arn                 = m.queue_arn
      queue_name                = m.queue_name
      dlq_url                   = m.dlq_url
      dlq_arn                   = m.dlq_arn
      subscription_dlq_url      = m.subscription_dlq_url
      subscription_dlq_arn      = m.subscription_dlq_arn
      subscription_arn          = m.subscription_arn
      event_source_mapping_uuid = m.event_source_mapping_uuid
    }
  }
}

output "event_source_mapping_uuids" {
  description = "Event source mapping UUID per priority."
  value       = { for p, m in module.priority_pipeline : p => m.event_source_mapping_uuid }
}

# ---------------------------------------------------------------- data
output "table_name" {
  description = "Name of the notifications table."
  value       = local.notifications_table.name
}

output "idempotency_table_name" {
  description = "Name of the Powertools idempotency table."
  value       = aws_dynamodb_table.idempotency.name
}

output "kms_key_arn" {
  description = "ARN of the stack's KMS key (topics, tables, log groups)."
  value       = aws_kms_key.main.arn
}

# ---------------------------------------------------------------- functions
output "function_names" {
  description = "Lambda function names by role (ingest, processor, query)."
  value       = { for k, f in local.functions : k => f.function_name }
}

output "log_group_names" {
  description = "Log group names: one per function, and api_access."
  value = merge(
    { for k, f in local.functions : k => f.log_group_name },
    { api_access = aws_cloudwatch_log_group.api_access.name },
  )
}

# ---------------------------------------------------------------- monitoring
output "alarm_names" {
  description = "Alarm names: per priority (dlq_depth, subscription_dlq_depth, age_of_oldest), per function (errors, throttles), api_5xx, and dynamodb_throttles by table/index and read/write."
  value = {
    priorities         = { for p, m in module.priority_pipeline : p => m.alarm_names }
    functions          = { for k, f in local.functions : k => f.alarm_names }
    api_5xx            = aws_cloudwatch_metric_alarm.api_5xx.alarm_name
    dynamodb_throttles = { for k, a in aws_cloudwatch_metric_alarm.dynamodb_throttles : k => a.alarm_name }
  }
}

output "dashboard_name" {
  description = "CloudWatch dashboard name."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "region" {
  description = "Region of the stack."
  value       = var.region
}
