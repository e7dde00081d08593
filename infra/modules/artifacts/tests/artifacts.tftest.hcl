mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/66666666-6666-6666-6666-666666666666"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::oneshot-dev-artifacts-123456789012"
    }
  }
}

variables {
  name        = "oneshot-dev"
  environment = "dev"
}

run "defaults" {
  command = apply

  assert {
    condition     = toset([for r in aws_ecr_repository.this : r.name]) == toset(["oneshot", "oneshot-agents"])
    error_message = "the service and agent images each get a repository"
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE"])
    error_message = "tags are immutable"
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_scanning_configuration[0].scan_on_push])
    error_message = "images are scanned on push"
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.encryption_configuration[0].encryption_type == "KMS" && r.encryption_configuration[0].kms_key == aws_kms_key.this.arn])
    error_message = "repositories are encrypted with the CMK"
  }

  assert {
    condition = alltrue([
      for p in aws_ecr_lifecycle_policy.this :
      jsondecode(p.policy).rules[0].selection.tagStatus == "untagged" && jsondecode(p.policy).rules[0].selection.countNumber == 7
    ])
    error_message = "untagged images expire after 7 days"
  }

  assert {
    condition = alltrue([
      for p in aws_ecr_lifecycle_policy.this :
      jsondecode(p.policy).rules[1].selection.countType == "imageCountMoreThan" && jsondecode(p.policy).rules[1].selection.countNumber == 50
    ])
    error_message = "the last N tagged images are kept"
  }

  assert {
    condition     = aws_s3_bucket.this.bucket == "oneshot-dev-artifacts-123456789012"
    error_message = "bucket name is unique per account"
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls &&
      aws_s3_bucket_public_access_block.this.block_public_policy &&
      aws_s3_bucket_public_access_block.this.ignore_public_acls &&
      aws_s3_bucket_public_access_block.this.restrict_public_buckets
    )
    error_message = "all public access is blocked"
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "versioning is on"
  }

  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.this.arn
    )
    error_message = "the bucket is encrypted with the CMK"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s.Condition.Bool["aws:SecureTransport"] if s.Sid == "DenyInsecureTransport"
    ]) == "false" && one([for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s.Effect if s.Sid == "DenyInsecureTransport"]) == "Deny"
    error_message = "the bucket policy denies requests without TLS"
  }

  assert {
    condition = (
      one(aws_s3_bucket_lifecycle_configuration.this.rule[0].transition).days == 30 &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule[0].transition).storage_class == "STANDARD_IA" &&
      aws_s3_bucket_lifecycle_configuration.this.rule[0].expiration[0].days == 90 &&
      aws_s3_bucket_lifecycle_configuration.this.rule[0].noncurrent_version_expiration[0].noncurrent_days == 30
    )
    error_message = "artifacts transition, expire, and old versions are cleaned up"
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0
    error_message = "access logging is off unless a target bucket is given"
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "the artifacts key rotates"
  }
}

run "namespaced_repositories_and_logging" {
  command = plan

  variables {
    repository_namespace = "dev"
    keep_tagged_images   = 20
    access_logging       = { bucket = "oneshot-dev-access-logs" }
    expiration_days      = null
    transition_days      = null
  }

  assert {
    condition     = toset([for r in aws_ecr_repository.this : r.name]) == toset(["dev/oneshot", "dev/oneshot-agents"])
    error_message = "repository names can be namespaced"
  }

  assert {
    condition     = aws_s3_bucket_logging.this[0].target_bucket == "oneshot-dev-access-logs" && aws_s3_bucket_logging.this[0].target_prefix == "s3-access/artifacts/"
    error_message = "access logging is optional"
  }

  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.this.rule[0].expiration) == 0 && length(aws_s3_bucket_lifecycle_configuration.this.rule[0].transition) == 0
    error_message = "transition and expiry can be switched off"
  }
}

run "shared_registry" {
  command = plan

  variables {
    create_repositories = false
  }

  assert {
    condition     = length(aws_ecr_repository.this) == 0 && output.repository_arns == {}
    error_message = "repositories can be created elsewhere"
  }
}

run "rejects_ia_transition_before_30_days" {
  command = plan

  variables {
    transition_days = 10
  }

  expect_failures = [var.transition_storage_class]
}

run "rejects_expiry_before_transition" {
  command = plan

  variables {
    transition_days          = 60
    transition_storage_class = "GLACIER_IR"
    expiration_days          = 30
  }

  expect_failures = [var.expiration_days]
}

run "rejects_bad_repository_name" {
  command = plan

  variables {
    repository_names = ["Oneshot"]
  }

  expect_failures = [var.repository_names]
}

run "rejects_zero_images_kept" {
  command = plan

  variables {
    keep_tagged_images = 0
  }

  expect_failures = [var.keep_tagged_images]
}
