output "alb_security_group_id" {
  description = "ID of the ALB security group (give it to the alb module)."
  value       = aws_security_group.this["alb"].id
}

output "api_security_group_id" {
  description = "ID of the API tasks' security group (network configuration of the api ECS service)."
  value       = aws_security_group.this["api"].id
}

output "worker_security_group_id" {
  description = "ID of the worker tasks' security group (network configuration of the worker ECS service)."
  value       = aws_security_group.this["worker"].id
}

output "migrate_security_group_id" {
  description = "ID of the migration task's security group (network configuration of the one-off migrate task)."
  value       = aws_security_group.this["migrate"].id
}

output "database_security_group_id" {
  description = "ID of the database security group (give it to the database module as security_group_id)."
  value       = aws_security_group.this["database"].id
}

output "security_group_ids" {
  description = "All security group IDs by role: alb, api, worker, migrate, database."
  value       = { for role, sg in aws_security_group.this : role => sg.id }
}

output "security_group_arns" {
  description = "All security group ARNs by role: alb, api, worker, migrate, database."
  value       = { for role, sg in aws_security_group.this : role => sg.arn }
}

output "app_port" {
  description = "The app port the ALB-to-API rules were built for (pass the same value to the alb module and the api task definition)."
  value       = var.app_port
}

output "database_port" {
  description = "The PostgreSQL port the database rules were built for."
  value       = var.database_port
}
