output "endpoint" {
  description = "Connection endpoint of the instance as host:port."
  value       = aws_db_instance.this.endpoint
}

output "address" {
  description = "Host name of the instance (without port)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port PostgreSQL listens on."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Name of the application database."
  value       = aws_db_instance.this.db_name
}

output "master_username" {
  description = "Master user name (its password is in the master user secret)."
  value       = aws_db_instance.this.username
}

output "master_user_secret_arn" {
  description = "ARN of the Secrets Manager secret (JSON with username and password) that RDS manages and rotates for the master user. Grant the tasks secretsmanager:GetSecretValue on it and kms:Decrypt on kms_key_arn."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts storage, the master user secret, Performance Insights and the exported logs."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the database KMS key."
  value       = aws_kms_key.this.key_id
}

output "instance_identifier" {
  description = "RDS instance identifier (the DBInstanceIdentifier dimension of its CloudWatch metrics)."
  value       = aws_db_instance.this.identifier
}

output "instance_arn" {
  description = "ARN of the RDS instance."
  value       = aws_db_instance.this.arn
}

output "instance_resource_id" {
  description = "Resource ID of the instance (used in rds-db:connect ARNs for IAM database authentication)."
  value       = aws_db_instance.this.resource_id
}

output "engine_version_actual" {
  description = "Full engine version RDS is running (e.g. 16.4)."
  value       = aws_db_instance.this.engine_version_actual
}

output "parameter_group_name" {
  description = "Name of the DB parameter group."
  value       = aws_db_parameter_group.this.name
}

output "subnet_group_name" {
  description = "Name of the DB subnet group."
  value       = aws_db_subnet_group.this.name
}

output "log_group_names" {
  description = "CloudWatch log groups of the exported logs, by log type (postgresql, upgrade)."
  value       = { for type, group in aws_cloudwatch_log_group.this : type => group.name }
}

output "monitoring_role_arn" {
  description = "ARN of the Enhanced Monitoring role, or null when monitoring_interval is 0."
  value       = try(aws_iam_role.monitoring[0].arn, null)
}

output "multi_az" {
  description = "Whether the instance runs Multi-AZ (after applying the environment default)."
  value       = aws_db_instance.this.multi_az
}

output "deletion_protection" {
  description = "Whether deletion protection is on (after applying the environment default)."
  value       = aws_db_instance.this.deletion_protection
}
