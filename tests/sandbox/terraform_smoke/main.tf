# Smallest stack touching each service the system's Terraform uses (see test_terraform_smoke.py).
# tflocal adds the provider endpoint overrides; the test runs it in a temp copy of this folder.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

variable "prefix" {
  type = string
}

resource "aws_sqs_queue" "smoke" {
  name = "${var.prefix}-queue"
}

resource "aws_dynamodb_table" "smoke" {
  name           = "${var.prefix}-table"
  billing_mode   = "PROVISIONED"
  read_capacity  = 1
  write_capacity = 1
  hash_key       = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "owner"
    type = "S"
  }

  global_secondary_index {
    name            = "by-owner"
    hash_key        = "owner"
    projection_type = "ALL"
    read_capacity   = 1
    write_capacity  = 1
  }
}

resource "aws_cognito_user_pool" "smoke" {
  name = "${var.prefix}-users"
}

resource "aws_cognito_user_pool_client" "smoke" {
  name         = "${var.prefix}-client"
  user_pool_id = aws_cognito_user_pool.smoke.id
}

resource "aws_appautoscaling_target" "table_reads" {
  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.smoke.name}"
  scalable_dimension = "dynamodb:table:ReadCapacityUnits"
  min_capacity       = 1
  max_capacity       = 5
}

output "queue_url" {
  value = aws_sqs_queue.smoke.url
}
