data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name       = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  artifacts_dir = coalesce(var.artifacts_dir, "${path.module}/../build/functions")
}

# One customer-managed key for the topics, the log groups and the tables. A CMK (not the
# AWS-managed alias/aws/sns) because CloudWatch alarms can only publish to an encrypted topic
# whose key policy admits cloudwatch.amazonaws.com.
# Who uses it: the account's IAM policies (root statement: Terraform, and the function roles,
# each limited to its tables/topics through kms:ViaService in functions.tf); CloudWatch Logs for
# the log groups; CloudWatch alarms for the alerts topic. SNS delivers to the priority queues
# and the subscription DLQs without the key: they use SSE-SQS (modules/priority_pipeline), and
# a CMK there would need a sns.amazonaws.com statement here.
resource "aws_kms_key" "main" {
  description             = "${local.name}: SNS topics, DynamoDB tables and log groups"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersAndDelegatesToIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*" }
        }
      },
      {
        # Alarm actions publish to the encrypted alerts topic with CloudWatch's own identity,
        # so the key policy (not an IAM policy) must admit it; only this account's alarms.
        Sid       = "CloudWatchAlarmsPublishToEncryptedAlertsTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:*" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}
