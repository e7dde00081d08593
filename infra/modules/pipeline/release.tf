# The release bucket is shared by every environment of the account: the release workflow
# writes the first environment's release.zip, each pipeline copies the release it deployed
# to the next environment's key. One environment root creates it (create_release_bucket);
# the others look it up by name.

data "aws_s3_bucket" "release" {
  count  = var.create_release_bucket ? 0 : 1
  bucket = local.release_bucket_name
}

data "aws_kms_alias" "release" {
  count = var.create_release_bucket ? 0 : 1
  name  = local.release_key_alias
}

resource "aws_kms_key" "release" {
  count = var.create_release_bucket ? 1 : 0

  description             = "${var.project} releases: the release bucket of every environment"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = local.tags

  # Every pipeline, build and release role uses the key through its own IAM policy,
  # scoped to its prefixes of the bucket. "Resource": "*" means this key.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "release" {
  count = var.create_release_bucket ? 1 : 0

  name          = local.release_key_alias
  target_key_id = aws_kms_key.release[0].key_id
}

# Writes come from the release role and the pipelines only, and CloudTrail records them;
# access logs would add cost and nothing else.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "release" {
  count = var.create_release_bucket ? 1 : 0

  bucket = local.release_bucket_name
  tags   = merge(local.tags, { Name = local.release_bucket_name })
}

resource "aws_s3_bucket_ownership_controls" "release" {
  count  = var.create_release_bucket ? 1 : 0
  bucket = aws_s3_bucket.release[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "release" {
  count  = var.create_release_bucket ? 1 : 0
  bucket = aws_s3_bucket.release[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# CodePipeline's S3 source needs versioning; the versions of <env>/deployed.json are
# also the deploy history that scripts/rollback.sh reads.
resource "aws_s3_bucket_versioning" "release" {
  count  = var.create_release_bucket ? 1 : 0
  bucket = aws_s3_bucket.release[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "release" {
  count  = var.create_release_bucket ? 1 : 0
  bucket = aws_s3_bucket.release[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.release[0].arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_policy" "release" {
  count  = var.create_release_bucket ? 1 : 0
  bucket = aws_s3_bucket.release[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.release[0].arn, "${aws_s3_bucket.release[0].arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyUnencryptedUploads"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.release[0].arn}/*"
        Condition = {
          StringNotEquals = { "s3:x-amz-server-side-encryption" = "aws:kms" }
          Null            = { "s3:x-amz-server-side-encryption" = "false" }
        }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.release]
}

resource "aws_s3_bucket_lifecycle_configuration" "release" {
  count  = var.create_release_bucket ? 1 : 0
  bucket = aws_s3_bucket.release[0].id

  rule {
    id     = "keep-recent-releases"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days           = var.release_retention_days
      newer_noncurrent_versions = var.releases_to_keep
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.release]
}

# S3 tells EventBridge about new objects; each environment's rule starts its pipeline
# when its own release.zip changes (no polling).
resource "aws_s3_bucket_notification" "release" {
  count  = var.create_release_bucket ? 1 : 0
  bucket = aws_s3_bucket.release[0].id

  eventbridge = true
}

# ---------------------------------------------------------------------------
# The environment's deploy configuration, where the Prepare step reads it
# ---------------------------------------------------------------------------

# Terraform rewrites it on every apply that changes it, so a new role, secret or size
# reaches the next release's task definitions without anyone copying values around.
resource "aws_s3_object" "deploy_config" {
  bucket                 = local.release_bucket_name
  key                    = local.config_object_key
  content                = jsonencode(local.deploy_config)
  content_type           = "application/json"
  server_side_encryption = "aws:kms"
  kms_key_id             = local.release_kms_key_arn
  tags                   = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.release, aws_s3_bucket_policy.release]
}

# ---------------------------------------------------------------------------
# The release workflow's role (GitHub Actions OIDC, no stored keys)
# ---------------------------------------------------------------------------

locals {
  release_subjects = coalesce(var.release_subjects, [
    "repo:${coalesce(var.github_repository, "unset/unset")}:ref:refs/heads/main",
    "repo:${coalesce(var.github_repository, "unset/unset")}:ref:refs/tags/v*",
  ])
}

resource "aws_iam_role" "release" {
  count = var.create_release_bucket ? 1 : 0

  name                 = "${var.name}-release"
  description          = "GitHub Actions release workflow of ${coalesce(var.github_repository, "the repository")}: pushes images to ECR and hands releases to the ${var.environment} pipeline"
  max_session_duration = 3600
  tags                 = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = var.github_oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = { "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com" }
        StringLike   = { "token.actions.githubusercontent.com:sub" = local.release_subjects }
      }
    }]
  })

  lifecycle {
    precondition {
      condition     = var.github_repository != null && var.github_oidc_provider_arn != null && length(var.ecr_repository_arns) > 0
      error_message = "create_release_bucket also creates the release workflow's role: set github_repository, github_oidc_provider_arn and ecr_repository_arns."
    }
  }
}

resource "aws_iam_role_policy" "release" {
  count = var.create_release_bucket ? 1 : 0

  name = "push-releases"
  role = aws_iam_role.release[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # GetAuthorizationToken has no resource to scope to.
        Sid      = "LogInToEcr"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "PushImages"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:CompleteLayerUpload",
          "ecr:DescribeImages",
          "ecr:GetDownloadUrlForLayer",
          "ecr:InitiateLayerUpload",
          "ecr:PutImage",
          "ecr:UploadLayerPart",
        ]
        Resource = var.ecr_repository_arns
      },
      {
        Sid    = "HandReleasesToTheFirstPipeline"
        Effect = "Allow"
        Action = "s3:PutObject"
        Resource = [
          "${local.release_bucket_arn}/${local.release_object_key}",
          "${local.release_bucket_arn}/smokehook/*",
        ]
      },
      {
        # ECR encrypts layers with the repository's key through its own grant; pushing
        # needs no KMS permission. The release objects need the release key.
        Sid      = "EncryptReleases"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Encrypt"]
        Resource = local.release_kms_key_arn
      },
    ]
  })
}
