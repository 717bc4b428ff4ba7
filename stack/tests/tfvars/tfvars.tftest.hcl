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
}
