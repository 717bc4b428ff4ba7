# The LocalStack sandbox (applied with tflocal, local state). No secrets here.
region      = "us-east-1"
project     = "notif"
environment = "sandbox"

architecture = "x86_64"
log_level    = "DEBUG"

functions = {
  ingest    = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 10 }
  processor = { timeout_seconds = 1, memory_mb = 256, reserved_concurrency = 10 }
  query     = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 10 }
}

# Short settings so the failure suites (integration_tests/) see retries, dead-lettering and
# alarms within seconds: a poison message reaches its DLQ after max_receive_count x the
# visibility timeout (2 x 6 s), and the age SLOs are a few seconds (a paused mapping trips them).
priorities = {
  high   = { batch_size = 1, batching_window_seconds = 0, maximum_concurrency = 4, age_of_oldest_slo_seconds = 3 }
  medium = { batch_size = 10, batching_window_seconds = 1, maximum_concurrency = 3, age_of_oldest_slo_seconds = 4 }
  low    = { batch_size = 10, batching_window_seconds = 1, maximum_concurrency = 2, age_of_oldest_slo_seconds = 5 }
}

queue_visibility_timeout_seconds = 6 # 6 x processor timeout
max_receive_count                = 2

log_retention_days       = 1
kms_deletion_window_days = 7
deletion_protection      = false

dynamodb_billing_mode = "PROVISIONED"
dynamodb_autoscaling = {
  read_min           = 5
  read_max           = 50
  write_min          = 5
  write_max          = 50
  target_utilization = 70
}

api_throttling = {
  rate_limit  = 50
  burst_limit = 100
}
manage_api_gateway_account = true

# The sandbox evaluates short periods; AWS needs multiples of 60 for standard metrics.
alarm_period_seconds     = 10
alarm_evaluation_periods = 1
