locals {
  provisioned = var.dynamodb_billing_mode == "PROVISIONED"

  # Initial capacity (PROVISIONED only); auto scaling moves it between min and max.
  read_capacity  = local.provisioned ? var.dynamodb_autoscaling.read_min : null
  write_capacity = local.provisioned ? var.dynamodb_autoscaling.write_min : null

  gsi_names = keys(local.notifications_gsis)
}

locals {
  # The notifications table's attributes and GSIs, shared by its two resources below.
  notifications_attributes = { id = "S", user_id = "S", accepted_at = "S", priority_shard = "S" }
  notifications_gsis = {
    # A user's notifications, newest first.
    by_user = { hash_key = "user_id", range_key = "accepted_at" }
    # "<priority>#<n>", n in 0..priority_shards-1: writes spread over shards, reads merge them.
    by_priority = { hash_key = "priority_shard", range_key = "accepted_at" }
  }
}

# The contract's `notifications` table: one item per notification, key `id`. Two resources, one
# per billing mode (exactly one exists, selected by count), because their lifecycles differ:
# in PROVISIONED mode auto scaling owns the capacities, including those inside each GSI block,
# and Terraform cannot ignore only those, so the whole GSI blocks are ignored there; an
# on-demand table has no capacities to ignore and must receive every index change. The rest
# of the stack addresses local.notifications_table.
# Switching dynamodb_billing_mode on an existing deployment: move the state first (see README),
# otherwise Terraform plans a new table (and deletion protection refuses to drop the old one).
resource "aws_dynamodb_table" "notifications_provisioned" {
  count = local.provisioned ? 1 : 0

  name                        = "${local.name}-notifications"
  billing_mode                = "PROVISIONED"
  read_capacity               = local.read_capacity
  write_capacity              = local.write_capacity
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = local.notifications_attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.notifications_gsis
    content {
      name            = global_secondary_index.key
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = "ALL"
      read_capacity   = local.read_capacity
      write_capacity  = local.write_capacity
    }
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
    # Auto scaling owns the capacities (also inside the GSI blocks, hence the whole blocks): to
    # change an index of a PROVISIONED table, remove global_secondary_index here for that apply.
    ignore_changes = [read_capacity, write_capacity, global_secondary_index]
  }
}

resource "aws_dynamodb_table" "notifications_on_demand" {
  count = local.provisioned ? 0 : 1

  name                        = "${local.name}-notifications"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = local.notifications_attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.notifications_gsis
    content {
      name            = global_secondary_index.key
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = "ALL"
    }
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

  # No ignore_changes: index changes reach an on-demand table.
}

# Deployments made before the split had one aws_dynamodb_table.notifications; the AWS example
# (PAY_PER_REQUEST) keeps its table. A PROVISIONED deployment moves its state by hand first
# (README: "Billing mode"); the sandbox starts from a fresh state with every instance.
moved {
  from = aws_dynamodb_table.notifications
  to   = aws_dynamodb_table.notifications_on_demand[0]
}

locals {
  notifications_table = one(concat(aws_dynamodb_table.notifications_provisioned, aws_dynamodb_table.notifications_on_demand))
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
      notifications = "table/${local.notifications_table.name}"
      idempotency   = "table/${aws_dynamodb_table.idempotency.name}"
    },
    { for gsi in local.gsi_names : "notifications-${gsi}" => "table/${local.notifications_table.name}/index/${gsi}" },
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
