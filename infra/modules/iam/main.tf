data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  role_prefix      = "${var.name}-${var.kind}"
  log_group_name   = coalesce(var.log_group_name, "/ecs/${var.name}/${var.kind}")
  log_group_arn    = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  metric_namespace = coalesce(var.metric_namespace, "Oneshot/${var.environment}")

  # "<arn>:<json-key>:<stage>:<version>" selects inside a secret; IAM wants
  # the secret's own ARN (the first seven colon-separated fields).
  secret_arns = distinct([for a in var.secret_arns : join(":", slice(split(":", a), 0, 7))])

  # arn:...:cluster/NAME -> arn:...:task/NAME/* (every task of the cluster).
  cluster_task_arns = "${replace(var.cluster_arn, ":cluster/", ":task/")}/*"

  tags = merge(var.tags, { service = var.kind })

  # Only ECS tasks of this account and region may assume the roles; the
  # conditions stop a confused deputy in another account from passing them.
  ecs_tasks_trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EcsTasksOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "ecs-tasks.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:*" }
        }
      },
    ]
  })
}

# ---------------------------------------------------------------------------
# Execution role
# ---------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name                 = "${local.role_prefix}-execution"
  description          = "ECS execution role of ${local.role_prefix}: pull the image, write logs, read the task's secrets"
  assume_role_policy   = local.ecs_tasks_trust_policy
  permissions_boundary = var.permissions_boundary_arn
  tags                 = local.tags
}

locals {
  # Each statement is listed with the condition under which the role needs
  # it; the policy keeps the enabled ones.
  execution_statement_candidates = [
    {
      enabled = true
      statement = {
        Sid      = "WriteOwnLogGroup"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [local.log_group_arn, "${local.log_group_arn}:log-stream:*"]
      }
    },
    {
      enabled = true
      statement = {
        Sid      = "PullOwnImages"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = var.ecr_repository_arns
      }
    },
    {
      # GetAuthorizationToken returns a registry-wide login token and has no
      # resource type, so IAM accepts only "*" here. What can be pulled is
      # still limited to the repositories above.
      enabled = true
      statement = {
        Sid      = "GetRegistryLoginToken"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      }
    },
    {
      enabled = length(local.secret_arns) > 0
      statement = {
        Sid      = "ReadOwnSecrets"
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = local.secret_arns
      }
    },
    {
      enabled = length(var.ssm_parameter_arns) > 0
      statement = {
        Sid      = "ReadOwnParameters"
        Effect   = "Allow"
        Action   = "ssm:GetParameters"
        Resource = var.ssm_parameter_arns
      }
    },
    {
      enabled = length(var.kms_key_arns) > 0
      statement = {
        Sid      = "DecryptOwnSecrets"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.kms_key_arns
      }
    },
  ]

  execution_statements = [for c in local.execution_statement_candidates : c.statement if c.enabled]
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.execution_statements })
}

# ---------------------------------------------------------------------------
# Task role
# ---------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  name                 = "${local.role_prefix}-task"
  description          = "ECS task role of ${local.role_prefix}: what the application itself calls"
  assume_role_policy   = local.ecs_tasks_trust_policy
  permissions_boundary = var.permissions_boundary_arn
  tags                 = local.tags
}

locals {
  # As above; a disabled statement may be built from null inputs, which
  # coalesce(..., "-") keeps from failing string interpolation.
  task_statement_candidates = [
    {
      enabled = var.artifacts_bucket_arn != null
      statement = {
        Sid      = "ReadWriteOwnArtifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = "${coalesce(var.artifacts_bucket_arn, "-")}/${var.artifacts_prefix}/*"
      }
    },
    {
      enabled = var.artifacts_bucket_arn != null
      statement = {
        Sid      = "ListOwnArtifacts"
        Effect   = "Allow"
        Action   = "s3:ListBucket"
        Resource = var.artifacts_bucket_arn
        Condition = {
          StringLike = { "s3:prefix" = ["${var.artifacts_prefix}/*"] }
        }
      }
    },
    {
      enabled = var.artifacts_bucket_arn != null && var.artifacts_kms_key_arn != null
      statement = {
        Sid      = "UseArtifactsKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.artifacts_kms_key_arn
      }
    },
    {
      # PutMetricData has no resource type, so "*" is the only accepted
      # resource; the namespace condition is what limits it.
      enabled = true
      statement = {
        Sid      = "PutMetricsInOwnNamespace"
        Effect   = "Allow"
        Action   = "cloudwatch:PutMetricData"
        Resource = "*"
        Condition = {
          StringEquals = { "cloudwatch:namespace" = local.metric_namespace }
        }
      }
    },
    {
      # X-Ray trace and sampling calls have no resource type: IAM accepts
      # only "*" for them.
      enabled = var.enable_xray
      statement = {
        Sid    = "SendTraces"
        Effect = "Allow"
        Action = [
          "xray:PutTraceSegments",
          "xray:PutTelemetryRecords",
          "xray:GetSamplingRules",
          "xray:GetSamplingTargets",
        ]
        Resource = "*"
      }
    },
    {
      # A worker protects its own task from scale-in while it runs an agent.
      enabled = var.kind == "worker"
      statement = {
        Sid      = "ProtectOwnTasksFromScaleIn"
        Effect   = "Allow"
        Action   = ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
        Resource = local.cluster_task_arns
      }
    },
    {
      # The SSM agent's session channels have no resource type: "*" only.
      enabled = var.enable_execute_command
      statement = {
        Sid    = "EcsExecSessionChannels"
        Effect = "Allow"
        Action = [
          "ssmmessages:CreateControlChannel",
          "ssmmessages:CreateDataChannel",
          "ssmmessages:OpenControlChannel",
          "ssmmessages:OpenDataChannel",
        ]
        Resource = "*"
      }
    },
    {
      enabled = var.enable_execute_command
      statement = {
        Sid      = "EcsExecSessionKey"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.exec_kms_key_arn
      }
    },
    {
      enabled = var.enable_execute_command
      statement = {
        Sid      = "EcsExecSessionLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = [var.exec_log_group_arn, "${coalesce(var.exec_log_group_arn, "-")}:log-stream:*"]
      }
    },
    {
      # The SSM agent checks the exec log group's settings with
      # DescribeLogGroups, which cannot be limited to one group.
      enabled = var.enable_execute_command
      statement = {
        Sid      = "EcsExecFindLogGroup"
        Effect   = "Allow"
        Action   = "logs:DescribeLogGroups"
        Resource = "*"
      }
    },
  ]

  task_statements = [for c in local.task_statement_candidates : c.statement if c.enabled]
}

resource "aws_iam_role_policy" "task" {
  name   = "task"
  role   = aws_iam_role.task.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.task_statements })
}

# ---------------------------------------------------------------------------
# ECS-native blue/green: the role ECS assumes to move ALB traffic
# ---------------------------------------------------------------------------

locals {
  blue_green = var.blue_green_load_balancer

  # arn:...:loadbalancer/app/NAME/ID -> listener and listener-rule ARNs of
  # that load balancer only.
  lb_listener_arns = local.blue_green == null ? null : "${replace(local.blue_green.load_balancer_arn, ":loadbalancer/", ":listener/")}/*"
  lb_rule_arns     = local.blue_green == null ? null : "${replace(local.blue_green.load_balancer_arn, ":loadbalancer/", ":listener-rule/")}/*"
}

resource "aws_iam_role" "load_balancer" {
  count = local.blue_green == null ? 0 : 1

  name                 = "${local.role_prefix}-blue-green"
  description          = "Assumed by ECS to shift traffic between the blue and green target groups of ${local.role_prefix}"
  permissions_boundary = var.permissions_boundary_arn
  tags                 = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EcsOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "ecs.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })
}

resource "aws_iam_role_policy" "load_balancer" {
  count = local.blue_green == null ? 0 : 1

  name = "blue-green-traffic-shift"
  role = aws_iam_role.load_balancer[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Elastic Load Balancing Describe* calls cannot be limited to
        # resources: IAM accepts only "*" for them.
        Sid    = "ReadLoadBalancerState"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:DescribeListeners",
          "elasticloadbalancing:DescribeRules",
          "elasticloadbalancing:DescribeTargetGroups",
          "elasticloadbalancing:DescribeTargetHealth",
        ]
        Resource = "*"
      },
      {
        Sid      = "RegisterTasksInBlueAndGreen"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
        Resource = local.blue_green.target_group_arns
      },
      {
        Sid      = "ShiftTrafficOnOwnListeners"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"]
        Resource = [local.lb_listener_arns, local.lb_rule_arns]
      },
    ]
  })
}
