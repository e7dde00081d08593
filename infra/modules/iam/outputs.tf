output "execution_role_arn" {
  description = "ARN of the task execution role (ecs-service input execution_role_arn)."
  value       = aws_iam_role.execution.arn
}

output "execution_role_name" {
  description = "Name of the task execution role."
  value       = aws_iam_role.execution.name
}

output "task_role_arn" {
  description = "ARN of the task role (ecs-service input task_role_arn)."
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the task role."
  value       = aws_iam_role.task.name
}

output "role_arns" {
  description = "ARNs of the roles the delivery pipeline passes to ECS when it registers task definitions (its iam:PassRole can be limited to these)."
  value       = concat([aws_iam_role.execution.arn, aws_iam_role.task.arn], aws_iam_role.load_balancer[*].arn)
}

output "load_balancer_role_arn" {
  description = "ARN of the role ECS assumes to shift ALB traffic for ECS-native blue/green (ecs-service blue_green.role_arn); null unless blue_green_load_balancer is set."
  value       = one(aws_iam_role.load_balancer[*].arn)
}

output "execution_policy_json" {
  description = "The execution role's inline policy document, for review."
  value       = aws_iam_role_policy.execution.policy
}

output "task_policy_json" {
  description = "The task role's inline policy document, for review."
  value       = aws_iam_role_policy.task.policy
}
