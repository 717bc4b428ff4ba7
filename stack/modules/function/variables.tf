variable "name" {
  description = "Function name (also the basis of the role and log group names)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters of letters, digits, '-' or '_'."
  }
}

variable "description" {
  description = "Human-readable description of the function."
  type        = string
  default     = ""
}

variable "package_path" {
  description = "Path of the function's zip artifact (built by `make build`)."
  type        = string
}

variable "handler" {
  description = "Handler in module.function form, e.g. ingest.app.handler."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.13"
}

variable "architecture" {
  description = "Instruction set architecture: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "timeout_seconds" {
  description = "Function timeout in seconds."
  type        = number

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "memory_mb" {
  description = "Memory size in MB."
  type        = number

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; null leaves the function on the unreserved pool."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null ? true : var.reserved_concurrency >= 0
    error_message = "reserved_concurrency must be null or >= 0."
  }
}

variable "environment" {
  description = "Environment variables of the function (no secrets: they are visible to anyone who can read the function configuration)."
  type        = map(string)
  default     = {}
}

variable "policy_json" {
  description = "Least-privilege IAM policy document (JSON) for what the function does besides logging and tracing."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key ARN encrypting the log group; null uses CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "tracing_enabled" {
  description = "Active X-Ray tracing."
  type        = bool
  default     = true
}

variable "alarm_period_seconds" {
  description = "Period of the Errors and Throttles alarms."
  type        = number
  default     = 60
}

variable "alarm_evaluation_periods" {
  description = "Evaluation periods of the Errors and Throttles alarms."
  type        = number
  default     = 1
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm changes to ALARM or back to OK."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of every resource in the module."
  type        = map(string)
  default     = {}
}
