locals {
  name = "${var.name_prefix}-${var.priority}"

  # Queue ARNs built from their names and the topic's partition, region and account, so that
  # policies can be set inline at creation. Each SQS resource costs ~25 s of the AWS provider's
  # attribute-propagation wait (on AWS and in the sandbox alike); this way the queues, their
  # policies and the DLQs are all created at once, and only the redrive policy comes after.
  topic_arn_parts      = split(":", var.planned_topic_arn)
  arn_prefix           = "arn:${local.topic_arn_parts[1]}:sqs:${local.topic_arn_parts[3]}:${local.topic_arn_parts[4]}"
  queue_arn            = "${local.arn_prefix}:${local.name}"
  subscription_dlq_arn = "${local.arn_prefix}:${local.name}-sub-dlq"

  # Only the topic may send; nothing may use plain HTTP.
  sns_only_policy = { for key, arn in {
    queue            = local.queue_arn
    subscription_dlq = local.subscription_dlq_arn
    } : key => jsonencode({
      Version = "2012-10-17"
      Statement = [
        {
          Sid       = "TopicOnly"
          Effect    = "Allow"
          Principal = { Service = "sns.amazonaws.com" }
          Action    = "sqs:SendMessage"
          Resource  = arn
          Condition = { ArnEquals = { "aws:SourceArn" = var.planned_topic_arn } }
        },
        {
          Sid       = "TlsOnly"
          Effect    = "Deny"
          Principal = "*"
          Action    = "sqs:*"
          Resource  = arn
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ]
  }) }
}

# Messages the processor failed max_receive_count times.
# Only this priority's queue may use it as its DLQ.
resource "aws_sqs_queue" "dlq" {
  name                      = "${local.name}-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.queue_arn]
  })
  tags = var.tags
}

resource "aws_sqs_queue" "queue" {
  name                       = local.name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true # SSE-SQS: SNS can deliver to it without a key grant
  policy                     = local.sns_only_policy["queue"]
  tags                       = var.tags

  lifecycle {
    precondition {
      condition     = var.visibility_timeout_seconds >= 6 * var.processor_timeout_seconds
      error_message = "The ${var.priority} queue's visibility timeout (${var.visibility_timeout_seconds} s) must be at least 6 x the processor timeout (${var.processor_timeout_seconds} s)."
    }
  }
}

# A separate resource, so that the queue is created alongside its DLQ (not after it) and the
# subscription and event source mapping need not wait for this attribute to propagate too.
resource "aws_sqs_queue_redrive_policy" "queue" {
  queue_url = aws_sqs_queue.queue.id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Messages SNS could not deliver to the queue (after its own retries).
resource "aws_sqs_queue" "subscription_dlq" {
  name                      = "${local.name}-sub-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true
  redrive_allow_policy      = jsonencode({ redrivePermission = "denyAll" })
  policy                    = local.sns_only_policy["subscription_dlq"]
  tags                      = var.tags
}

resource "aws_sns_topic_subscription" "this" {
  topic_arn            = var.topic_arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.queue.arn
  raw_message_delivery = true
  filter_policy_scope  = "MessageAttributes"
  filter_policy        = jsonencode({ priority = [var.priority] })
  redrive_policy       = jsonencode({ deadLetterTargetArn = aws_sqs_queue.subscription_dlq.arn })

  lifecycle {
    precondition {
      condition     = var.topic_arn == var.planned_topic_arn
      error_message = "The queue policies admit ${var.planned_topic_arn}, but the subscription is to ${var.topic_arn}."
    }
  }
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = aws_sqs_queue.queue.arn
  function_name                      = var.function_arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = {
    dlq              = aws_sqs_queue.dlq.name
    subscription_dlq = aws_sqs_queue.subscription_dlq.name
  }

  alarm_name          = "${each.value}-depth"
  alarm_description   = "Messages in ${each.value} (${var.priority} priority): they were not delivered."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "age_of_oldest" {
  alarm_name          = "${local.name}-age-of-oldest"
  alarm_description   = "The oldest ${var.priority} message waits longer than the ${var.age_of_oldest_slo_seconds} s SLO."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.queue.name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.age_of_oldest_slo_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
