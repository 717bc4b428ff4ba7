# A stack touching each service the system's Terraform uses, with the settings whose read-back
# Terraform compares (see test_terraform_smoke.py: apply, plan, update, plan, destroy).
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

variable "rcu" {
  type    = number
  default = 5
}

variable "tags" {
  type    = map(string)
  default = { team = "notify" }
}

# Not tagged with var.tags: every change of a queue costs the AWS provider's 25 s wait.
resource "aws_sqs_queue" "smoke" {
  name = "${var.prefix}-queue"
}

resource "aws_dynamodb_table" "provisioned" {
  name           = "${var.prefix}-table"
  billing_mode   = "PROVISIONED"
  read_capacity  = var.rcu
  write_capacity = 5
  hash_key       = "pk"
  range_key      = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "user"
    type = "S"
  }

  global_secondary_index {
    name            = "by-user"
    hash_key        = "user"
    range_key       = "sk"
    projection_type = "ALL"
    read_capacity   = 5
    write_capacity  = 5
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "on_demand" {
  name         = "${var.prefix}-od"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }
}

resource "aws_cognito_user_pool" "smoke" {
  name = "${var.prefix}-users"
  tags = var.tags
}

resource "aws_cognito_user_pool_client" "smoke" {
  name                = "web"
  user_pool_id        = aws_cognito_user_pool.smoke.id
  explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
}

resource "aws_cognito_user_group" "admins" {
  name         = "admins"
  user_pool_id = aws_cognito_user_pool.smoke.id
}

resource "aws_cognito_user" "alice" {
  user_pool_id = aws_cognito_user_pool.smoke.id
  username     = "alice"
  password     = "Passw0rd!x"
}

resource "aws_appautoscaling_target" "gsi_reads" {
  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.provisioned.name}/index/by-user"
  scalable_dimension = "dynamodb:index:ReadCapacityUnits"
  min_capacity       = 5
  max_capacity       = 20
  tags               = var.tags
}

resource "aws_appautoscaling_policy" "gsi_reads" {
  name               = "gsi-read"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.gsi_reads.service_namespace
  resource_id        = aws_appautoscaling_target.gsi_reads.resource_id
  scalable_dimension = aws_appautoscaling_target.gsi_reads.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = 70

    predefined_metric_specification {
      predefined_metric_type = "DynamoDBReadCapacityUtilization"
    }
  }
}

output "queue_url" {
  value = aws_sqs_queue.smoke.url
}
