# ---------------------------------------------------------------- general
variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "project" {
  description = "Project name, first part of every resource name."
  type        = string
  default     = "notif"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project must be 2-16 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (sandbox, dev, prod...), second part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags on every resource (Project and Environment are always set)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------- functions
variable "artifacts_dir" {
  description = "Directory holding <name>.zip for each function; null means ../build/functions next to this stack (where `make build` writes them)."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Instruction set architecture of the functions: x86_64 or arm64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "functions" {
  description = "Per-function settings: timeout (s), memory (MB), reserved concurrency (null: unreserved pool). Keys: ingest, processor, query."
  type = map(object({
    timeout_seconds      = number
    memory_mb            = number
    reserved_concurrency = optional(number)
  }))
  default = {
    ingest    = { timeout_seconds = 10, memory_mb = 512, reserved_concurrency = null }
    processor = { timeout_seconds = 30, memory_mb = 512, reserved_concurrency = null }
    query     = { timeout_seconds = 10, memory_mb = 512, reserved_concurrency = null }
  }

  validation {
    condition     = length(setsubtract(keys(var.functions), ["ingest", "processor", "query"])) == 0 && length(setsubtract(["ingest", "processor", "query"], keys(var.functions))) == 0
    error_message = "functions must have exactly the keys ingest, processor and query."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.timeout_seconds >= 1 && f.timeout_seconds <= 900 && f.memory_mb >= 128 && f.memory_mb <= 10240])
    error_message = "Each function needs 1 <= timeout_seconds <= 900 and 128 <= memory_mb <= 10240."
  }

  validation {
    condition     = alltrue([for k in ["ingest", "query"] : try(var.functions[k].timeout_seconds, 0) <= 29])
    error_message = "ingest and query sit behind API Gateway (29 s integration timeout): their timeout must be <= 29 s."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.reserved_concurrency == null ? true : f.reserved_concurrency >= 0])
    error_message = "reserved_concurrency must be null or >= 0."
  }
}

variable "lambda_concurrency_quota" {
  description = "The account's Lambda concurrent executions quota in this region (Service Quotas code L-B99A9384; 1000 by default, as low as 10 in new accounts). Required as soon as any function reserves concurrency: Lambda keeps 100 executions unreserved, so the reservations must total at most quota - 100 (checked at plan time). null when nothing is reserved."
  type        = number
  default     = null

  validation {
    condition     = var.lambda_concurrency_quota == null ? true : var.lambda_concurrency_quota >= 10 && floor(var.lambda_concurrency_quota) == var.lambda_concurrency_quota
    error_message = "lambda_concurrency_quota must be null or an integer >= 10 (the value Service Quotas shows for L-B99A9384)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the functions."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "tracing_enabled" {
  description = "Active X-Ray tracing on the functions and the API stage."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of every log group in days (a year by default; the sandbox keeps 1 day)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

# ---------------------------------------------------------------- messaging
variable "priorities" {
  description = "Per-priority pipeline settings (keys exactly high, medium, low): event source mapping batch size, batching window (s), maximum concurrency, and the SLO on the queue's age of oldest message (s)."
  type = map(object({
    batch_size                = number
    batching_window_seconds   = number
    maximum_concurrency       = number
    age_of_oldest_slo_seconds = number
  }))
  default = {
    high   = { batch_size = 1, batching_window_seconds = 0, maximum_concurrency = 20, age_of_oldest_slo_seconds = 5 }
    medium = { batch_size = 10, batching_window_seconds = 1, maximum_concurrency = 10, age_of_oldest_slo_seconds = 30 }
    low    = { batch_size = 50, batching_window_seconds = 10, maximum_concurrency = 5, age_of_oldest_slo_seconds = 300 }
  }

  validation {
    condition     = length(setsubtract(keys(var.priorities), ["high", "medium", "low"])) == 0 && length(setsubtract(["high", "medium", "low"], keys(var.priorities))) == 0
    error_message = "priorities must have exactly the keys high, medium and low."
  }

  validation {
    condition     = alltrue([for p in values(var.priorities) : p.batch_size >= 1 && p.batch_size <= 10000 && (p.batch_size <= 10 || p.batching_window_seconds >= 1)])
    error_message = "batch_size must be 1-10000, and above 10 it needs a batching window of at least 1 s."
  }

  validation {
    condition     = alltrue([for p in values(var.priorities) : p.batching_window_seconds >= 0 && p.batching_window_seconds <= 300])
    error_message = "batching_window_seconds must be between 0 and 300."
  }

  validation {
    condition     = alltrue([for p in values(var.priorities) : p.maximum_concurrency >= 2 && p.maximum_concurrency <= 1000])
    error_message = "maximum_concurrency must be between 2 and 1000."
  }

  validation {
    condition     = alltrue([for p in values(var.priorities) : p.age_of_oldest_slo_seconds >= 1])
    error_message = "age_of_oldest_slo_seconds must be >= 1."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the priority queues; must be >= 6 x the processor timeout (checked by a precondition on each queue)."
  type        = number
  default     = 180

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200
    error_message = "queue_visibility_timeout_seconds must be between 0 and 43200."
  }
}

variable "queue_message_retention_seconds" {
  description = "Retention of the priority queues (the DLQs keep messages 14 days)."
  type        = number
  default     = 345600

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "max_receive_count" {
  description = "Receives of a message before SQS moves it to the priority's DLQ (AWS recommends >= 5)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

# ---------------------------------------------------------------- data
variable "priority_shards" {
  description = "Write shards of the by_priority index (PRIORITY_SHARDS of the functions)."
  type        = number
  default     = 4

  validation {
    condition     = var.priority_shards >= 1 && var.priority_shards <= 100 && floor(var.priority_shards) == var.priority_shards
    error_message = "priority_shards must be an integer between 1 and 100."
  }
}

variable "retention_days" {
  description = "Days a stored notification lives before its TTL (expires_at) removes it (RETENTION_DAYS of the processor)."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650
    error_message = "retention_days must be between 1 and 3650."
  }
}

variable "dynamodb_billing_mode" {
  description = "Billing mode of the tables: PAY_PER_REQUEST, or PROVISIONED with target-tracking auto scaling on the tables and every GSI."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.dynamodb_billing_mode)
    error_message = "dynamodb_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "dynamodb_autoscaling" {
  description = "Capacity bounds and target utilization (%) of the auto scaling used when dynamodb_billing_mode is PROVISIONED."
  type = object({
    read_min           = number
    read_max           = number
    write_min          = number
    write_max          = number
    target_utilization = number
  })
  default = {
    read_min           = 5
    read_max           = 100
    write_min          = 5
    write_max          = 100
    target_utilization = 70
  }

  validation {
    condition = (
      var.dynamodb_autoscaling.read_min >= 1 && var.dynamodb_autoscaling.read_min <= var.dynamodb_autoscaling.read_max &&
      var.dynamodb_autoscaling.write_min >= 1 && var.dynamodb_autoscaling.write_min <= var.dynamodb_autoscaling.write_max &&
      var.dynamodb_autoscaling.target_utilization >= 20 && var.dynamodb_autoscaling.target_utilization <= 90
    )
    error_message = "Need 1 <= min <= max for reads and writes and a target utilization between 20 and 90."
  }
}

variable "deletion_protection" {
  description = "Deletion protection on the tables and the user pool (keep true outside throw-away environments)."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the stack's KMS key is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

# ---------------------------------------------------------------- API and auth
variable "api_stage_name" {
  description = "Name of the API Gateway stage."
  type        = string
  default     = "v1"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.api_stage_name))
    error_message = "api_stage_name must be 1-128 letters, digits, '-' or '_'."
  }
}

variable "api_throttling" {
  description = "Stage-wide throttling: steady-state requests per second and burst."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = {
    rate_limit  = 100
    burst_limit = 200
  }

  validation {
    condition     = var.api_throttling.rate_limit > 0 && var.api_throttling.burst_limit >= 1
    error_message = "rate_limit must be > 0 and burst_limit >= 1."
  }
}

variable "manage_api_gateway_account" {
  description = "Set the account-wide API Gateway CloudWatch Logs role in this region (aws_api_gateway_account). The stage always writes access logs, which API Gateway refuses to configure while the account has no such role. Set false only if another stack sets the role, and then declare it with api_gateway_account_has_cloudwatch_role = true."
  type        = bool
  default     = true
}

variable "api_gateway_account_has_cloudwatch_role" {
  description = "With manage_api_gateway_account = false: true declares that the account already has an API Gateway CloudWatch Logs role in this region (`aws apigateway get-account` shows a cloudwatchRoleArn). A precondition on the stage refuses the plan when neither is true."
  type        = bool
  default     = false
}

variable "password_auth_flows" {
  description = "Allow the plain password flows USER_PASSWORD_AUTH and ADMIN_USER_PASSWORD_AUTH on the app client (the sandbox harness signs in with USER_PASSWORD_AUTH). False keeps SRP and refresh tokens only: the password never leaves the client."
  type        = bool
  default     = false
}

variable "password_policy" {
  description = "Password policy of the user pool."
  type = object({
    minimum_length                   = number
    require_lowercase                = bool
    require_uppercase                = bool
    require_numbers                  = bool
    require_symbols                  = bool
    temporary_password_validity_days = number
  })
  default = {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  validation {
    condition     = var.password_policy.minimum_length >= 8 && var.password_policy.minimum_length <= 99
    error_message = "password_policy.minimum_length must be between 8 and 99."
  }
}

variable "token_validity" {
  description = "Validity of the app client's tokens: access and ID tokens in minutes, refresh tokens in days."
  type = object({
    access_minutes = number
    id_minutes     = number
    refresh_days   = number
  })
  default = {
    access_minutes = 60
    id_minutes     = 60
    refresh_days   = 30
  }

  validation {
    condition = (
      var.token_validity.access_minutes >= 5 && var.token_validity.access_minutes <= 1440 &&
      var.token_validity.id_minutes >= 5 && var.token_validity.id_minutes <= 1440 &&
      var.token_validity.refresh_days >= 1 && var.token_validity.refresh_days <= 3650
    )
    error_message = "access/id token validity must be 5-1440 minutes and refresh token validity 1-3650 days."
  }
}

variable "admin_group_name" {
  description = "Cognito group whose members are admins (ADMIN_GROUP of the query function)."
  type        = string
  default     = "admins"
}

variable "sender_group_name" {
  description = "Cognito group whose members may send notifications (SENDER_GROUP of the ingest function)."
  type        = string
  default     = "senders"
}

# ---------------------------------------------------------------- monitoring
variable "alarm_period_seconds" {
  description = "Period of every alarm. AWS standard-resolution metrics need a multiple of 60; 10, 20 or 30 only evaluate anything in the sandbox."
  type        = number
  default     = 60

  validation {
    condition     = contains([10, 20, 30], var.alarm_period_seconds) || (var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0)
    error_message = "alarm_period_seconds must be 10, 20, 30 or a multiple of 60."
  }
}

variable "alarm_evaluation_periods" {
  description = "Evaluation periods of every alarm."
  type        = number
  default     = 1

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && var.alarm_evaluation_periods <= 100
    error_message = "alarm_evaluation_periods must be between 1 and 100."
  }
}

variable "alert_email" {
  description = "E-mail address subscribed to the alerts topic (AWS sends a confirmation e-mail to accept). Required unless environment is sandbox (a precondition on the alerts topic): alarms nobody receives are no monitoring."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null ? true : can(regex("^[^@\\s]+@[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be null or an e-mail address."
  }
}
