output "kind" {
  description = "What this instance runs: api, worker or migrate."
  value       = var.kind
}

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition revision Terraform registered. The pipeline registers later revisions in the same family."
  value       = aws_ecs_task_definition.this.arn
}

output "task_definition_family" {
  description = "Task definition family, \"<name>-<kind>\"."
  value       = aws_ecs_task_definition.this.family
}

output "task_definition_revision" {
  description = "Revision number of the task definition Terraform registered."
  value       = aws_ecs_task_definition.this.revision
}

output "container_name" {
  description = "Name of the application container in the task definition."
  value       = var.container_name
}

output "container_port" {
  description = "Port the application listens on (null for migrate)."
  value       = local.container_port
}

output "command" {
  description = "Container command in the task definition."
  value       = local.command
}

output "service_name" {
  description = "Name of the ECS service, \"<name>-<kind>\" (the ServiceName metric dimension); null for migrate. Derived from the inputs, so alarms can use it without waiting for the service."
  value       = local.create_service ? local.service_name : null
}

output "service_arn" {
  description = "ARN of the ECS service; null for migrate."
  value       = local.create_service ? aws_ecs_service.this[0].id : null
}

output "log_group_name" {
  description = "Name of the service's CloudWatch log group, \"/ecs/<name>/<kind>\"."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the service's log group. (The iam module derives the same name, /ecs/<name>/<kind>, by itself.)"
  value       = aws_cloudwatch_log_group.this.arn
}

output "log_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the log group (given or created)."
  value       = local.log_kms_key_arn
}

output "network_configuration" {
  description = "Subnets, security groups and public IP setting of the tasks, in the shape the pipeline needs to run the migrate task (aws ecs run-task --network-configuration awsvpcConfiguration=...)."
  value = {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }
}

output "capacity_provider_strategy" {
  description = "Capacity provider strategy of the service (the migrate task can be run with the api's strategy)."
  value       = local.capacity_provider_strategy
}

output "autoscaling_resource_id" {
  description = "Application Auto Scaling resource ID of the service; null for migrate."
  value       = local.create_service ? aws_appautoscaling_target.this[0].resource_id : null
}

output "scaling_policy_arns" {
  description = "ARNs of the scaling policies by purpose (cpu; for the worker also backlog and scale_from_zero). Empty for migrate."
  value = merge(
    local.create_service ? { cpu = aws_appautoscaling_policy.cpu[0].arn } : {},
    local.is_worker ? {
      backlog         = aws_appautoscaling_policy.backlog[0].arn
      scale_from_zero = aws_appautoscaling_policy.scale_from_zero[0].arn
    } : {},
  )
}

output "scale_from_zero_alarm_name" {
  description = "Name of the alarm that wakes the worker from zero; null unless kind is worker."
  value       = local.is_worker ? aws_cloudwatch_metric_alarm.scale_from_zero[0].alarm_name : null
}

output "metric_namespace" {
  description = "CloudWatch namespace of the application's EMF metrics."
  value       = local.metric_namespace
}
