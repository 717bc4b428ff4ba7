resource "aws_sns_topic" "notifications" {
  name              = "${local.name}-notifications"
  kms_master_key_id = aws_kms_key.main.arn
}

# Every delivery, published by the processor with the attributes `user_id`, `priority` and
# `notification_id`: the e-mail channel. A user who wants e-mail subscribes an address (protocol
# `email`, filter policy {"user_id": ["<id>"]}) and confirms it from the e-mail AWS sends.
resource "aws_sns_topic" "deliveries" {
  name              = "${local.name}-deliveries"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-alerts"
  kms_master_key_id = aws_kms_key.main.arn

  lifecycle {
    precondition {
      condition     = var.environment == "sandbox" || var.alert_email != null
      error_message = "Environment ${var.environment} has no alert subscriber: every alarm notifies the alerts topic, and nobody would receive it. Set alert_email (and confirm the subscription from the e-mail AWS sends); only environment = \"sandbox\" may go without."
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountManages"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish"]
        Resource  = aws_sns_topic.alerts.arn
      },
      {
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "alert_email" {
  count     = var.alert_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# Per priority: queue + DLQ + subscription (filter on `priority`) + subscription DLQ +
# event source mapping + alarms.
module "priority_pipeline" {
  source   = "./modules/priority_pipeline"
  for_each = var.priorities

  name_prefix                = local.name
  priority                   = each.key
  topic_arn                  = aws_sns_topic.notifications.arn
  planned_topic_arn          = "arn:${local.partition}:sns:${var.region}:${local.account_id}:${local.name}-notifications"
  function_arn               = module.processor.function_arn
  processor_timeout_seconds  = var.functions["processor"].timeout_seconds
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  message_retention_seconds  = var.queue_message_retention_seconds
  max_receive_count          = var.max_receive_count

  batch_size                = each.value.batch_size
  batching_window_seconds   = each.value.batching_window_seconds
  maximum_concurrency       = each.value.maximum_concurrency
  age_of_oldest_slo_seconds = each.value.age_of_oldest_slo_seconds

  alarm_period_seconds     = var.alarm_period_seconds
  alarm_evaluation_periods = var.alarm_evaluation_periods
  alarm_actions            = [aws_sns_topic.alerts.arn]
}
