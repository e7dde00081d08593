data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  tags = merge(var.tags, { service = "delivery" })

  pipeline_name    = "${var.name}-delivery"
  require_approval = coalesce(var.require_approval, var.environment == "prod")

  # One bucket holds every environment's releases, each under its own prefix:
  #   <env>/release.zip   what that environment's pipeline deploys next (its source)
  #   <env>/deployed.json the release it last deployed (versions = its deploy history)
  #   <env>/deploy-config.json what `oneshot deploy render` needs from Terraform
  #   smokehook/...       the smoke hook's deployment packages
  release_bucket_name = coalesce(var.release_bucket_name, "${var.project}-releases-${local.account_id}-${local.region}")
  release_key_alias   = "alias/${var.project}-releases"
  release_object_key  = "${var.environment}/release.zip"
  deployed_object_key = "${var.environment}/deployed.json"
  config_object_key   = "${var.environment}/deploy-config.json"
  promote_object_key  = var.promote_to == null ? null : "${var.promote_to}/release.zip"

  release_bucket_arn  = var.create_release_bucket ? aws_s3_bucket.release[0].arn : data.aws_s3_bucket.release[0].arn
  release_kms_key_arn = var.create_release_bucket ? aws_kms_key.release[0].arn : data.aws_kms_alias.release[0].target_key_arn

  cluster_name       = split("/", var.cluster_arn)[1]
  service_arn_prefix = "arn:${local.partition}:ecs:${local.region}:${local.account_id}"
  api_service_arn    = "${local.service_arn_prefix}:service/${local.cluster_name}/${var.api_service_name}"
  worker_service_arn = "${local.service_arn_prefix}:service/${local.cluster_name}/${var.worker_service_name}"
  migrate_family     = var.task_definitions.services["migrate"].family

  # What `oneshot deploy render` reads (internal/deploy Config): the same shape whether it
  # comes from the object below or from `terraform output -json`.
  deploy_config = {
    environment  = var.environment
    region       = local.region
    repositories = var.task_definitions.repositories
    services     = var.task_definitions.services
  }

  bake_time_in_minutes = coalesce(var.api_traffic_shift.bake_time_in_minutes, var.environment == "prod" ? 15 : 5)
  alarm_arns           = [for n in var.deployment_alarm_names : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${n}"]
}

# ---------------------------------------------------------------------------
# Artifact store: the copies of a release CodePipeline passes between stages
# ---------------------------------------------------------------------------

resource "aws_kms_key" "pipeline" {
  description             = "${local.pipeline_name}: pipeline artifacts, build logs, notifications"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = local.tags

  # "Resource": "*" in a key policy means this key. The pipeline and CodeBuild roles use
  # it through their IAM policies; the services below need it by name.
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
      {
        Sid       = "CloudWatchLogsEncryptsThisModulesLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/codebuild/${local.pipeline_name}",
              "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-smoke-hook",
            ]
          }
        }
      },
      {
        # CodeStar Notifications publishes to the encrypted topic.
        Sid       = "NotificationsPublishToTheTopic"
        Effect    = "Allow"
        Principal = { Service = "codestar-notifications.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:ViaService" = "sns.${local.region}.amazonaws.com" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "pipeline" {
  name          = "alias/${local.pipeline_name}"
  target_key_id = aws_kms_key.pipeline.key_id
}

# Only the pipeline and its build project read and write here, and CloudTrail records
# those calls; server access logs would add nothing but cost.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "artifacts" {
  bucket        = "${var.name}-pipeline-${local.account_id}"
  force_destroy = true # only copies of releases; the release bucket keeps the originals
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.pipeline.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-artifacts"
    status = "Enabled"

    filter {}

    expiration {
      days = var.artifact_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}
