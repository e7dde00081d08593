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
      arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    }
  }

  mock_resource "aws_appautoscaling_policy" {
    defaults = {
      arn = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:00000000-0000-0000-0000-000000000000:resource/ecs/service/oneshot-dev/oneshot-dev-worker:policyName/scale"
    }
  }
}

variables {
  name               = "oneshot-dev"
  environment        = "dev"
  cluster_arn        = "arn:aws:ecs:eu-west-1:123456789012:cluster/oneshot-dev"
  cluster_name       = "oneshot-dev"
  execution_role_arn = "arn:aws:iam::123456789012:role/oneshot-dev-api-execution"
  task_role_arn      = "arn:aws:iam::123456789012:role/oneshot-dev-api-task"
  subnet_ids         = ["subnet-aaaa", "subnet-bbbb"]
  security_group_ids = ["sg-1111"]
  image              = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot:1.0.0"
  cpu                = 512
  memory             = 1024
  log_kms_key_arn    = "arn:aws:kms:eu-west-1:123456789012:key/22222222-2222-2222-2222-222222222222"
}

run "api" {
  command = apply

  variables {
    kind                          = "api"
    target_group_arn              = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"
    service_connect_namespace_arn = "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-abc"
    environment_variables         = { ONESHOT_LOG_LEVEL = "info" }
    secrets = {
      ONESHOT_BOOTSTRAP_TOKEN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oneshot/dev/bootstrap-token-AbCdEf"
      ONESHOT_DB_PASSWORD     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf:password::"
      ONESHOT_CONFIG_YAML     = "arn:aws:ssm:eu-west-1:123456789012:parameter/oneshot/dev/profiles"
    }
    deployment_alarm_names = ["oneshot-dev-api-5xx-rate"]
    off_hours_schedule = {
      scale_down = "cron(0 20 ? * MON-FRI *)"
      scale_up   = "cron(0 7 ? * MON-FRI *)"
      timezone   = "Europe/Berlin"
    }
  }

  assert {
    condition     = aws_ecs_task_definition.this.family == "oneshot-dev-api"
    error_message = "family is <name>-<kind>"
  }

  assert {
    condition     = aws_ecs_task_definition.this.network_mode == "awsvpc" && toset(aws_ecs_task_definition.this.requires_compatibilities) == toset(["FARGATE"])
    error_message = "FARGATE with awsvpc networking"
  }

  assert {
    condition     = aws_ecs_task_definition.this.cpu == "512" && aws_ecs_task_definition.this.memory == "1024"
    error_message = "explicit task cpu and memory"
  }

  assert {
    condition     = aws_ecs_task_definition.this.runtime_platform[0].cpu_architecture == "X86_64" && aws_ecs_task_definition.this.runtime_platform[0].operating_system_family == "LINUX"
    error_message = "linux runtime platform with the chosen architecture"
  }

  assert {
    condition     = aws_ecs_task_definition.this.ephemeral_storage[0].size_in_gib == 21
    error_message = "ephemeral storage defaults to 21 GiB"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["serve", "--addr", ":8080", "--workers", "0"]
    error_message = "api default command"
  }

  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem == true &&
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].user == "65532" &&
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 120 &&
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].linuxParameters.capabilities.drop == ["ALL"] &&
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].linuxParameters.initProcessEnabled == true
    )
    error_message = "read-only root, non-root user, stopTimeout 120, all capabilities dropped, init process"
  }

  assert {
    condition     = toset([for m in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].mountPoints : m.containerPath]) == toset(["/tmp", "/workspace", "/home/oneshot"])
    error_message = "scratch volumes are mounted at /tmp, /workspace and /home/oneshot"
  }

  assert {
    condition     = toset([for v in aws_ecs_task_definition.this.volume : v.name]) == toset(["tmp", "workspace", "home"])
    error_message = "one task-local volume per scratch mount"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].healthCheck.command == ["CMD", "/oneshot", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
    error_message = "the api health check calls /readyz on 8080 with the binary itself"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].portMappings == [{ name = "http", containerPort = 8080, hostPort = 8080, protocol = "tcp", appProtocol = "http" }]
    error_message = "the api maps port 8080 under the name http"
  }

  assert {
    condition = contains(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets, {
      name      = "ONESHOT_DB_PASSWORD"
      valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf:password::"
    })
    error_message = "secrets are passed through, JSON-key form included"
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment, { name = "ONESHOT_LOG_LEVEL", value = "info" })
    error_message = "plain environment variables are set"
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment, { name = "HOME", value = "/home/oneshot" })
    error_message = "HOME points at the writable home volume"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration.logDriver == "awslogs" && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration.options["awslogs-group"] == "/ecs/oneshot-dev/api"
    error_message = "awslogs to the service's log group"
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == var.log_kms_key_arn && aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "the log group uses the given key and the retention"
  }

  assert {
    condition     = length(aws_kms_key.logs) == 0
    error_message = "no key is created when one is given"
  }

  assert {
    condition     = aws_ecs_service.this[0].launch_type == null
    error_message = "launch_type is left out in favour of capacity providers"
  }

  assert {
    condition     = [for s in aws_ecs_service.this[0].capacity_provider_strategy : s.capacity_provider] == ["FARGATE"]
    error_message = "the api runs on on-demand FARGATE only"
  }

  assert {
    condition     = aws_ecs_service.this[0].network_configuration[0].assign_public_ip == false
    error_message = "no public IP"
  }

  assert {
    condition     = one(aws_ecs_service.this[0].load_balancer).target_group_arn == var.target_group_arn && one(aws_ecs_service.this[0].load_balancer).container_port == 8080
    error_message = "the api registers in the blue target group on 8080"
  }

  assert {
    condition     = aws_ecs_service.this[0].deployment_circuit_breaker[0].enable && aws_ecs_service.this[0].deployment_circuit_breaker[0].rollback
    error_message = "circuit breaker with rollback"
  }

  assert {
    condition     = aws_ecs_service.this[0].deployment_controller[0].type == "ECS" && aws_ecs_service.this[0].deployment_configuration[0].strategy == "ROLLING"
    error_message = "rolling ECS deployments unless blue/green is configured"
  }

  assert {
    condition     = aws_ecs_service.this[0].health_check_grace_period_seconds == 60
    error_message = "health check grace period on the api"
  }

  assert {
    condition     = aws_ecs_service.this[0].alarms[0].alarm_names == toset(["oneshot-dev-api-5xx-rate"]) && aws_ecs_service.this[0].alarms[0].rollback
    error_message = "deployment alarms roll back"
  }

  assert {
    condition     = aws_ecs_service.this[0].service_connect_configuration[0].service[0].port_name == "http" && aws_ecs_service.this[0].service_connect_configuration[0].service[0].client_alias[0].port == 8080
    error_message = "Service Connect client-server on the http port"
  }

  assert {
    condition     = aws_ecs_service.this[0].desired_count == 1 && aws_appautoscaling_target.this[0].min_capacity == 1
    error_message = "the api starts with and keeps at least one task"
  }

  assert {
    condition     = aws_appautoscaling_policy.cpu[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization"
    error_message = "the api scales on CPU"
  }

  assert {
    condition     = length(aws_appautoscaling_policy.backlog) == 0 && length(aws_cloudwatch_metric_alarm.scale_from_zero) == 0
    error_message = "backlog scaling is for the worker only"
  }

  assert {
    condition     = aws_appautoscaling_scheduled_action.scale_down[0].scalable_target_action[0].max_capacity == "0" && aws_appautoscaling_scheduled_action.scale_up[0].scalable_target_action[0].min_capacity == "1"
    error_message = "off-hours schedule scales the api to zero and back"
  }

  assert {
    condition     = aws_appautoscaling_scheduled_action.scale_up[0].timezone == "Europe/Berlin"
    error_message = "the schedule runs in the given time zone"
  }

  assert {
    condition     = aws_ecs_service.this[0].tags["service"] == "api"
    error_message = "service tag is the kind"
  }

  assert {
    condition     = output.service_name == "oneshot-dev-api" && output.log_group_name == "/ecs/oneshot-dev/api"
    error_message = "outputs name the service and log group"
  }
}

# The pipeline owns task definition revisions and autoscaling owns the count:
# a later apply with other values must leave both as they are in state.
run "api_ignores_revision_and_count_changes" {
  command = apply

  variables {
    kind                          = "api"
    target_group_arn              = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"
    service_connect_namespace_arn = "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-abc"
    image                         = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot:2.0.0"
    desired_count                 = 5
  }

  assert {
    condition     = aws_ecs_service.this[0].desired_count == 1
    error_message = "desired_count is not reset by Terraform"
  }

  assert {
    condition     = aws_ecs_service.this[0].task_definition == run.api.task_definition_arn
    error_message = "the service keeps the revision it runs when Terraform registers a new one"
  }
}

run "api_blue_green" {
  command = plan

  variables {
    kind             = "api"
    target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"
    blue_green = {
      alternate_target_group_arn   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-green/fedcba9876543210"
      production_listener_rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/oneshot-dev/1234/5678/9abc"
      test_listener_rule_arn       = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/oneshot-dev/1234/8765/cba9"
      role_arn                     = "arn:aws:iam::123456789012:role/oneshot-dev-api-blue-green"
      bake_time_in_minutes         = 10
    }
  }

  assert {
    condition     = aws_ecs_service.this[0].deployment_configuration[0].strategy == "BLUE_GREEN" && aws_ecs_service.this[0].deployment_configuration[0].bake_time_in_minutes == "10"
    error_message = "ECS-native blue/green with the bake time"
  }

  assert {
    condition     = one(one(aws_ecs_service.this[0].load_balancer).advanced_configuration).alternate_target_group_arn == var.blue_green.alternate_target_group_arn
    error_message = "the green target group is the alternate"
  }

  assert {
    condition     = one(one(aws_ecs_service.this[0].load_balancer).advanced_configuration).production_listener_rule == var.blue_green.production_listener_rule_arn
    error_message = "ECS shifts the production listener rule"
  }

  assert {
    condition     = one(one(aws_ecs_service.this[0].load_balancer).advanced_configuration).role_arn == var.blue_green.role_arn
    error_message = "ECS assumes the given role to shift traffic"
  }

  assert {
    condition     = aws_ecs_service.this[0].deployment_controller[0].type == "ECS"
    error_message = "ECS-native blue/green keeps the ECS controller"
  }
}

run "api_canary_with_smoke_test_hook" {
  command = plan

  variables {
    kind             = "api"
    target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"
    blue_green = {
      alternate_target_group_arn   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-green/fedcba9876543210"
      production_listener_rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/oneshot-dev/1234/5678/9abc"
      test_listener_rule_arn       = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/oneshot-dev/1234/8765/cba9"
      role_arn                     = "arn:aws:iam::123456789012:role/oneshot-dev-api-blue-green"
      strategy                     = "CANARY"
      canary_configuration         = { canary_percent = 10, canary_bake_time_in_minutes = 5 }
      lifecycle_hooks = [{
        hook_target_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:oneshot-dev-smoke-hook"
        role_arn         = "arn:aws:iam::123456789012:role/oneshot-dev-smoke-hook-invoke"
        lifecycle_stages = ["POST_TEST_TRAFFIC_SHIFT"]
      }]
    }
  }

  assert {
    condition = (
      aws_ecs_service.this[0].deployment_configuration[0].strategy == "CANARY" &&
      aws_ecs_service.this[0].deployment_configuration[0].canary_configuration[0].canary_percent == 10 &&
      aws_ecs_service.this[0].deployment_configuration[0].canary_configuration[0].canary_bake_time_in_minutes == "5" &&
      length(aws_ecs_service.this[0].deployment_configuration[0].linear_configuration) == 0
    )
    error_message = "a CANARY strategy must carry its canary configuration"
  }

  assert {
    condition     = one(aws_ecs_service.this[0].deployment_configuration[0].lifecycle_hook).lifecycle_stages == tolist(["POST_TEST_TRAFFIC_SHIFT"]) && one(aws_ecs_service.this[0].deployment_configuration[0].lifecycle_hook).hook_target_arn == "arn:aws:lambda:eu-west-1:123456789012:function:oneshot-dev-smoke-hook"
    error_message = "the smoke test hook must run after test traffic reaches the new tasks"
  }
}

run "rejects_canary_without_its_configuration" {
  command = plan

  variables {
    kind             = "api"
    target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"
    blue_green = {
      alternate_target_group_arn   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-green/fedcba9876543210"
      production_listener_rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/oneshot-dev/1234/5678/9abc"
      role_arn                     = "arn:aws:iam::123456789012:role/oneshot-dev-api-blue-green"
      strategy                     = "CANARY"
    }
  }

  expect_failures = [var.blue_green]
}

run "api_code_deploy" {
  command = plan

  variables {
    kind                  = "api"
    target_group_arn      = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"
    deployment_controller = "CODE_DEPLOY"
  }

  assert {
    condition     = aws_ecs_service.this[0].deployment_controller[0].type == "CODE_DEPLOY"
    error_message = "CodeDeploy controller can be chosen"
  }

  assert {
    condition     = length(aws_ecs_service.this[0].deployment_circuit_breaker) == 0 && length(aws_ecs_service.this[0].deployment_configuration) == 0
    error_message = "no ECS-controller settings under CodeDeploy"
  }
}

run "custom_command" {
  command = plan

  variables {
    kind             = "api"
    target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-blue/0123456789abcdef"
    command          = ["serve", "--addr", ":9090"]
    container_port   = 9090
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["serve", "--addr", ":9090"]
    error_message = "the caller's command wins"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].healthCheck.command[4] == "http://127.0.0.1:9090/readyz"
    error_message = "the health check follows the port"
  }
}
