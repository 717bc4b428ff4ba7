# The values deploy.yml reads from repository variables (README.md, CI/CD).
output "plan_role_arn" {
  description = "AWS_PLAN_ROLE_ARN: read-only role of the plan job."
  value       = aws_iam_role.github["plan"].arn
}

output "deploy_role_arn" {
  description = "AWS_DEPLOY_ROLE_ARN: role of the deploy job (GitHub environment only)."
  value       = aws_iam_role.github["deploy"].arn
}

output "smoke_role_arn" {
  description = "AWS_SMOKE_ROLE_ARN: role of the post-deploy suites and load test (null when smoke_role = false)."
  value       = try(aws_iam_role.github["smoke"].arn, null)
}

output "oidc_provider_arn" {
  description = "The account's GitHub OIDC provider."
  value       = local.provider_arn
}
