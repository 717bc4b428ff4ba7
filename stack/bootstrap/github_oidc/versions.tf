terraform {
  # `terraform test` with mock providers (tests/) needs 1.7+.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # No backend block: applied once by an administrator, with local state or a backend of their
  # choosing (a *_override.tf, as stack/env/backend_override.tf.example shows).
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = var.project
      ManagedBy = "terraform"
      Purpose   = "github-actions-oidc"
    }
  }
}
