# One CodeBuild project runs every deploy step (buildspec.yml); the pipeline's actions
# choose the step. It has no VPC: it only calls AWS APIs.

locals {
  families     = [for s in values(var.task_definitions.services) : s.family]
  family_arns  = [for f in local.families : "${local.service_arn_prefix}:task-definition/${f}:*"]
  migrate      = var.task_definitions.services["migrate"]
  service_arns = [local.api_service_arn, local.worker_service_arn]
}

resource "aws_cloudwatch_log_group" "codebuild" {
  name              = "/aws/codebuild/${local.pipeline_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
  tags              = local.tags
}

resource "aws_codebuild_project" "deploy" {
  name           = local.pipeline_name
  description    = "Deploy steps of ${local.pipeline_name}: prepare, migrate, deploy"
  service_role   = aws_iam_role.codebuild.arn
  encryption_key = aws_kms_key.pipeline.arn
  build_timeout  = max(var.migrate_timeout_minutes, var.deploy_timeout_minutes) + 15
  queued_timeout = 60
  tags           = local.tags

  artifacts {
    type = "CODEPIPELINE"
  }

  source {
    type      = "CODEPIPELINE"
    buildspec = file("${path.module}/buildspec.yml")
  }

  environment {
    compute_type    = "BUILD_GENERAL1_SMALL"
    image           = var.codebuild_image
    type            = "ARM_CONTAINER"
    privileged_mode = false

    dynamic "environment_variable" {
      for_each = {
        ENVIRONMENT             = var.environment
        CLUSTER                 = var.cluster_arn
        RELEASE_BUCKET          = local.release_bucket_name
        RELEASE_KMS_KEY_ARN     = local.release_kms_key_arn
        CONFIG_KEY              = local.config_object_key
        DEPLOYED_KEY            = local.deployed_object_key
        MIGRATE_SUBNETS         = join(",", var.migrate_network.subnets)
        MIGRATE_SECURITY_GROUPS = join(",", var.migrate_network.security_groups)
        MIGRATE_CONTAINER       = local.migrate.container_name
        MIGRATE_LOG_GROUP       = local.migrate.log_group_name
        MIGRATE_TIMEOUT_MINUTES = tostring(var.migrate_timeout_minutes)
        DEPLOY_TIMEOUT_MINUTES  = tostring(var.deploy_timeout_minutes)
        DEPLOYMENT_ALARMS       = join(",", var.deployment_alarm_names)
      }
      content {
        name  = environment_variable.key
        value = environment_variable.value
        type  = "PLAINTEXT"
      }
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.codebuild.name
      status     = "ENABLED"
    }

    s3_logs {
      status = "DISABLED"
    }
  }
}

resource "aws_iam_role" "codebuild" {
  name        = "${var.name}-deploy-steps"
  description = "CodeBuild deploy steps of ${local.pipeline_name}"
  tags        = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "codebuild.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:codebuild:${local.region}:${local.account_id}:project/${local.pipeline_name}" }
      }
    }]
  })
}

resource "aws_iam_role_policy" "codebuild" {
  name = "deploy-steps"
  role = aws_iam_role.codebuild.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteBuildLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.codebuild.arn}:*"
      },
      {
        Sid      = "ReadTheReleaseArtifact"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = "${aws_s3_bucket.artifacts.arn}/*"
      },
      {
        Sid      = "ReadTheDeployConfiguration"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = "${local.release_bucket_arn}/${local.config_object_key}"
      },
      {
        Sid      = "RecordTheDeployment"
        Effect   = "Allow"
        Action   = "s3:PutObject"
        Resource = "${local.release_bucket_arn}/${local.deployed_object_key}"
      },
      {
        Sid      = "ArtifactAndLogKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.pipeline.arn
      },
      {
        Sid      = "ReleaseKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = local.release_kms_key_arn
      },
      {
        # RegisterTaskDefinition and DescribeTaskDefinition have no resource to scope to.
        Sid      = "RegisterTaskDefinitions"
        Effect   = "Allow"
        Action   = ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"]
        Resource = "*"
      },
      {
        Sid      = "TagOwnTaskDefinitions"
        Effect   = "Allow"
        Action   = "ecs:TagResource"
        Resource = local.family_arns
        Condition = {
          StringEquals = { "ecs:CreateAction" = "RegisterTaskDefinition" }
        }
      },
      {
        Sid      = "PassTheTaskRoles"
        Effect   = "Allow"
        Action   = "iam:PassRole"
        Resource = var.pass_role_arns
        Condition = {
          StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" }
        }
      },
      {
        Sid      = "RunTheMigration"
        Effect   = "Allow"
        Action   = "ecs:RunTask"
        Resource = "${local.service_arn_prefix}:task-definition/${local.migrate_family}:*"
        Condition = {
          ArnEquals = { "ecs:cluster" = var.cluster_arn }
        }
      },
      {
        # run-task --propagate-tags copies the task definition's tags onto the task.
        Sid      = "TagTheMigrationTask"
        Effect   = "Allow"
        Action   = "ecs:TagResource"
        Resource = "${local.service_arn_prefix}:task/${local.cluster_name}/*"
        Condition = {
          StringEquals = { "ecs:CreateAction" = "RunTask" }
        }
      },
      {
        Sid      = "WatchTheMigration"
        Effect   = "Allow"
        Action   = ["ecs:DescribeTasks", "ecs:StopTask"]
        Resource = "${local.service_arn_prefix}:task/${local.cluster_name}/*"
      },
      {
        Sid      = "ReadTheMigrationLog"
        Effect   = "Allow"
        Action   = "logs:GetLogEvents"
        Resource = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.migrate.log_group_name}:log-stream:migrate/*"
      },
      {
        Sid      = "DeployTheServices"
        Effect   = "Allow"
        Action   = ["ecs:DescribeServices", "ecs:UpdateService", "ecs:ListServiceDeployments"]
        Resource = local.service_arns
      },
      {
        Sid    = "WatchTheDeployments"
        Effect = "Allow"
        Action = ["ecs:DescribeServiceDeployments", "ecs:DescribeServiceRevisions"]
        Resource = flatten([
          for s in [var.api_service_name, var.worker_service_name] : [
            "${local.service_arn_prefix}:service-deployment/${local.cluster_name}/${s}/*",
            "${local.service_arn_prefix}:service-revision/${local.cluster_name}/${s}/*",
          ]
        ])
      },
      {
        Sid      = "CheckTheDeploymentAlarms"
        Effect   = "Allow"
        Action   = "cloudwatch:DescribeAlarms"
        Resource = local.alarm_arns
      },
    ]
  })
}
