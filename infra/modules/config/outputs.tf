output "parameter_prefix" {
  description = "Path under which the parameters live, \"/oneshot/<env>\"."
  value       = local.parameter_prefix
}

output "parameter_arns" {
  description = "ARN of each parameter by key (profiles, max_iterations_cap and the keys of var.parameters)."
  value       = { for k, p in aws_ssm_parameter.this : k => p.arn }
}

output "parameter_names" {
  description = "Full name of each parameter by key."
  value       = { for k, p in aws_ssm_parameter.this : k => p.name }
}

output "profiles_parameter_arn" {
  description = "ARN of /oneshot/<env>/profiles (container secret ONESHOT_CONFIG_YAML)."
  value       = aws_ssm_parameter.this["profiles"].arn
}

output "profiles_parameter_name" {
  description = "Name of the profiles parameter."
  value       = aws_ssm_parameter.this["profiles"].name
}

output "secret_arns" {
  description = "ARN of each Secrets Manager secret by short name (bootstrap-token and var.secret_names)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "secret_names" {
  description = "Full name of each secret by short name, for `aws secretsmanager put-secret-value --secret-id`."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.name }
}

output "bootstrap_token_secret_arn" {
  description = "ARN of the bootstrap admin token secret (container secret ONESHOT_BOOTSTRAP_TOKEN)."
  value       = aws_secretsmanager_secret.this["bootstrap-token"].arn
}

output "container_secrets" {
  description = "Environment variable name => ARN for ecs-service's secrets input: ONESHOT_BOOTSTRAP_TOKEN, one upper-cased variable per LLM key (OPENAI_API_KEY, ...) and ONESHOT_CONFIG_YAML."
  value = merge(
    { for k, s in aws_secretsmanager_secret.this : local.secret_env_names[k] => s.arn },
    { ONESHOT_CONFIG_YAML = aws_ssm_parameter.this["profiles"].arn },
  )
}

output "kms_key_arn" {
  description = "ARN of the config key; execution roles that read the secrets or SecureString parameters need kms:Decrypt on it (iam input kms_key_arns)."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the config key."
  value       = aws_kms_key.this.key_id
}
