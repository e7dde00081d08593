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
}

variables {
  name                = "oneshot-dev"
  environment         = "dev"
  kind                = "api"
  cluster_arn         = "arn:aws:ecs:eu-west-1:123456789012:cluster/oneshot-dev"
  ecr_repository_arns = ["arn:aws:ecr:eu-west-1:123456789012:repository/oneshot"]
  secret_arns = [
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oneshot/dev/bootstrap-token-AbCdEf",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-XyZxYz:username::",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-XyZxYz:password::",
  ]
  ssm_parameter_arns    = ["arn:aws:ssm:eu-west-1:123456789012:parameter/oneshot/dev/profiles"]
  kms_key_arns          = ["arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111"]
  artifacts_bucket_arn  = "arn:aws:s3:::oneshot-dev-artifacts-123456789012"
  artifacts_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/33333333-3333-3333-3333-333333333333"
}

run "api_roles" {
  command = plan

  assert {
    condition     = aws_iam_role.execution.name == "oneshot-dev-api-execution" && aws_iam_role.task.name == "oneshot-dev-api-task"
    error_message = "one execution and one task role per service"
  }

  assert {
    condition     = jsondecode(aws_iam_role.task.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com"
    error_message = "trusted by ECS tasks"
  }

  assert {
    condition     = jsondecode(aws_iam_role.task.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "trust limited to this account"
  }

  assert {
    condition     = jsondecode(aws_iam_role.execution.assume_role_policy).Statement[0].Condition.ArnLike["aws:SourceArn"] == "arn:aws:ecs:eu-west-1:123456789012:*"
    error_message = "trust limited to ECS resources of this account and region"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "WriteOwnLogGroup"
    ]) == ["arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/oneshot-dev/api", "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/oneshot-dev/api:log-stream:*"]
    error_message = "the execution role writes only to its own log group, /ecs/<name>/<kind>"
  }

  assert {
    condition = toset(one([
      for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "ReadOwnSecrets"
      ])) == toset([
      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oneshot/dev/bootstrap-token-AbCdEf",
      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-XyZxYz",
    ])
    error_message = "secret ARNs with a JSON key are reduced to the secret, once"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Action if s.Sid == "ReadOwnParameters"
    ]) == "ssm:GetParameters"
    error_message = "SSM parameters read with GetParameters"
  }

  assert {
    condition = tolist(one([
      for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "PullOwnImages"
    ])) == tolist(var.ecr_repository_arns)
    error_message = "image pulls limited to the given repositories"
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Action if s.Resource == "*"
    ] == ["ecr:GetAuthorizationToken"]
    error_message = "the only wildcard resource of the execution role is the ECR login token"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "ReadWriteOwnArtifacts"
    ]) == "arn:aws:s3:::oneshot-dev-artifacts-123456789012/tasks/*"
    error_message = "S3 access limited to the artifacts prefix"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Condition.StringEquals["cloudwatch:namespace"] if s.Sid == "PutMetricsInOwnNamespace"
    ]) == "Oneshot/dev"
    error_message = "metrics only in Oneshot/<env>"
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if s.Sid == "ProtectOwnTasksFromScaleIn"]) == 0
    error_message = "the api gets no task protection permission"
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if startswith(s.Sid, "EcsExec")]) == 0
    error_message = "no ECS Exec permissions unless enabled"
  }

  assert {
    condition     = contains([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Sid], "SendTraces")
    error_message = "X-Ray enabled by default"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement :
      contains(["PutMetricsInOwnNamespace", "SendTraces"], s.Sid) if s.Resource == "*"
    ])
    error_message = "the task role uses \"*\" only where AWS offers no resource scoping"
  }

  assert {
    condition     = length(aws_iam_role.load_balancer) == 0 && output.load_balancer_role_arn == null
    error_message = "no blue/green role unless asked"
  }

  assert {
    condition     = aws_iam_role.task.tags["service"] == "api"
    error_message = "roles carry the service tag"
  }
}

run "worker_roles" {
  command = plan

  variables {
    kind                   = "worker"
    enable_execute_command = true
    exec_kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/44444444-4444-4444-4444-444444444444"
    exec_log_group_arn     = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/oneshot-dev/exec"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "ProtectOwnTasksFromScaleIn"
    ]) == "arn:aws:ecs:eu-west-1:123456789012:task/oneshot-dev/*"
    error_message = "the worker may protect tasks of its cluster only"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Action if s.Sid == "ProtectOwnTasksFromScaleIn"
    ]) == ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
    error_message = "task protection actions"
  }

  assert {
    condition     = contains([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Sid], "EcsExecSessionChannels")
    error_message = "ECS Exec gets the SSM message channels"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "EcsExecSessionKey"
    ]) == var.exec_kms_key_arn
    error_message = "ECS Exec decrypts with the exec key only"
  }
}

run "migrate_without_artifacts_or_xray" {
  command = plan

  variables {
    kind                  = "migrate"
    log_group_name        = "/ecs/custom/migrate"
    artifacts_bucket_arn  = null
    artifacts_kms_key_arn = null
    enable_xray           = false
    secret_arns           = []
    ssm_parameter_arns    = []
    kms_key_arns          = []
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Sid] == ["PutMetricsInOwnNamespace"]
    error_message = "migrate's task role only puts metrics"
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Sid] == ["WriteOwnLogGroup", "PullOwnImages", "GetRegistryLoginToken"]
    error_message = "no secret statements without secrets"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.execution.policy).Statement[0].Resource[0] == "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/custom/migrate"
    error_message = "the log group name can be overridden"
  }
}

run "api_blue_green_role" {
  command = plan

  variables {
    blue_green_load_balancer = {
      load_balancer_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/oneshot-dev/50dc6c495c0c9188"
      target_group_arns = [
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-green/fedcba9876543210",
      ]
    }
  }

  assert {
    condition     = jsondecode(aws_iam_role.load_balancer[0].assume_role_policy).Statement[0].Principal.Service == "ecs.amazonaws.com"
    error_message = "the blue/green role is assumed by ECS"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.load_balancer[0].policy).Statement : s.Resource if s.Sid == "ShiftTrafficOnOwnListeners"
      ]) == [
      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/oneshot-dev/50dc6c495c0c9188/*",
      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/oneshot-dev/50dc6c495c0c9188/*",
    ]
    error_message = "ECS may modify only this load balancer's listeners and rules"
  }

  assert {
    condition = tolist(one([
      for s in jsondecode(aws_iam_role_policy.load_balancer[0].policy).Statement : s.Resource if s.Sid == "RegisterTasksInBlueAndGreen"
    ])) == tolist(var.blue_green_load_balancer.target_group_arns)
    error_message = "ECS registers targets in blue and green only"
  }
}

run "rejects_blue_green_role_for_worker" {
  command = plan

  variables {
    kind = "worker"
    blue_green_load_balancer = {
      load_balancer_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/oneshot-dev/50dc6c495c0c9188"
      target_group_arns = ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"]
    }
  }

  expect_failures = [var.blue_green_load_balancer]
}

run "rejects_wildcard_log_group" {
  command = plan

  variables {
    log_group_name = "/ecs/*"
  }

  expect_failures = [var.log_group_name]
}

run "rejects_wildcard_secret" {
  command = plan

  variables {
    secret_arns = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:*"]
  }

  expect_failures = [var.secret_arns]
}

run "rejects_empty_repositories" {
  command = plan

  variables {
    ecr_repository_arns = []
  }

  expect_failures = [var.ecr_repository_arns]
}

run "rejects_exec_without_key" {
  command = plan

  variables {
    enable_execute_command = true
    exec_log_group_arn     = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/oneshot-dev/exec"
  }

  expect_failures = [var.exec_kms_key_arn]
}

run "rejects_prefix_with_slashes" {
  command = plan

  variables {
    artifacts_prefix = "/tasks/"
  }

  expect_failures = [var.artifacts_prefix]
}

run "rejects_unknown_kind" {
  command = plan

  variables {
    kind = "cron"
  }

  expect_failures = [var.kind]
}
