output "repository_urls" {
  description = "URL of each ECR repository by short name (oneshot, oneshot-agents), for docker push and the task image."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_arns" {
  description = "ARN of each ECR repository by short name (iam input ecr_repository_arns)."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "repository_names" {
  description = "Full name of each ECR repository by short name."
  value       = { for k, r in aws_ecr_repository.this : k => r.name }
}

output "registry_id" {
  description = "Registry (account) ID of the repositories; null when create_repositories is false."
  value       = try(values(aws_ecr_repository.this)[0].registry_id, null)
}

output "bucket_name" {
  description = "Name of the task artifacts bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the task artifacts bucket (iam input artifacts_bucket_arn)."
  value       = aws_s3_bucket.this.arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the artifacts bucket."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "kms_key_arn" {
  description = "ARN of the artifacts key (ECR and S3); the task role needs it for the bucket (iam input artifacts_kms_key_arn)."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the artifacts key."
  value       = aws_kms_key.this.key_id
}
