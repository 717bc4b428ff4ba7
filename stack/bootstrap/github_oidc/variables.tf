variable "region" {
  description = "Region of the stack the roles may manage (and of these IAM resources' API calls)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "project" {
  description = "The stack's var.project: the roles may manage only resources named <project>-<environment>-*."
  type        = string
  default     = "notif"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project must be 2-16 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "environment" {
  description = "The stack's var.environment (second part of every resource name), e.g. prod."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may assume the roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_environment" {
  description = "The GitHub environment (with required reviewers) of the deploy job: only its jobs may assume the deploy and smoke roles."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,255}$", var.github_environment))
    error_message = "github_environment must be 1-255 letters, digits, '.', '_' or '-'."
  }
}

variable "plan_branch" {
  description = "Branch whose workflow runs (besides pull requests of this repository) may assume the read-only plan role."
  type        = string
  default     = "main"

  validation {
    condition     = length(var.plan_branch) > 0 && !strcontains(var.plan_branch, "*")
    error_message = "plan_branch must be one branch name, without wildcards."
  }
}

variable "state_bucket" {
  description = "S3 bucket of the stack's Terraform state (stack/env/aws.s3.tfbackend: bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-')."
  }
}

variable "state_key" {
  description = "Object key of the stack's state (stack/env/aws.s3.tfbackend: key); the lock file is <key>.tflock."
  type        = string

  validation {
    condition     = length(var.state_key) > 0 && !startswith(var.state_key, "/") && !strcontains(var.state_key, "*")
    error_message = "state_key must be a non-empty key without a leading '/' or wildcards."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (one per account); false uses the existing one."
  type        = bool
  default     = true
}

variable "smoke_role" {
  description = "Create the smoke role with which deploy.yml runs the integration suites and the load test against the deployed stack after apply."
  type        = bool
  default     = true
}

variable "max_session_seconds" {
  description = "Maximum session of each role (deploy.yml's deploy job must finish within it)."
  type        = number
  default     = 7200

  validation {
    condition     = var.max_session_seconds >= 3600 && var.max_session_seconds <= 43200
    error_message = "max_session_seconds must be between 3600 and 43200."
  }
}
