locals {
  alarm_actions = [aws_sns_topic.alerts.arn]

  # ReadThrottleEvents / WriteThrottleEvents on each table and on each GSI of the
  # notifications table (a throttled GSI also throttles the table's writes).
  dynamodb_throttle_alarms = merge(
    {
      for pair in setproduct(["notifications", "idempotency"], ["Read", "Write"]) :
      "${pair[0]}-${lower(pair[1])}" => {
        table  = pair[0] == "notifications" ? local.notifications_table.name : aws_dynamodb_table.idempotency.name
        index  = null
        metric = "${pair[1]}ThrottleEvents"
      }
    },
    {
      for pair in setproduct(local.gsi_names, ["Read", "Write"]) :
      "notifications-${pair[0]}-${lower(pair[1])}" => {
        table  = local.notifications_table.name
        index  = pair[0]
        metric = "${pair[1]}ThrottleEvents"
      }
    },
  )

  functions = {
    ingest    = module.ingest
    processor = module.processor
    query     = module.query
  }
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.name}-api-5xx"
  alarm_description   = "The API answered 5XX."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.this.name, Stage = aws_api_gateway_stage.this.stage_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = local.dynamodb_throttle_alarms

  alarm_name        = "${local.name}-dynamodb-${each.key}-throttles"
  alarm_description = "DynamoDB throttled ${each.value.metric} on ${each.value.table}${each.value.index == null ? "" : " index ${each.value.index}"}."
  namespace         = "AWS/DynamoDB"
  metric_name       = each.value.metric
  dimensions = each.value.index == null ? { TableName = each.value.table } : {
    TableName                = each.value.table
    GlobalSecondaryIndexName = each.value.index
  }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "API requests and errors"
          region  = var.region
          stat    = "Sum"
          period  = 60
          metrics = [for m in ["Count", "4XXError", "5XXError"] : ["AWS/ApiGateway", m, "ApiName", aws_api_gateway_rest_api.this.name, "Stage", aws_api_gateway_stage.this.stage_name]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "End-to-end latency by priority (p99, ms)"
          region  = var.region
          stat    = "p99"
          period  = 60
          metrics = [for p in keys(var.priorities) : ["Notifications", "EndToEndLatency", "priority", p]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Age of oldest message by priority (s)"
          region  = var.region
          stat    = "Maximum"
          period  = 60
          metrics = [for p, m in module.priority_pipeline : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", m.queue_name]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Delivered by priority"
          region  = var.region
          stat    = "Sum"
          period  = 60
          metrics = [for p in keys(var.priorities) : ["Notifications", "NotificationsDelivered", "priority", p]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "Lambda errors and throttles"
          region  = var.region
          stat    = "Sum"
          period  = 60
          metrics = flatten([for name, f in local.functions : [for m in ["Errors", "Throttles"] : ["AWS/Lambda", m, "FunctionName", f.function_name]]])
        }
      },
      {
        type = "alarm", x = 12, y = 12, width = 12, height = 6
        properties = {
          title = "Alarms"
          alarms = concat(
            [aws_cloudwatch_metric_alarm.api_5xx.arn],
            [for a in aws_cloudwatch_metric_alarm.dynamodb_throttles : a.arn],
          )
        }
      },
    ]
  })
}
