# Invariants of the stack, checked offline against a mocked AWS provider:
#   terraform test   (from stack/, after terraform init -backend=false)
# Resources whose ARNs are not given a default get random strings, which are distinct per
# instance - that is what makes the DLQ-wiring assertions meaningful.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:user/test"
      user_id    = "AIDAEXAMPLE"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn    = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      key_id = "11111111-2222-3333-4444-555555555555"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/notif-test-role"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/notif-test"
    }
  }

  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:us-east-1:123456789012:function:notif-test-fn"
      invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:notif-test-fn/invocations"
    }
  }

  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:us-east-1:123456789012:table/notif-test-notifications"
    }
  }

  mock_resource "aws_cognito_user_pool" {
    defaults = {
      arn = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
      id  = "us-east-1_Example"
    }
  }

  mock_resource "aws_api_gateway_rest_api" {
    defaults = {
      id               = "abcdef1234"
      root_resource_id = "rootid1234"
      execution_arn    = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234"
    }
  }

  mock_resource "aws_api_gateway_stage" {
    defaults = {
      arn        = "arn:aws:apigateway:us-east-1::/restapis/abcdef1234/stages/v1"
      invoke_url = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/v1"
    }
  }

  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = {
      arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:notif-test"
    }
  }
}

variables {
  environment   = "test"
  artifacts_dir = "./tests/fixtures"
  alert_email   = "oncall@example.com" # required outside the sandbox
}

run "defaults" {
  command = apply

  # Distinct, real-looking ARNs for the two topics.
  override_resource {
    target = aws_sns_topic.notifications
    values = { arn = "arn:aws:sns:us-east-1:123456789012:notif-test-notifications" }
  }

  override_resource {
    target = aws_sns_topic.alerts
    values = { arn = "arn:aws:sns:us-east-1:123456789012:notif-test-alerts" }
  }

  # One subscription per priority, filtering on exactly that priority, raw delivery,
  # redriven to that priority's subscription DLQ.
  assert {
    condition = alltrue([
      for p in ["high", "medium", "low"] :
      jsondecode(module.priority_pipeline[p].subscription_filter_policy) == { priority = [p] }
    ])
    error_message = "Each subscription must filter on its own priority only."
  }

  assert {
    condition     = alltrue([for p, m in module.priority_pipeline : m.subscription_raw_message_delivery && m.subscription_endpoint == m.queue_arn])
    error_message = "Each subscription must deliver raw messages to its own queue."
  }

  assert {
    condition     = alltrue([for p, m in module.priority_pipeline : jsondecode(m.subscription_redrive_policy).deadLetterTargetArn == m.subscription_dlq_arn])
    error_message = "Each subscription must redrive to its own subscription DLQ."
  }

  # Queue -> DLQ wiring.
  assert {
    condition = alltrue([
      for p, m in module.priority_pipeline :
      jsondecode(m.queue_redrive_policy).deadLetterTargetArn == m.dlq_arn &&
      jsondecode(m.queue_redrive_policy).maxReceiveCount == 5
    ])
    error_message = "Each queue must redrive to its own DLQ after 5 receives."
  }

  assert {
    condition     = length(toset([for m in module.priority_pipeline : m.dlq_arn])) == 3
    error_message = "The three priorities must have three distinct DLQs."
  }

  assert {
    condition = alltrue([
      for p, m in module.priority_pipeline :
      jsondecode(m.dlq_redrive_allow_policy).redrivePermission == "byQueue" &&
      tolist(jsondecode(m.dlq_redrive_allow_policy).sourceQueueArns) == tolist(["arn:aws:sqs:us-east-1:123456789012:${m.queue_name}"])
    ])
    error_message = "Each DLQ must admit only its own queue (redrive allow policy byQueue)."
  }

  # Visibility timeout >= 6 x processor timeout.
  assert {
    condition     = alltrue([for m in module.priority_pipeline : m.visibility_timeout_seconds >= 6 * module.processor.timeout_seconds])
    error_message = "Visibility timeout must be >= 6 x the processor timeout."
  }

  # One event source mapping per priority, on its queue, with partial batch responses.
  assert {
    condition = alltrue([
      for p, m in module.priority_pipeline :
      m.event_source_mapping.event_source_arn == m.queue_arn &&
      m.event_source_mapping.function_response_types == tolist(["ReportBatchItemFailures"]) &&
      m.event_source_mapping.batch_size == var.priorities[p].batch_size &&
      m.event_source_mapping.maximum_batching_window_in_seconds == var.priorities[p].batching_window_seconds &&
      m.event_source_mapping.maximum_concurrency == var.priorities[p].maximum_concurrency
    ])
    error_message = "Each priority needs its own event source mapping with ReportBatchItemFailures and its own settings."
  }

  assert {
    condition     = module.priority_pipeline["high"].event_source_mapping.maximum_batching_window_in_seconds == 0 && module.priority_pipeline["low"].event_source_mapping.batch_size > module.priority_pipeline["high"].event_source_mapping.batch_size
    error_message = "high: small batches and no window; low: larger batches."
  }

  # One alarm set per priority, all wired to the alerts topic.
  assert {
    condition     = length(output.alarm_names.priorities) == 3 && length(toset(flatten([for a in values(output.alarm_names.priorities) : values(a)]))) == 9
    error_message = "Each priority needs its own three alarms (DLQ depth, subscription DLQ depth, age of oldest)."
  }

  assert {
    condition     = alltrue([for p, m in module.priority_pipeline : m.age_of_oldest_threshold == var.priorities[p].age_of_oldest_slo_seconds])
    error_message = "The age-of-oldest alarm must use the priority's SLO."
  }

  assert {
    condition     = alltrue([for m in module.priority_pipeline : alltrue([for a in values(m.alarm_actions) : a.alarm == tolist([aws_sns_topic.alerts.arn]) && a.ok == tolist([aws_sns_topic.alerts.arn])])])
    error_message = "Every pipeline alarm must notify the alerts topic on ALARM and OK."
  }

  # Queue policies admit only the topic.
  assert {
    condition = alltrue([
      for m in module.priority_pipeline :
      jsondecode(m.queue_policy).Statement[0].Condition.ArnEquals["aws:SourceArn"] == aws_sns_topic.notifications.arn &&
      jsondecode(m.queue_policy).Statement[0].Principal.Service == "sns.amazonaws.com"
    ])
    error_message = "Each queue policy must admit only the notifications topic."
  }

  # The contract: function environment and handlers.
  assert {
    condition = (
      module.ingest.environment.TOPIC_ARN == aws_sns_topic.notifications.arn &&
      module.ingest.environment.IDEMPOTENCY_TABLE_NAME == aws_dynamodb_table.idempotency.name &&
      module.processor.environment.TABLE_NAME == local.notifications_table.name &&
      module.processor.environment.PRIORITY_SHARDS == "4" &&
      module.query.environment.ADMIN_GROUP == "admins" &&
      module.ingest.environment.SENDER_GROUP == "senders" &&
      alltrue([for f in [module.ingest, module.processor, module.query] : f.environment.POWERTOOLS_METRICS_NAMESPACE == "Notifications" && f.environment.LOG_LEVEL == "INFO"])
    )
    error_message = "Function environments must follow docs/contract.md."
  }

  assert {
    condition     = module.ingest.handler == "ingest.app.handler" && module.processor.handler == "processor.app.handler" && module.query.handler == "query.app.handler"
    error_message = "Handlers must be <name>.app.handler."
  }

  # The table per the contract.
  assert {
    condition     = local.notifications_table.hash_key == "id" && toset([for g in local.notifications_table.global_secondary_index : g.name]) == toset(["by_user", "by_priority"])
    error_message = "The notifications table needs key id and GSIs by_user and by_priority."
  }

  assert {
    condition     = local.notifications_table.ttl[0].attribute_name == "expires_at" && local.notifications_table.point_in_time_recovery[0].enabled && local.notifications_table.server_side_encryption[0].enabled
    error_message = "The notifications table needs TTL on expires_at, PITR and SSE."
  }

  assert {
    condition     = aws_dynamodb_table.idempotency.ttl[0].attribute_name == "expiration"
    error_message = "The idempotency table's TTL attribute is expiration."
  }

  # Gateway-produced 4xx bodies are JSON; a non-object body names the field `body`.
  assert {
    condition = (
      aws_api_gateway_gateway_response.this["BAD_REQUEST_BODY"].status_code == "400" &&
      jsondecode(aws_api_gateway_gateway_response.this["BAD_REQUEST_BODY"].response_templates["application/json"]).errors[0].field == "body" &&
      jsondecode(aws_api_gateway_gateway_response.this["UNAUTHORIZED"].response_templates["application/json"]).message == "Unauthorized"
    )
    error_message = "Gateway responses must be JSON and name the field body for invalid bodies."
  }

  # Every route has the Cognito authorizer and a Lambda proxy integration.
  assert {
    condition = alltrue(flatten([
      for path, ops in yamldecode(aws_api_gateway_rest_api.this.body).paths : [
        for method, op in ops : op.security == [{ cognito = [] }] && op["x-amazon-apigateway-integration"].type == "aws_proxy"
      ]
    ]))
    error_message = "Every route needs the Cognito authorizer and a Lambda proxy integration."
  }

  assert {
    condition     = length(aws_appautoscaling_target.dynamodb) == 0
    error_message = "PAY_PER_REQUEST has no auto scaling."
  }

  # PAY_PER_REQUEST: the on-demand table resource (no ignore_changes on its GSIs), not the
  # PROVISIONED one; the stack addresses it through local.notifications_table.
  assert {
    condition = (
      length(aws_dynamodb_table.notifications_on_demand) == 1 && length(aws_dynamodb_table.notifications_provisioned) == 0 &&
      local.notifications_table.billing_mode == "PAY_PER_REQUEST" &&
      alltrue([for g in local.notifications_table.global_secondary_index : g.read_capacity == 0 && g.write_capacity == 0])
    )
    error_message = "PAY_PER_REQUEST must use aws_dynamodb_table.notifications_on_demand only."
  }

  # KMS: each role may use exactly the stack's key, only through DynamoDB or SNS, with exactly
  # the actions its tables and topics need.
  assert {
    condition = jsonencode({
      for name, f in { ingest = module.ingest, processor = module.processor, query = module.query } : name => {
        for st in jsondecode(f.policy_json).Statement : st.Sid => {
          actions = sort(flatten([st.Action]))
          via     = st.Condition.StringEquals["kms:ViaService"]
        } if anytrue([for a in flatten([st.Action]) : startswith(a, "kms:")])
      }
      }) == jsonencode({
      ingest = {
        KeyForTheEncryptedTopicViaSns        = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], via = "sns.us-east-1.amazonaws.com" }
        KeyForTheIdempotencyTableViaDynamoDB = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], via = "dynamodb.us-east-1.amazonaws.com" }
      }
      processor = {
        KeyForTheTableViaDynamoDB      = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], via = "dynamodb.us-east-1.amazonaws.com" }
        KeyForTheDeliveriesTopicViaSns = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], via = "sns.us-east-1.amazonaws.com" }
      }
      query = {
        KeyForTheTableViaDynamoDB = { actions = ["kms:Decrypt"], via = "dynamodb.us-east-1.amazonaws.com" }
      }
    })
    error_message = "Each function role needs exactly its KMS actions, scoped with kms:ViaService (ingest: idempotency table + notifications topic; processor: table + deliveries topic; query: table reads)."
  }

  assert {
    condition = alltrue(flatten([
      for f in [module.ingest, module.processor, module.query] : [
        for st in jsondecode(f.policy_json).Statement : st.Resource == aws_kms_key.main.arn
        if anytrue([for a in flatten([st.Action]) : startswith(a, "kms:")])
      ]
    ]))
    error_message = "KMS statements must name the stack's key, not *."
  }

  # The key policy: IAM policies may grant use (root), CloudWatch Logs encrypts this account's
  # log groups, CloudWatch alarms of this account publish to the encrypted alerts topic.
  assert {
    condition = (
      one([for st in jsondecode(aws_kms_key.main.policy).Statement : st if st.Sid == "AccountAdministersAndDelegatesToIam"]).Principal.AWS == "arn:aws:iam::123456789012:root" &&
      one([for st in jsondecode(aws_kms_key.main.policy).Statement : st if st.Sid == "CloudWatchLogs"]).Principal.Service == "logs.us-east-1.amazonaws.com" &&
      one([for st in jsondecode(aws_kms_key.main.policy).Statement : st if st.Sid == "CloudWatchLogs"]).Condition.ArnLike["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:us-east-1:123456789012:log-group:*"
    )
    error_message = "The key policy must delegate to the account's IAM policies and admit CloudWatch Logs for this account's log groups."
  }

  assert {
    condition = (
      toset(one([for st in jsondecode(aws_kms_key.main.policy).Statement : st if st.Sid == "CloudWatchAlarmsPublishToEncryptedAlertsTopic"]).Action) == toset(["kms:Decrypt", "kms:GenerateDataKey*"]) &&
      one([for st in jsondecode(aws_kms_key.main.policy).Statement : st if st.Sid == "CloudWatchAlarmsPublishToEncryptedAlertsTopic"]).Principal.Service == "cloudwatch.amazonaws.com" &&
      one([for st in jsondecode(aws_kms_key.main.policy).Statement : st if st.Sid == "CloudWatchAlarmsPublishToEncryptedAlertsTopic"]).Condition.StringEquals["aws:SourceAccount"] == "123456789012" &&
      one([for st in jsondecode(aws_kms_key.main.policy).Statement : st if st.Sid == "CloudWatchAlarmsPublishToEncryptedAlertsTopic"]).Condition.ArnLike["aws:SourceArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"
    )
    error_message = "CloudWatch alarms of this account need kms:Decrypt and kms:GenerateDataKey* to publish to the encrypted alerts topic."
  }

  # Cognito: no plain password flows by default (outside the sandbox).
  assert {
    condition     = toset(aws_cognito_user_pool_client.this.explicit_auth_flows) == toset(["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    error_message = "By default the app client allows SRP and refresh tokens only."
  }

  # The stack sets the account's API Gateway CloudWatch role by default (the stage's access logs need it).
  assert {
    condition     = length(aws_api_gateway_account.this) == 1 && length(aws_iam_role.api_gateway_cloudwatch) == 1
    error_message = "manage_api_gateway_account defaults to true: the stage needs the account's CloudWatch role."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.alert_email) == 1
    error_message = "alert_email must subscribe to the alerts topic."
  }
}

run "sandbox_tfvars_provisioned_with_autoscaling" {
  command   = plan
  state_key = "sandbox" # a fresh state: not a rename of the "defaults" run's resources

  variables {
    environment           = "sandbox"
    dynamodb_billing_mode = "PROVISIONED"
  }

  # The topic's ARN as the queue policies plan it (the mock would make up a random one).
  override_resource {
    target = aws_sns_topic.notifications
    values = { arn = "arn:aws:sns:us-east-1:123456789012:notif-sandbox-notifications" }
  }

  # Both tables and both GSIs, read and write.
  assert {
    condition     = length(aws_appautoscaling_target.dynamodb) == 8 && length(aws_appautoscaling_policy.dynamodb) == 8
    error_message = "PROVISIONED needs auto scaling on both tables and every GSI, read and write."
  }

  assert {
    condition     = aws_appautoscaling_target.dynamodb["notifications-by_priority-write"].scalable_dimension == "dynamodb:index:WriteCapacityUnits"
    error_message = "GSIs scale on the index dimension."
  }

  # PROVISIONED: the table resource whose lifecycle ignores the auto-scaled capacities.
  assert {
    condition = (
      length(aws_dynamodb_table.notifications_provisioned) == 1 && length(aws_dynamodb_table.notifications_on_demand) == 0 &&
      local.notifications_table.billing_mode == "PROVISIONED" && local.notifications_table.name == "notif-sandbox-notifications" &&
      toset([for g in local.notifications_table.global_secondary_index : g.name]) == toset(["by_user", "by_priority"]) &&
      aws_appautoscaling_target.dynamodb["notifications-read"].resource_id == "table/notif-sandbox-notifications"
    )
    error_message = "PROVISIONED must use aws_dynamodb_table.notifications_provisioned only, with both GSIs, and auto scaling must address it."
  }
}

run "priorities_must_be_exactly_high_medium_low" {
  command = plan

  variables {
    priorities = {
      high   = { batch_size = 1, batching_window_seconds = 0, maximum_concurrency = 2, age_of_oldest_slo_seconds = 5 }
      urgent = { batch_size = 1, batching_window_seconds = 0, maximum_concurrency = 2, age_of_oldest_slo_seconds = 5 }
    }
  }

  expect_failures = [var.priorities]
}

run "batch_over_10_needs_a_window" {
  command = plan

  variables {
    priorities = {
      high   = { batch_size = 1, batching_window_seconds = 0, maximum_concurrency = 2, age_of_oldest_slo_seconds = 5 }
      medium = { batch_size = 10, batching_window_seconds = 0, maximum_concurrency = 2, age_of_oldest_slo_seconds = 5 }
      low    = { batch_size = 100, batching_window_seconds = 0, maximum_concurrency = 2, age_of_oldest_slo_seconds = 5 }
    }
  }

  expect_failures = [var.priorities]
}

run "short_alarm_periods_rejected_unless_sandbox_values" {
  command = plan

  variables {
    alarm_period_seconds = 45
  }

  expect_failures = [var.alarm_period_seconds]
}

run "stage_burst_above_the_apis_reserved_concurrency_is_refused" {
  command = plan

  variables {
    functions = {
      ingest    = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 10 }
      processor = { timeout_seconds = 30, memory_mb = 256, reserved_concurrency = null }
      query     = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = null }
    }
    lambda_concurrency_quota = 1000
    api_throttling           = { rate_limit = 50, burst_limit = 100 }
  }

  expect_failures = [aws_api_gateway_method_settings.all]
}

# ---------------------------------------------------------------- prerequisites AWS would refuse late

run "alert_subscriber_required_outside_the_sandbox" {
  command = plan

  variables {
    alert_email = null
  }

  expect_failures = [aws_sns_topic.alerts]
}

run "sandbox_may_go_without_alert_subscriber" {
  command   = plan
  state_key = "sandbox_no_alerts"

  variables {
    environment = "sandbox"
    alert_email = null
  }

  assert {
    condition     = length(aws_sns_topic_subscription.alert_email) == 0
    error_message = "No subscription without alert_email."
  }
}

run "access_logs_without_the_accounts_cloudwatch_role_are_refused" {
  command = plan

  variables {
    manage_api_gateway_account = false
  }

  expect_failures = [aws_api_gateway_stage.this]
}

run "access_logs_with_an_existing_cloudwatch_role" {
  command   = plan
  state_key = "existing_apigw_role"

  variables {
    manage_api_gateway_account              = false
    api_gateway_account_has_cloudwatch_role = true
  }

  assert {
    condition     = length(aws_api_gateway_account.this) == 0 && length(aws_iam_role.api_gateway_cloudwatch) == 0
    error_message = "With another stack's role, this stack must not set the account's role."
  }
}

run "reserved_concurrency_needs_the_quota" {
  command = plan

  variables {
    functions = {
      ingest    = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 5 }
      processor = { timeout_seconds = 30, memory_mb = 256, reserved_concurrency = null }
      query     = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = null }
    }
    api_throttling = { rate_limit = 5, burst_limit = 5 }
  }

  expect_failures = [terraform_data.lambda_concurrency_budget]
}

run "reserved_concurrency_must_leave_100_unreserved" {
  command = plan

  variables {
    lambda_concurrency_quota = 10 # a new account's quota
    functions = {
      ingest    = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 5 }
      processor = { timeout_seconds = 30, memory_mb = 256, reserved_concurrency = null }
      query     = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = null }
    }
    api_throttling = { rate_limit = 5, burst_limit = 5 }
  }

  expect_failures = [terraform_data.lambda_concurrency_budget]
}

run "reserved_concurrency_within_the_quota" {
  command   = plan
  state_key = "reserved_within_quota"

  variables {
    lambda_concurrency_quota = 1000
    functions = {
      ingest    = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 300 }
      processor = { timeout_seconds = 30, memory_mb = 256, reserved_concurrency = 300 }
      query     = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 300 }
    }
  }

  assert {
    condition     = terraform_data.lambda_concurrency_budget.input == 900
    error_message = "900 reserved of 1000 leaves exactly the 100 Lambda keeps unreserved."
  }
}

run "password_flows_only_when_asked" {
  command   = plan
  state_key = "password_flows"

  variables {
    password_auth_flows = true
  }

  assert {
    condition     = toset(aws_cognito_user_pool_client.this.explicit_auth_flows) == toset(["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"])
    error_message = "password_auth_flows adds USER_PASSWORD_AUTH and ADMIN_USER_PASSWORD_AUTH."
  }
}
