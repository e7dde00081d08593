data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  is_api         = var.kind == "api"
  is_worker      = var.kind == "worker"
  create_service = var.kind != "migrate"

  family         = "${var.name}-${var.kind}"
  service_name   = "${var.name}-${var.kind}"
  log_group_name = "/ecs/${var.name}/${var.kind}"

  metric_namespace = coalesce(var.metric_namespace, "Oneshot/${var.environment}")

  # migrate listens on nothing: no port, no health check.
  default_port   = { api = 8080, worker = 8081 }
  container_port = local.create_service ? coalesce(var.container_port, lookup(local.default_port, var.kind, 0)) : null

  default_command = {
    api     = ["serve", "--addr", ":${coalesce(local.container_port, 8080)}", "--workers", "0"]
    worker  = ["worker", "--addr", ":${coalesce(local.container_port, 8081)}", "--emf-namespace", local.metric_namespace]
    migrate = ["migrate"]
  }
  command = var.command != null ? var.command : local.default_command[var.kind]

  min_capacity  = coalesce(var.min_capacity, local.is_api ? 1 : 0)
  desired_count = coalesce(var.desired_count, local.min_capacity)

  # ECS Exec's SSM agent writes its state, logs and binaries below these
  # paths; with a read-only root it needs them writable or it stops at once.
  exec_volumes = var.enable_execute_command ? {
    ssm-managed-agents = "/managed-agents"
    ssm-agent-state    = "/var/lib/amazon/ssm"
    ssm-agent-logs     = "/var/log/amazon/ssm"
  } : {}
  volumes = merge(local.exec_volumes, var.scratch_volumes)

  tags = merge(var.tags, { service = var.kind })
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

resource "aws_kms_key" "logs" {
  count = var.create_log_kms_key ? 1 : 0

  description             = "${local.family} log group"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = local.tags

  # "Resource": "*" in a key policy means this key itself.
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
        Sid       = "CloudWatchLogsUsesKeyForThisLogGroup"
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
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
          }
        }
      },
    ]
  })
}

locals {
  log_kms_key_arn = var.create_log_kms_key ? aws_kms_key.logs[0].arn : var.log_kms_key_arn
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.log_kms_key_arn
  tags              = local.tags
}

# ---------------------------------------------------------------------------
# Task definition
# ---------------------------------------------------------------------------

locals {
  health_check = local.container_port == null ? null : {
    command     = ["CMD", "/oneshot", "healthcheck", "--url", "http://127.0.0.1:${local.container_port}/readyz"]
    interval    = var.health_check.interval
    timeout     = var.health_check.timeout
    retries     = var.health_check.retries
    startPeriod = var.health_check.start_period
  }

  # Only the api takes traffic; its port is named so Service Connect and the
  # load balancer can refer to it. The worker's health port is reached from
  # inside the task only, so it is not mapped.
  port_mappings = local.is_api ? [
    {
      name          = "http"
      containerPort = local.container_port
      hostPort      = local.container_port
      protocol      = "tcp"
      appProtocol   = "http"
    }
  ] : []

  # HOME points into a scratch volume because the root filesystem is
  # read-only and the agent CLIs keep their state under $HOME.
  base_environment = {
    HOME   = lookup(var.scratch_volumes, "home", "/tmp")
    TMPDIR = lookup(var.scratch_volumes, "tmp", "/tmp")
  }
  environment = merge(local.base_environment, var.environment_variables)

  container = {
    name                   = var.container_name
    image                  = var.image
    essential              = true
    command                = local.command
    user                   = "65532"
    readonlyRootFilesystem = true
    stopTimeout            = 120

    linuxParameters = {
      initProcessEnabled = true
      capabilities = {
        add  = []
        drop = ["ALL"]
      }
    }

    mountPoints = [
      for volume, path in local.volumes : {
        sourceVolume  = volume
        containerPath = path
        readOnly      = false
      }
    ]

    environment = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets     = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]

    portMappings = local.port_mappings
    healthCheck  = local.health_check

    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = local.region
        awslogs-stream-prefix = var.kind
        mode                  = "non-blocking"
        max-buffer-size       = "25m"
      }
    }
  }

  # jsonencode keeps null members (ECS rejects "healthCheck": null), so drop them.
  container_definition = { for k, v in local.container : k => v if v != null }
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn

  container_definitions = jsonencode([local.container_definition])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  ephemeral_storage {
    size_in_gib = var.ephemeral_storage_gib
  }

  # Task-local bind mounts on the (encrypted) Fargate ephemeral storage.
  dynamic "volume" {
    for_each = local.volumes
    content {
      name = volume.key
    }
  }

  # Revisions that Terraform replaces stay registered so that a deployment
  # can roll back to them; the pipeline registers its own revisions anyway.
  skip_destroy = true

  tags = local.tags
}
