# Services that name FARGATE/FARGATE_SPOT in their strategy fail to create
# until the capacity providers are attached, so the cluster outputs wait for
# the attachment.
output "cluster_name" {
  description = "Name of the ECS cluster (the ClusterName dimension of its Container Insights metrics). Available once the capacity providers are attached."
  value       = aws_ecs_cluster_capacity_providers.this.cluster_name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster, for the services' cluster argument. Available once the capacity providers are attached."
  value       = aws_ecs_cluster.this.arn
  depends_on  = [aws_ecs_cluster_capacity_providers.this]
}

output "cluster_id" {
  description = "ID of the ECS cluster."
  value       = aws_ecs_cluster.this.id
}

output "capacity_providers" {
  description = "Capacity providers attached to the cluster."
  value       = aws_ecs_cluster_capacity_providers.this.capacity_providers
}

output "service_connect_namespace_arn" {
  description = "ARN of the Cloud Map HTTP namespace that is the cluster's Service Connect default."
  value       = aws_service_discovery_http_namespace.this.arn
}

output "service_connect_namespace_id" {
  description = "ID of the Service Connect namespace."
  value       = aws_service_discovery_http_namespace.this.id
}

output "service_connect_namespace_name" {
  description = "Name of the Service Connect namespace."
  value       = aws_service_discovery_http_namespace.this.name
}

output "kms_key_arn" {
  description = "ARN of the cluster's KMS key. Pass it to ecs-service (log_kms_key_arn) to encrypt the service log groups, and to iam (exec_kms_key_arn) so tasks can open ECS Exec sessions."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the cluster's KMS key."
  value       = aws_kms_key.this.key_id
}

output "log_group_prefix" {
  description = "Prefix (\"/ecs/<name>/\") of the log groups the cluster key may encrypt; ecs-service names its log groups \"<prefix><kind>\"."
  value       = local.log_group_prefix
}

output "exec_log_group_name" {
  description = "Name of the log group that receives ECS Exec session output."
  value       = aws_cloudwatch_log_group.exec.name
}

output "exec_log_group_arn" {
  description = "ARN of the ECS Exec log group (task roles need to write to it when ECS Exec is on)."
  value       = aws_cloudwatch_log_group.exec.arn
}

output "task_arn_pattern" {
  description = "ARN pattern that matches every task of this cluster, for IAM statements such as ecs:UpdateTaskProtection."
  value       = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.this.name}/*"
}
