# The environment's delivery pipeline:
#
#   Source        <env>/release.zip from the release bucket (release.json, the oneshot
#                 binary that renders, deploy/templates)
#   Prepare       render the task definitions (api, worker, migrate) for this environment
#                 and register them; exports their ARNs and the release version
#   Approve       prod only (require_approval): a person approves the version shown
#   Migrate       `oneshot migrate` as a one-off task; the stage fails unless it exits 0
#   DeployWorker  rolling deployment, circuit breaker with rollback
#   DeployApi     ECS-native blue/green: test traffic, smoke test hook, canary shift,
#                 alarms, bake time; then the deploy record for rollbacks
#   Promote       copy the release to the next environment's source key

locals {
  codebuild_action = {
    category = "Build"
    owner    = "AWS"
    provider = "CodeBuild"
    version  = "1"
  }

  # CodeBuild environment variables of one action, as CodePipeline wants them.
  step_env = {
    prepare = [{ name = "STEP", value = "prepare", type = "PLAINTEXT" }]
    migrate = [
      { name = "STEP", value = "migrate", type = "PLAINTEXT" },
      { name = "TASK_DEFINITION", value = "#{Prepare.MIGRATE_TASK_DEFINITION}", type = "PLAINTEXT" },
    ]
    worker = [
      { name = "STEP", value = "deploy", type = "PLAINTEXT" },
      { name = "SERVICE", value = var.worker_service_name, type = "PLAINTEXT" },
      { name = "TASK_DEFINITION", value = "#{Prepare.WORKER_TASK_DEFINITION}", type = "PLAINTEXT" },
    ]
    api = [
      { name = "STEP", value = "deploy", type = "PLAINTEXT" },
      { name = "SERVICE", value = var.api_service_name, type = "PLAINTEXT" },
      { name = "TASK_DEFINITION", value = "#{Prepare.API_TASK_DEFINITION}", type = "PLAINTEXT" },
      # The deploy record names every task definition of the release, for rollbacks.
      { name = "RECORD_DEPLOYMENT", value = "true", type = "PLAINTEXT" },
      { name = "API_TASK_DEFINITION", value = "#{Prepare.API_TASK_DEFINITION}", type = "PLAINTEXT" },
      { name = "WORKER_TASK_DEFINITION", value = "#{Prepare.WORKER_TASK_DEFINITION}", type = "PLAINTEXT" },
      { name = "MIGRATE_TASK_DEFINITION", value = "#{Prepare.MIGRATE_TASK_DEFINITION}", type = "PLAINTEXT" },
      { name = "PIPELINE_EXECUTION_ID", value = "#{codepipeline.PipelineExecutionId}", type = "PLAINTEXT" },
    ]
  }

  # Every stage has one action. on_failure: ROLLBACK returns the stage to the last
  # release that succeeded in it (CodePipeline V2 stage rollback); the migration only
  # ever moves forward, so its stage just fails.
  stages = concat(
    [
      {
        name  = "Source", category = "Source", owner = "AWS", provider = "S3", version = "1"
        input = tolist([]), output = ["release"], namespace = "SourceVariables", timeout = null, on_failure = null
        configuration = tomap({
          S3Bucket             = local.release_bucket_name
          S3ObjectKey          = local.release_object_key
          PollForSourceChanges = "false"
        })
      },
      merge(local.codebuild_action, {
        name          = "Prepare", input = ["release"], output = tolist([]), namespace = "Prepare", timeout = null, on_failure = null
        configuration = tomap({ ProjectName = aws_codebuild_project.deploy.name, EnvironmentVariables = jsonencode(local.step_env.prepare) })
      }),
    ],
    local.require_approval ? [
      {
        name  = "Approve", category = "Approval", owner = "AWS", provider = "Manual", version = "1"
        input = tolist([]), output = tolist([]), namespace = null, timeout = var.approval_timeout_minutes, on_failure = null
        configuration = tomap({
          NotificationArn = aws_sns_topic.notifications.arn
          CustomData      = "Deploy oneshot #{Prepare.RELEASE_VERSION} to ${var.environment}? It passed the earlier environments; the Prepare step's log shows the task definitions it registered."
        })
      },
    ] : [],
    [
      merge(local.codebuild_action, {
        name          = "Migrate", input = ["release"], output = tolist([]), namespace = null, timeout = null, on_failure = "FAIL"
        configuration = tomap({ ProjectName = aws_codebuild_project.deploy.name, EnvironmentVariables = jsonencode(local.step_env.migrate) })
      }),
      merge(local.codebuild_action, {
        name          = "DeployWorker", input = ["release"], output = tolist([]), namespace = null, timeout = null, on_failure = "ROLLBACK"
        configuration = tomap({ ProjectName = aws_codebuild_project.deploy.name, EnvironmentVariables = jsonencode(local.step_env.worker) })
      }),
      merge(local.codebuild_action, {
        name          = "DeployApi", input = ["release"], output = tolist([]), namespace = null, timeout = null, on_failure = "ROLLBACK"
        configuration = tomap({ ProjectName = aws_codebuild_project.deploy.name, EnvironmentVariables = jsonencode(local.step_env.api) })
      }),
    ],
    var.promote_to == null ? [] : [
      {
        name  = "Promote", category = "Deploy", owner = "AWS", provider = "S3", version = "1"
        input = ["release"], output = tolist([]), namespace = null, timeout = null, on_failure = null
        configuration = tomap({
          BucketName          = local.release_bucket_name
          Extract             = "false"
          ObjectKey           = local.promote_object_key
          KMSEncryptionKeyARN = local.release_kms_key_arn
        })
      },
    ],
  )
}

resource "aws_codepipeline" "this" {
  name           = local.pipeline_name
  role_arn       = aws_iam_role.pipeline.arn
  pipeline_type  = "V2"
  execution_mode = var.execution_mode
  tags           = local.tags

  artifact_store {
    location = aws_s3_bucket.artifacts.bucket
    type     = "S3"

    encryption_key {
      id   = aws_kms_key.pipeline.arn
      type = "KMS"
    }
  }

  dynamic "stage" {
    for_each = local.stages
    content {
      name = stage.value.name

      action {
        name               = stage.value.name
        category           = stage.value.category
        owner              = stage.value.owner
        provider           = stage.value.provider
        version            = stage.value.version
        input_artifacts    = stage.value.input
        output_artifacts   = stage.value.output
        namespace          = stage.value.namespace
        timeout_in_minutes = stage.value.timeout
        configuration      = stage.value.configuration
      }

      dynamic "on_failure" {
        for_each = stage.value.on_failure == null ? [] : [stage.value.on_failure]
        content {
          result = on_failure.value
        }
      }
    }
  }
}

# ---------------------------------------------------------------------------
# The pipeline's role
# ---------------------------------------------------------------------------

resource "aws_iam_role" "pipeline" {
  name        = "${var.name}-pipeline"
  description = "CodePipeline ${local.pipeline_name}"
  tags        = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "codepipeline.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${local.pipeline_name}" }
      }
    }]
  })
}

resource "aws_iam_role_policy" "pipeline" {
  name = "deliver"
  role = aws_iam_role.pipeline.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ArtifactStore"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:GetBucketVersioning", "s3:GetBucketLocation"]
          Resource = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
        },
        {
          Sid      = "ReadOwnRelease"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:GetObjectVersion"]
          Resource = "${local.release_bucket_arn}/${local.release_object_key}"
        },
        {
          Sid      = "SourceChecksVersioning"
          Effect   = "Allow"
          Action   = ["s3:GetBucketVersioning", "s3:GetBucketLocation"]
          Resource = local.release_bucket_arn
        },
        {
          Sid      = "ArtifactKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:DescribeKey"]
          Resource = aws_kms_key.pipeline.arn
        },
        {
          Sid      = "ReleaseKey"
          Effect   = "Allow"
          Action   = var.promote_to == null ? ["kms:Decrypt"] : ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
          Resource = local.release_kms_key_arn
        },
        {
          Sid      = "RunDeploySteps"
          Effect   = "Allow"
          Action   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"]
          Resource = aws_codebuild_project.deploy.arn
        },
        {
          Sid      = "AskForApproval"
          Effect   = "Allow"
          Action   = "sns:Publish"
          Resource = aws_sns_topic.notifications.arn
        },
      ],
      var.promote_to == null ? [] : [
        {
          Sid      = "PromoteToNextEnvironment"
          Effect   = "Allow"
          Action   = "s3:PutObject"
          Resource = "${local.release_bucket_arn}/${local.promote_object_key}"
        },
      ],
    )
  })
}

# ---------------------------------------------------------------------------
# Start on a new release (S3 object created -> EventBridge -> pipeline)
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "release" {
  name        = "${local.pipeline_name}-release"
  description = "Starts ${local.pipeline_name} when s3://${local.release_bucket_name}/${local.release_object_key} changes"
  tags        = local.tags

  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [local.release_bucket_name] }
      object = { key = [local.release_object_key] }
    }
  })
}

resource "aws_cloudwatch_event_target" "release" {
  rule     = aws_cloudwatch_event_rule.release.name
  arn      = aws_codepipeline.this.arn
  role_arn = aws_iam_role.events.arn
}

resource "aws_iam_role" "events" {
  name        = "${var.name}-pipeline-trigger"
  description = "EventBridge starts ${local.pipeline_name} on a new release"
  tags        = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })
}

resource "aws_iam_role_policy" "events" {
  name = "start-pipeline"
  role = aws_iam_role.events.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "codepipeline:StartPipelineExecution"
      Resource = aws_codepipeline.this.arn
    }]
  })
}

# ---------------------------------------------------------------------------
# Notifications: failures, approvals waiting, releases done
# ---------------------------------------------------------------------------

resource "aws_sns_topic" "notifications" {
  name              = "${local.pipeline_name}-notifications"
  kms_master_key_id = aws_kms_key.pipeline.arn
  tags              = local.tags
}

resource "aws_sns_topic_policy" "notifications" {
  arn = aws_sns_topic.notifications.arn

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CodeStarNotificationsPublish"
        Effect    = "Allow"
        Principal = { Service = "codestar-notifications.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.notifications.arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
      {
        Sid       = "AccountPublishesThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic"]
        Resource  = aws_sns_topic.notifications.arn
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.notification_emails)

  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_codestarnotifications_notification_rule" "pipeline" {
  name        = "${local.pipeline_name}-events"
  resource    = aws_codepipeline.this.arn
  detail_type = "FULL"
  tags        = local.tags

  event_type_ids = [
    "codepipeline-pipeline-stage-execution-failed",
    "codepipeline-pipeline-action-execution-failed",
    "codepipeline-pipeline-pipeline-execution-failed",
    "codepipeline-pipeline-manual-approval-needed",
    "codepipeline-pipeline-pipeline-execution-succeeded",
  ]

  target {
    type    = "SNS"
    address = aws_sns_topic.notifications.arn
  }

  depends_on = [aws_sns_topic_policy.notifications]
}
