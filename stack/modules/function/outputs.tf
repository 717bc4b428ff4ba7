output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function (available once its role may do what it needs, so event source mappings are created after the role policy)."
  value       = aws_lambda_function.this.arn
  depends_on  = [aws_iam_role_policy.function]
}

output "invoke_arn" {
  description = "Invoke ARN, for API Gateway integrations."
  value       = aws_lambda_function.this.invoke_arn
}

output "timeout_seconds" {
  description = "Timeout of the function in seconds."
  value       = aws_lambda_function.this.timeout
}

output "role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "alarm_names" {
  description = "Alarm names by kind (errors, throttles)."
  value = {
    errors    = aws_cloudwatch_metric_alarm.errors.alarm_name
    throttles = aws_cloudwatch_metric_alarm.throttles.alarm_name
  }
}

output "handler" {
  description = "Handler of the function."
  value       = aws_lambda_function.this.handler
}

output "environment" {
  description = "Environment variables of the function (no secrets by design)."
  value       = aws_lambda_function.this.environment[0].variables
}

output "policy_json" {
  description = "The role's inline policy for what the function does besides logging and tracing (JSON)."
  value       = aws_iam_role_policy.function.policy
}
