# The priority_pipeline module on its own: its visibility-timeout precondition.
# (expect_failures only accepts objects of the module under test, so this file runs the
# module directly; the stack passes var.functions["processor"].timeout_seconds to it.)

mock_provider "aws" {
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:notif-test-high"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/notif-test-high"
    }
  }
}

variables {
  name_prefix                = "notif-test"
  priority                   = "high"
  topic_arn                  = "arn:aws:sns:us-east-1:123456789012:notif-test-notifications"
  planned_topic_arn          = "arn:aws:sns:us-east-1:123456789012:notif-test-notifications"
  function_arn               = "arn:aws:lambda:us-east-1:123456789012:function:notif-test-processor"
  batch_size                 = 1
  batching_window_seconds    = 0
  maximum_concurrency        = 2
  age_of_oldest_slo_seconds  = 5
  processor_timeout_seconds  = 60
  visibility_timeout_seconds = 360
}

run "six_times_the_processor_timeout_is_enough" {
  module {
    source = "./modules/priority_pipeline"
  }

  command = plan

  assert {
    condition     = aws_sqs_queue.queue.visibility_timeout_seconds == 360
    error_message = "Visibility timeout not passed through."
  }
}

run "visibility_timeout_below_six_times_processor_timeout_fails" {
  module {
    source = "./modules/priority_pipeline"
  }

  command = plan

  variables {
    visibility_timeout_seconds = 359
  }

  expect_failures = [aws_sqs_queue.queue]
}

run "unknown_priority_rejected" {
  module {
    source = "./modules/priority_pipeline"
  }

  command = plan

  variables {
    priority = "urgent"
  }

  expect_failures = [var.priority]
}

run "dlq_admits_only_its_queue" {
  module {
    source = "./modules/priority_pipeline"
  }

  command = apply

  assert {
    condition     = tolist(jsondecode(aws_sqs_queue.dlq.redrive_allow_policy).sourceQueueArns) == tolist([aws_sqs_queue.queue.arn])
    error_message = "The DLQ's redrive allow policy must name exactly its queue's ARN."
  }
}
