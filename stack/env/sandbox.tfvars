# The LocalStack sandbox (applied with tflocal, local state). No secrets here.
region      = "us-east-1"
project     = "notif"
environment = "sandbox"

architecture = "x86_64"
log_level    = "DEBUG"

# Sized for fidelity, not for test speed: a cold start of the processor on a loaded 2-core
# machine takes 1-3 s, so 10 s leaves room and ordinary traffic never times out. The failure
# suites get their speed from explicit means instead (bodies the processor dead-letters at once,
# paused mappings, test-only queues and function variants: integration_tests/).
# Reserved concurrency: processor 10 >= the sum of the priorities' maximum concurrency (9);
# ingest and query 20 >= the stage's burst (20), so a burst the stage admits never meets a
# throttled Lambda (a 502) but is shaped by the stage (429). An environment is ~65 MB.
# LocalStack's account concurrency is 1000 like AWS's default: 50 reserved leaves 950.
lambda_concurrency_quota = 1000
functions = {
  ingest    = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 20 }
  processor = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 10 }
  query     = { timeout_seconds = 10, memory_mb = 256, reserved_concurrency = 20 }
}

# high: one message per batch, invoked as soon as it arrives (window 0), the most pollers.
# medium/low: batches of up to 10 collected for at most 1 s / 2 s, fewer pollers, so that a
# flood of low priority costs few invocations and leaves the CPU to high. Age SLOs are a few
# seconds so that a paused mapping trips the age alarm within one test.
priorities = {
  high   = { batch_size = 1, batching_window_seconds = 0, maximum_concurrency = 4, age_of_oldest_slo_seconds = 3 }
  medium = { batch_size = 10, batching_window_seconds = 1, maximum_concurrency = 3, age_of_oldest_slo_seconds = 4 }
  low    = { batch_size = 10, batching_window_seconds = 2, maximum_concurrency = 2, age_of_oldest_slo_seconds = 6 }
}

queue_visibility_timeout_seconds = 60 # 6 x processor timeout (AWS's guidance)
max_receive_count                = 5  # AWS's guidance: >= 5, so a throttled batch is not dead-lettered

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

# Backpressure instead of loss (enforced by sandbox/plugins/api_throttling.py): past 40/s
# clients get 429 and retry, instead of a backlog that grows without bound. The pipeline
# sustains 24/s on a 2-core machine (make load, December 1); between the two the queues take
# the excess (at 28/s the low queue grew by ~3 messages/s). burst <= ingest's reserved
# concurrency (precondition).
api_throttling = {
  rate_limit  = 40
  burst_limit = 20
}
manage_api_gateway_account = true

# harness/users.py and the integration tests sign in with USER_PASSWORD_AUTH.
password_auth_flows = true

# The sandbox evaluates short periods; AWS needs multiples of 60 for standard metrics.
alarm_period_seconds     = 10
alarm_evaluation_periods = 1
