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

  mock_data "aws_region" {
    defaults = {
      region = "eu-west-1"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
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
    condition     = aws_ecs_cluster.this.name == "oneshot-dev"
    error_message = "the cluster is named after var.name"
  }

  assert {
    condition     = one([for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"]) == "enhanced"
    error_message = "Container Insights defaults to enhanced"
  }

  assert {
    condition     = toset(aws_ecs_cluster_capacity_providers.this.capacity_providers) == toset(["FARGATE", "FARGATE_SPOT"])
    error_message = "both FARGATE and FARGATE_SPOT are attached"
  }

  assert {
    condition     = aws_ecs_cluster.this.service_connect_defaults[0].namespace == aws_service_discovery_http_namespace.this.arn
    error_message = "the Cloud Map namespace is the Service Connect default"
  }

  assert {
    condition     = aws_service_discovery_http_namespace.this.name == "oneshot-dev.internal"
    error_message = "the namespace defaults to <name>.internal"
  }

  assert {
    condition     = aws_ecs_cluster.this.configuration[0].execute_command_configuration[0].logging == "OVERRIDE"
    error_message = "ECS Exec sessions are logged to our own log group"
  }

  assert {
    condition     = aws_ecs_cluster.this.configuration[0].execute_command_configuration[0].kms_key_id == aws_kms_key.this.arn
    error_message = "ECS Exec sessions are encrypted with the cluster key"
  }

  assert {
    condition     = aws_ecs_cluster.this.configuration[0].execute_command_configuration[0].log_configuration[0].cloud_watch_encryption_enabled
    error_message = "ECS Exec logs are encrypted"
  }

  assert {
    condition     = aws_cloudwatch_log_group.exec.kms_key_id == aws_kms_key.this.arn && aws_cloudwatch_log_group.exec.name == "/ecs/oneshot-dev/exec"
    error_message = "the exec log group is KMS encrypted and under the cluster prefix"
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "the cluster key rotates"
  }

  assert {
    condition     = aws_ecs_cluster.this.configuration[0].managed_storage_configuration[0].fargate_ephemeral_storage_kms_key_id == aws_kms_key.this.id
    error_message = "Fargate ephemeral storage is encrypted with the cluster key by default"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_kms_key.this.policy).Statement :
      s.Condition.StringEquals["kms:EncryptionContext:aws:ecs:clusterName"] == "oneshot-dev"
      if s.Principal == { Service = "fargate.amazonaws.com" }
    ]) && length([for s in jsondecode(aws_kms_key.this.policy).Statement : s if s.Principal == { Service = "fargate.amazonaws.com" }]) == 2
    error_message = "the key policy lets Fargate use the key for this cluster only"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this.policy).Statement :
      s.Condition.ArnLike["kms:EncryptionContext:aws:logs:arn"] if s.Sid == "CloudWatchLogsUsesKeyForClusterLogGroups"
    ]) == "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/oneshot-dev/*"
    error_message = "CloudWatch Logs may use the key only for the cluster's log groups"
  }

  assert {
    condition     = output.task_arn_pattern == "arn:aws:ecs:eu-west-1:123456789012:task/oneshot-dev/*"
    error_message = "task_arn_pattern matches the cluster's tasks"
  }
}

run "ephemeral_storage_encryption_off" {
  command = plan

  variables {
    encrypt_fargate_ephemeral_storage = false
    container_insights                = "enabled"
    service_connect_namespace         = "oneshot.local"
  }

  assert {
    condition     = length(aws_ecs_cluster.this.configuration[0].managed_storage_configuration) == 0
    error_message = "no managed storage configuration when encryption of ephemeral storage is off"
  }

  assert {
    condition     = length([for s in jsondecode(aws_kms_key.this.policy).Statement : s if s.Principal == { Service = "fargate.amazonaws.com" }]) == 0
    error_message = "Fargate gets no key access when it does not need it"
  }

  assert {
    condition     = aws_service_discovery_http_namespace.this.name == "oneshot.local"
    error_message = "the namespace name can be set"
  }
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}

run "rejects_bad_container_insights" {
  command = plan

  variables {
    container_insights = "on"
  }

  expect_failures = [var.container_insights]
}

run "rejects_bad_retention" {
  command = plan

  variables {
    exec_log_retention_days = 10
  }

  expect_failures = [var.exec_log_retention_days]
}

run "rejects_ec2_capacity_provider" {
  command = plan

  variables {
    default_capacity_provider_strategy = [{ capacity_provider = "my-asg" }]
  }

  expect_failures = [var.default_capacity_provider_strategy]
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "Oneshot_Dev"
  }

  expect_failures = [var.name]
}
