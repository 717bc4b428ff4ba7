# GitHub Actions -> AWS without stored keys: the account's OIDC provider for GitHub's token
# issuer and three roles that .github/workflows/deploy.yml assumes (policies in policies.tf):
#   plan   - read-only, for pull requests of this repository and runs on plan_branch;
#   deploy - manages this stack's resources, only for jobs in the GitHub environment;
#   smoke  - the post-deploy suites and load test, same environment, cannot change the stack.
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  issuer   = "token.actions.githubusercontent.com"
  audience = "sts.amazonaws.com"

  provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn

  subjects = {
    plan = [
      "repo:${var.github_repository}:pull_request",
      "repo:${var.github_repository}:ref:refs/heads/${var.plan_branch}",
    ]
    deploy = ["repo:${var.github_repository}:environment:${var.github_environment}"]
    smoke  = ["repo:${var.github_repository}:environment:${var.github_environment}"]
  }

  roles = { for name, policy in local.policies : name => policy if name != "smoke" || var.smoke_role }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = [local.audience]
  # No thumbprint_list: AWS verifies GitHub's issuer with its own trusted root CAs.
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.issuer}"
}

resource "aws_iam_role" "github" {
  for_each = local.roles

  name                 = "${local.name}-github-${each.key}"
  description          = "GitHub Actions (${var.github_repository}) ${each.key} role of the ${local.name} stack"
  max_session_duration = var.max_session_seconds

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = local.provider_arn }
      Condition = {
        StringEquals = {
          "${local.issuer}:aud" = local.audience
          "${local.issuer}:sub" = local.subjects[each.key]
        }
      }
    }]
  })
}

resource "aws_iam_role_policy" "github" {
  for_each = { for name, statements in local.roles : name => statements if length(statements) > 0 }

  name   = each.key
  role   = aws_iam_role.github[each.key].id
  policy = jsonencode({ Version = "2012-10-17", Statement = each.value })
}

# What Terraform reads to refresh the stack: the plan role's only permissions, and the deploy
# role's besides its inline policy.
resource "aws_iam_policy" "read" {
  name        = "${local.name}-github-read"
  description = "Read the ${local.name} stack and its Terraform state (GitHub Actions plan/deploy)"
  policy      = jsonencode({ Version = "2012-10-17", Statement = local.read_statements })
}

resource "aws_iam_role_policy_attachment" "read" {
  for_each = toset(["plan", "deploy"])

  role       = aws_iam_role.github[each.key].name
  policy_arn = aws_iam_policy.read.arn
}
