output "queue_url" {
  description = "URL of the priority queue."
  value       = aws_sqs_queue.queue.url
}

output "queue_arn" {
  description = "ARN of the priority queue."
  value       = aws_sqs_queue.queue.arn
}

output "queue_name" {
  description = "Name of the priority queue."
  value       = aws_sqs_queue.queue.name
}

output "dlq_url" {
  description = "URL of the queue's DLQ (messages the processor failed)."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the queue's DLQ."
  value       = aws_sqs_queue.dlq.arn
}

output "subscription_dlq_url" {
  description = "URL of the subscription's DLQ (messages SNS could not deliver)."
  value       = aws_sqs_queue.subscription_dlq.url
}

output "subscription_dlq_arn" {
  description = "ARN of the subscription's DLQ."
  value       = aws_sqs_queue.subscription_dlq.arn
}

output "subscription_arn" {
  description = "ARN of the SNS subscription."
  value       = aws_sns_topic_subscription.this.arn
}

output "event_source_mapping_uuid" {
  description = "UUID of the event source mapping."
  value       = aws_lambda_event_source_mapping.this.uuid
}

output "alarm_names" {
  description = "Alarm names by kind (dlq_depth, subscription_dlq_depth, age_of_oldest)."
  value = {
    dlq_depth              = aws_cloudwatch_metric_alarm.dlq_depth["dlq"].alarm_name
    subscription_dlq_depth = aws_cloudwatch_metric_alarm.dlq_depth["subscription_dlq"].alarm_name
    age_of_oldest          = aws_cloudwatch_metric_alarm.age_of_oldest.alarm_name
  }
}

# ---- Settings as applied (for the stack's tests and for harnesses that check the wiring)
output "visibility_timeout_seconds" {
  description = "Visibility timeout of the queue."
  value       = aws_sqs_queue.queue.visibility_timeout_seconds
}

output "queue_redrive_policy" {
  description = "Redrive policy (JSON) of the queue."
  value       = aws_sqs_queue_redrive_policy.queue.redrive_policy
}

output "dlq_redrive_allow_policy" {
  description = "Redrive allow policy (JSON) of the DLQ."
  value       = aws_sqs_queue.dlq.redrive_allow_policy
}

output "queue_policy" {
  description = "Access policy (JSON) of the queue."
  value       = aws_sqs_queue.queue.policy
}

output "subscription_filter_policy" {
  description = "Filter policy (JSON) of the subscription."
  value       = aws_sns_topic_subscription.this.filter_policy
}

output "subscription_raw_message_delivery" {
  description = "Whether the subscription delivers raw messages."
  value       = aws_sns_topic_subscription.this.raw_message_delivery
}

output "subscription_endpoint" {
  description = "Endpoint (queue ARN) of the subscription."
  value       = aws_sns_topic_subscription.this.endpoint
}

output "subscription_redrive_policy" {
  description = "Redrive policy (JSON) of the subscription."
  value       = aws_sns_topic_subscription.this.redrive_policy
}

output "event_source_mapping" {
  description = "Settings of the event source mapping."
  value = {
    uuid                               = aws_lambda_event_source_mapping.this.uuid
    event_source_arn                   = aws_lambda_event_source_mapping.this.event_source_arn
    function_response_types            = tolist(aws_lambda_event_source_mapping.this.function_response_types)
    batch_size                         = aws_lambda_event_source_mapping.this.batch_size
    maximum_batching_window_in_seconds = aws_lambda_event_source_mapping.this.maximum_batching_window_in_seconds
    maximum_concurrency                = aws_lambda_event_source_mapping.this.scaling_config[0].maximum_concurrency
  }
}

output "age_of_oldest_threshold" {
  description = "Threshold (s) of the age-of-oldest alarm."
  value       = aws_cloudwatch_metric_alarm.age_of_oldest.threshold
}

output "alarm_actions" {
  description = "Alarm and OK actions of each alarm, by alarm kind."
  value = {
    for kind, alarm in {
      dlq_depth              = aws_cloudwatch_metric_alarm.dlq_depth["dlq"]
      subscription_dlq_depth = aws_cloudwatch_metric_alarm.dlq_depth["subscription_dlq"]
      age_of_oldest          = aws_cloudwatch_metric_alarm.age_of_oldest
    } : kind => { alarm = tolist(alarm.alarm_actions), ok = tolist(alarm.ok_actions) }
  }
}
