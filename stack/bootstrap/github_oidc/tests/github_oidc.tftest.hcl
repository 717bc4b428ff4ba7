# The bootstrap module with a mocked AWS provider: who may assume which role, and what each
# role may do (statements decoded from the planned policies).

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
}

variables {
  region            = "eu-west-1"
  project           = "notif"
  environment       = "prod"
  github_repository = "acme/notifications"
  state_bucket      = "acme-terraform-state"
  state_key         = "notifications/prod/terraform.tfstate"
}

run "only_the_environment_may_deploy" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_role.github["deploy"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:acme/notifications:environment:production"]
    error_message = "The deploy role must trust only jobs of the production environment."
  }

  assert {
    condition     = jsondecode(aws_iam_role.github["smoke"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:acme/notifications:environment:production"]
    error_message = "The smoke role must trust only jobs of the production environment."
  }

  assert {
    condition     = jsondecode(aws_iam_role.github["plan"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:acme/notifications:pull_request", "repo:acme/notifications:ref:refs/heads/main"]
    error_message = "The plan role must trust pull requests of the repository and runs on main only."
  }

  assert {
    condition     = alltrue([for r in values(aws_iam_role.github) : jsondecode(r.assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"])
    error_message = "Every role must require the STS audience."
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 1
    error_message = "The OIDC provider is created by default."
  }
}

run "least_privilege" {
  command = plan

  # No statement grants a whole service or everything.
  assert {
    condition = alltrue(flatten([
      for p in concat(values(aws_iam_role_policy.github), [aws_iam_policy.read]) : [
        for s in jsondecode(p.policy).Statement : [for a in s.Action : a != "*" && !endswith(a, ":*")]
      ]
    ]))
    error_message = "A statement grants a whole service (\"svc:*\" or \"*\")."
  }

  # IAM's limits: 10,240 characters of inline policy per role, 6,144 per managed policy.
  assert {
    condition     = alltrue([for p in values(aws_iam_role_policy.github) : length(p.policy) <= 10240]) && length(aws_iam_policy.read.policy) <= 6144
    error_message = "A policy exceeds IAM's size limits."
  }

  # The plan role only reads: the read policy and nothing else.
  assert {
    condition     = !contains(keys(aws_iam_role_policy.github), "plan") && keys(aws_iam_role_policy_attachment.read) == ["deploy", "plan"]
    error_message = "The plan role must have the read policy only."
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_policy.read.policy).Statement : [
        for a in s.Action : can(regex(":(Get|List|Describe)", a)) || a == "apigateway:GET"
      ]
    ]))
    error_message = "The plan role may only Get/List/Describe."
  }

  # The smoke role cannot change IAM (it may only pass the stack's roles to Lambda).
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.github["smoke"].policy).Statement : [
        for a in s.Action : !startswith(a, "iam:") || a == "iam:PassRole"
      ]
    ]))
    error_message = "The smoke role must not write IAM."
  }

  # The smoke role uses the stack's key only through DynamoDB and SNS.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.github["smoke"].policy).Statement :
      try(length(s.Condition.StringEquals["kms:ViaService"]) > 0, false)
      if anytrue([for a in s.Action : startswith(a, "kms:")])
    ])
    error_message = "The smoke role may use KMS only through DynamoDB and SNS (kms:ViaService)."
  }

  # The deploy role creates and passes only the stack's roles.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.github["deploy"].policy).Statement :
      s.Resource == ["arn:aws:iam::123456789012:role/notif-prod-*"]
      if contains(s.Action, "iam:CreateRole") || contains(s.Action, "iam:PassRole") || contains(s.Action, "iam:PutRolePolicy")
    ])
    error_message = "IAM role writes must be scoped to role/notif-prod-*."
  }

  # The state: this key and its lock file, nothing else in the bucket.
  assert {
    condition = alltrue(flatten([
      for s in concat(jsondecode(aws_iam_role_policy.github["deploy"].policy).Statement, jsondecode(aws_iam_policy.read.policy).Statement) : [
        for r in s.Resource : startswith(r, "arn:aws:s3:::acme-terraform-state/notifications/prod/terraform.tfstate") || r == "arn:aws:s3:::acme-terraform-state"
      ] if anytrue([for a in s.Action : startswith(a, "s3:")])
    ]))
    error_message = "S3 permissions must name the state key, its lock file or the bucket (listing)."
  }
}

run "without_smoke_role_and_with_an_existing_provider" {
  command = plan

  variables {
    smoke_role           = false
    create_oidc_provider = false
  }

  assert {
    condition     = keys(aws_iam_role.github) == ["deploy", "plan"]
    error_message = "smoke_role = false must not create the smoke role."
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0 && output.oidc_provider_arn == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    error_message = "create_oidc_provider = false must use the existing provider."
  }
}

run "repository_must_be_owner_slash_name" {
  command = plan

  variables {
    github_repository = "notifications"
  }

  expect_failures = [var.github_repository]
}
