output "api_url" {
  description = "Base URL of the API."
  value       = module.stack.api_url
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = module.stack.alb_dns_name
}

output "dns_record" {
  description = "The DNS record to create by hand when the stack does not manage the zone; null otherwise."
  value       = module.stack.dns_record
}

output "nat_public_ips" {
  description = "Addresses outbound traffic leaves from."
  value       = module.stack.nat_public_ips
}

output "repository_urls" {
  description = "ECR repository URL by short name, for docker push."
  value       = module.stack.repository_urls
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = module.stack.cluster_name
}

output "service_names" {
  description = "ECS service names of the api and the worker."
  value       = module.stack.service_names
}

output "task_definition_families" {
  description = "Task definition family by kind."
  value       = module.stack.task_definition_families
}

output "migrate_network_configuration" {
  description = "Subnets and security group of the one-off migrate task."
  value       = module.stack.migrate_network_configuration
}

output "run_migrate_command" {
  description = "AWS CLI command that runs the migrate task once."
  value       = module.stack.run_migrate_command
}

output "secret_names" {
  description = "Secrets Manager secret names whose values are set outside Terraform."
  value       = module.stack.secret_names
}

output "database" {
  description = "Database address and the ARN of its RDS-managed credentials secret."
  value       = module.stack.database
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the environment."
  value       = module.stack.dashboard_name
}

output "pipeline" {
  description = "The delivery pipeline: name, stages, release bucket and key."
  value       = module.stack.pipeline
}

output "deploy" {
  description = "Input of `oneshot deploy render --config` (the environment's side of the task definitions)."
  value       = module.stack.deploy
}

output "summary" {
  description = "The environment's main decisions at a glance."
  value       = module.stack.summary
}
