terraform {
  # 1.5+ for the configuration; `terraform test` with mock providers (stack/tests) needs 1.7+.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # No backend block: the sandbox keeps local state. For AWS, copy
  # env/backend_override.tf.example to backend_override.tf and run
  # `terraform init -backend-config=env/aws.s3.tfbackend` (see README.md).
}
