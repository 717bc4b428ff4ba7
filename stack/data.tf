locals {
  provisioned = var.dynamodb_billing_mode == "PROVISIONED"

  # Initial capacity (PROVISIONED only); auto scaling moves it between min and max.
  read_capacity  = local.provisioned ? var.dynamodb_autoscaling.read_min : null
  write_capacity = local.provisioned ? var.dynamodb_autoscaling.write_min : null

  gsi_names = ["by_user", "by_priority"]
}

# The contract's `notifications` table: one item per notification, key `id`.
resource "aws_dynamodb_table" "notifications" {
  name                        = "${local.name}-notifications"
  billing_mode                = var.dynamodb_billing_mode
  read_capacity               = local.read_capacity
  write_capacity              = local.write_capacity
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "user_id"
    type = "S"
  }

  attribute {
    name = "accepted_at"
    type = "S"
  }

  attribute {
    name = "priority_shard"
    type = "S"
  }

  # A user's notifications, newest first.
  global_secondary_index {
    name            = "by_user"
    hash_key        = "user_id"
    range_key       = "accepted_at"
    projection_type = "ALL"
    read_capacity   = local.read_capacity
    write_capacity  = local.write_capacity
  }

  # "<priority>#<n>", n in 0..priority_shards-1: writes spread over shards, reads merge them.
  global_secondary_index {
    name            = "by_priority"
    hash_key        = "priority_shard"
    range_key       = "accepted_at"
    projection_type = "ALL"
    read_capacity   = local.read_capacity
    write_capacity  = local.write_capacity
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  lifecycle {
    # Auto scaling owns the capacities in PROVISIONED mode. Terraform cannot ignore only the
    # capacities inside a GSI block, so changes to the GSIs' definitions are ignored as well:
    # to change an index, remove this entry for that apply.
    ignore_changes = [read_capacity, write_capacity, global_secondary_index]
  }
}

# Powertools idempotency records of the ingest function (key `id`, TTL `expiration`).
resource "aws_dynamodb_table" "idempotency" {
  name                        = "${local.name}-idempotency"
  billing_mode                = var.dynamodb_billing_mode
  read_capacity               = local.read_capacity
  write_capacity              = local.write_capacity
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  lifecycle {
    ignore_changes = [read_capacity, write_capacity]
  }
}

# ---------------------------------------------------------------- auto scaling (PROVISIONED)
locals {
  scalable_resources = merge(
    {
      notifications = "table/${aws_dynamodb_table.notifications.name}"
      idempotency   = "table/${aws_dynamodb_table.idempotency.name}"
    },
    { for gsi in local.gsi_names : "notifications-${gsi}" => "table/${aws_dynamodb_table.notifications.name}/index/${gsi}" },
  )

  scaling_targets = local.provisioned ? merge([
    for key, resource_id in local.scalable_resources : {
      for io in ["read", "write"] : "${key}-${io}" => {
        resource_id = resource_id
        dimension   = "dynamodb:${strcontains(resource_id, "/index/") ? "index" : "table"}:${io == "read" ? "Read" : "Write"}CapacityUnits"
        metric      = "DynamoDB${io == "read" ? "Read" : "Write"}CapacityUtilization"
        min         = io == "read" ? var.dynamodb_autoscaling.read_min : var.dynamodb_autoscaling.write_min
        max         = io == "read" ? var.dynamodb_autoscaling.read_max : var.dynamodb_autoscaling.write_max
      }
    }
  ]...) : {}
}

resource "aws_appautoscaling_target" "dynamodb" {
  for_each = local.scaling_targets

  service_namespace  = "dynamodb"
  resource_id        = each.value.resource_id
  scalable_dimension = each.value.dimension
  min_capacity       = each.value.min
  max_capacity       = each.value.max
}

resource "aws_appautoscaling_policy" "dynamodb" {
  for_each = local.scaling_targets

  name               = "${local.name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.dynamodb[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.dynamodb[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.dynamodb[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.dynamodb_autoscaling.target_utilization

    predefined_metric_specification {
      predefined_metric_type = each.value.metric
    }
  }
}
