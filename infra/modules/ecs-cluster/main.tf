data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  namespace_name = coalesce(var.service_connect_namespace, "${var.name}.internal")

  # Every log group that may use the cluster key lives under this prefix: the
  # ECS Exec log group below and the per-service log groups that the
  # ecs-service module names /ecs/<name>/<kind>.
  log_group_prefix = "/ecs/${var.name}/"

  exec_log_group_name = "${local.log_group_prefix}exec"

  tags = merge(var.tags, { service = "ecs" })
}

# One customer managed key per cluster encrypts the ECS Exec channel and its
# session logs, the service log groups and the Fargate ephemeral storage.
resource "aws_kms_key" "this" {
  description             = "${var.name} (${var.environment}) ECS cluster: exec sessions, logs, Fargate ephemeral storage"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  policy                  = jsonencode(local.key_policy)
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-ecs"
  target_key_id = aws_kms_key.this.key_id
}

locals {
  # In a key policy "Resource": "*" means "this key"; it cannot name the key's
  # own ARN because the key does not exist yet when the policy is written.
  key_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "AccountAdministersKeyThroughIAM"
          Effect    = "Allow"
          Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
          Action    = "kms:*"
          Resource  = "*"
        },
        {
          Sid       = "CloudWatchLogsUsesKeyForClusterLogGroups"
          Effect    = "Allow"
          Principal = { Service = "logs.${local.region}.amazonaws.com" }
          Action = [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
          ]
          Resource = "*"
          Condition = {
            ArnLike = {
              "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_prefix}*"
            }
          }
        },
      ],
      [for statement in local.fargate_key_statements : statement if var.encrypt_fargate_ephemeral_storage],
    )
  }

  # Fargate encrypts each task's ephemeral storage with a data key from the
  # cluster key and decrypts it through a grant; both are limited to this
  # cluster by the encryption context.
  fargate_key_statements = [
    {
      Sid       = "FargateGeneratesEphemeralStorageDataKeys"
      Effect    = "Allow"
      Principal = { Service = "fargate.amazonaws.com" }
      Action    = "kms:GenerateDataKeyWithoutPlaintext"
      Resource  = "*"
      Condition = {
        StringEquals = {
          "kms:EncryptionContext:aws:ecs:clusterAccount" = local.account_id
          "kms:EncryptionContext:aws:ecs:clusterName"    = var.name
        }
      }
    },
    {
      Sid       = "FargateCreatesDecryptGrantsForEphemeralStorage"
      Effect    = "Allow"
      Principal = { Service = "fargate.amazonaws.com" }
      Action    = "kms:CreateGrant"
      Resource  = "*"
      Condition = {
        StringEquals = {
          "kms:EncryptionContext:aws:ecs:clusterAccount" = local.account_id
          "kms:EncryptionContext:aws:ecs:clusterName"    = var.name
        }
        "ForAllValues:StringEquals" = {
          "kms:GrantOperations" = ["Decrypt"]
        }
      }
    },
  ]
}

resource "aws_cloudwatch_log_group" "exec" {
  name              = local.exec_log_group_name
  retention_in_days = var.exec_log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

# An HTTP namespace is enough for Service Connect (clients resolve names
# through the Service Connect proxy, not DNS) and needs no VPC or hosted zone.
resource "aws_service_discovery_http_namespace" "this" {
  name        = local.namespace_name
  description = "Service Connect namespace of ${var.name} (${var.environment})"
  tags        = local.tags
}

# Container Insights defaults to "enhanced", a superset of "enabled" that the
# scanners' check does not recognise; the value is validated in variables.tf.
#trivy:ignore:AVD-AWS-0034
#tfsec:ignore:aws-ecs-enable-container-insight
resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.this.arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
      }
    }

    dynamic "managed_storage_configuration" {
      for_each = var.encrypt_fargate_ephemeral_storage ? [1] : []
      content {
        fargate_ephemeral_storage_kms_key_id = aws_kms_key.this.id
      }
    }
  }

  service_connect_defaults {
    namespace = aws_service_discovery_http_namespace.this.arn
  }

  tags = local.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  dynamic "default_capacity_provider_strategy" {
    for_each = var.default_capacity_provider_strategy
    content {
      capacity_provider = default_capacity_provider_strategy.value.capacity_provider
      weight            = default_capacity_provider_strategy.value.weight
      base              = default_capacity_provider_strategy.value.base
    }
  }
}
