variable "name_prefix" {
  description = "Prefix of every resource name; queues are named <name_prefix>-<priority>[-dlq|-sub-dlq]."
  type        = string
}

variable "priority" {
  description = "The priority this pipeline carries (the value of the `priority` message attribute)."
  type        = string

  validation {
    condition     = contains(["high", "medium", "low"], var.priority)
    error_message = "priority must be high, medium or low."
  }
}

variable "topic_arn" {
  description = "ARN of the notifications topic the queue subscribes to."
  type        = string
}

variable "planned_topic_arn" {
  description = "The same topic's ARN built from its name (known before the topic exists), for the queue policies: the queues need not wait for the topic and its KMS key."
  type        = string

  validation {
    condition     = can(regex("^arn:[^:]+:sns:[^:]+:[0-9]{12}:[^:]+$", var.planned_topic_arn))
    error_message = "planned_topic_arn must be an SNS topic ARN."
  }
}

variable "function_arn" {
  description = "ARN of the processor function consuming the queue."
  type        = string
}

variable "processor_timeout_seconds" {
  description = "Timeout of the processor function; the queue's visibility timeout must be at least 6 times it."
  type        = number
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the queue (>= 6 x processor timeout, as AWS recommends for event source mappings)."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 0 and 43200."
  }
}

variable "message_retention_seconds" {
  description = "Retention of the queue."
  type        = number
  default     = 345600
}

variable "dlq_message_retention_seconds" {
  description = "Retention of the DLQs (longer than the queue's so a redriven message does not expire at once)."
  type        = number
  default     = 1209600
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "batch_size" {
  description = "Event source mapping batch size."
  type        = number
}

variable "batching_window_seconds" {
  description = "Event source mapping maximum batching window in seconds (0: none)."
  type        = number
}

variable "maximum_concurrency" {
  description = "Event source mapping maximum concurrency (2-1000)."
  type        = number
}

variable "age_of_oldest_slo_seconds" {
  description = "SLO on ApproximateAgeOfOldestMessage; the alarm fires above it."
  type        = number
}

variable "alarm_period_seconds" {
  description = "Period of the pipeline's alarms."
  type        = number
  default     = 60
}

variable "alarm_evaluation_periods" {
  description = "Evaluation periods of the pipeline's alarms."
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
