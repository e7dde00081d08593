output "region" {
  description = "Region of the state bucket and the environments."
  value       = var.region
}

output "state_bucket_name" {
  description = "Name of the S3 bucket that holds the Terraform state of every environment (and, once migrated, of this root)."
  value       = aws_s3_bucket.state.bucket
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = aws_s3_bucket.state.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the state. Use this ARN (not the alias) as kms_key_id in every S3 backend: the bucket policy refuses other keys."
  value       = aws_kms_key.state.arn
}

output "kms_key_alias" {
  description = "Alias of the state KMS key."
  value       = aws_kms_alias.state.name
}

output "github_oidc_provider_arn" {
  description = "ARN of the GitHub Actions OIDC provider the roles trust."
  value       = local.github_oidc_provider_arn
}

output "deploy_role_arns" {
  description = "Deploy role ARN per environment (<project>-deploy-<env>), for aws-actions/configure-aws-credentials in jobs that run in that GitHub environment."
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}

output "plan_role_arns" {
  description = "Read-only plan role ARN per environment (<project>-plan-<env>), for terraform plan on pull requests."
  value       = { for env, role in aws_iam_role.plan : env => role.arn }
}

output "backend_config" {
  description = "S3 backend settings per environment root (infra/envs/<env>), ready for a backend block or -backend-config flags."
  value = {
    for env, key in local.state_keys : env => {
      bucket       = aws_s3_bucket.state.bucket
      key          = key
      region       = var.region
      encrypt      = true
      kms_key_id   = aws_kms_key.state.arn
      use_lockfile = true
    }
  }
}
