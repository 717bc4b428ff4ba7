# Plans the stack (mocked provider) with a tfvars file given on the command line, so every
# validation and precondition runs against the real environment settings:
#   terraform test -test-directory=tests/tfvars -var-file=env/sandbox.tfvars -var artifacts_dir=./tests/fixtures
#   terraform test -test-directory=tests/tfvars -var-file=env/aws.tfvars.example -var artifacts_dir=./tests/fixtures

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
}

run "plan_with_tfvars" {
  command = plan

  assert {
    condition     = length(module.priority_pipeline) == 3
    error_message = "One pipeline per priority."
  }

  assert {
    condition     = var.queue_visibility_timeout_seconds >= 6 * var.functions["processor"].timeout_seconds
    error_message = "Visibility timeout must be >= 6 x the processor timeout."
  }

  assert {
    condition     = length(aws_appautoscaling_target.dynamodb) == (var.dynamodb_billing_mode == "PROVISIONED" ? 8 : 0)
    error_message = "PROVISIONED needs auto scaling on both tables and every GSI (read and write); PAY_PER_REQUEST none."
  }

  assert {
    condition = (
      var.functions["processor"].reserved_concurrency == null ? true :
      var.functions["processor"].reserved_concurrency >= sum([for p in values(var.priorities) : p.maximum_concurrency])
    )
    error_message = "The processor's reserved concurrency must cover the sum of the event source mappings' maximum concurrency."
  }

  # The preconditions (alert subscriber, API Gateway CloudWatch role, reserved concurrency within
  # the quota) run with the plan; these restate what each environment needs.
  assert {
    condition     = var.environment == "sandbox" ? contains(aws_cognito_user_pool_client.this.explicit_auth_flows, "ALLOW_USER_PASSWORD_AUTH") : !contains(aws_cognito_user_pool_client.this.explicit_auth_flows, "ALLOW_USER_PASSWORD_AUTH") && !contains(aws_cognito_user_pool_client.this.explicit_auth_flows, "ALLOW_ADMIN_USER_PASSWORD_AUTH")
    error_message = "Password auth flows in the sandbox only (harness/users.py signs in with USER_PASSWORD_AUTH)."
  }

  assert {
    condition     = var.environment == "sandbox" || length(aws_sns_topic_subscription.alert_email) == 1
    error_message = "Outside the sandbox the alerts topic needs a subscriber."
  }

  assert {
    condition     = var.manage_api_gateway_account || var.api_gateway_account_has_cloudwatch_role
    error_message = "The stage's access logs need the account's API Gateway CloudWatch role."
  }

  assert {
    condition     = length(aws_dynamodb_table.notifications_provisioned) == (var.dynamodb_billing_mode == "PROVISIONED" ? 1 : 0) && length(aws_dynamodb_table.notifications_on_demand) == (var.dynamodb_billing_mode == "PROVISIONED" ? 0 : 1)
    error_message = "One notifications table resource, the one of the billing mode."
  }

  assert {
    condition = (
      alltrue([for f in values(var.functions) : f.reserved_concurrency == null]) ? true :
      var.lambda_concurrency_quota == null ? false :
      sum([for f in values(var.functions) : coalesce(f.reserved_concurrency, 0)]) <= var.lambda_concurrency_quota - 100
    )
    error_message = "Reservations must fit the declared quota minus the 100 Lambda keeps unreserved."
  }
}
