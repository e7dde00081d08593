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

run "worker" {
  command = apply

  variables {
    kind                  = "worker"
    cpu                   = 1024
    memory                = 4096
    cpu_architecture      = "ARM64"
    ephemeral_storage_gib = 100
    max_capacity          = 10
    log_kms_key_arn       = null
    create_log_kms_key    = true
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["worker", "--addr", ":8081", "--emf-namespace", "Oneshot/dev"]
    error_message = "worker default command publishes EMF to Oneshot/<env>"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].healthCheck.command == ["CMD", "/oneshot", "healthcheck", "--url", "http://127.0.0.1:8081/readyz"]
    error_message = "the worker health check uses its health port"
  }

  assert {
    condition     = length(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].portMappings) == 0
    error_message = "the worker maps no port (no ingress)"
  }

  assert {
    condition     = aws_ecs_task_definition.this.runtime_platform[0].cpu_architecture == "ARM64" && aws_ecs_task_definition.this.ephemeral_storage[0].size_in_gib == 100
    error_message = "architecture and ephemeral storage are configurable"
  }

  assert {
    condition     = length(aws_ecs_service.this[0].load_balancer) == 0 && length(aws_ecs_service.this[0].service_connect_configuration) == 0
    error_message = "the worker has no load balancer"
  }

  assert {
    condition = {
      for s in aws_ecs_service.this[0].capacity_provider_strategy : s.capacity_provider => [s.base, s.weight]
    } == { FARGATE = [0, 1], FARGATE_SPOT = [0, 3] }
    error_message = "worker in dev: no on-demand base, Spot weight 3"
  }

  assert {
    condition     = aws_ecs_service.this[0].deployment_circuit_breaker[0].rollback
    error_message = "worker circuit breaker with rollback"
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == 0 && aws_appautoscaling_target.this[0].max_capacity == 10 && aws_ecs_service.this[0].desired_count == 0
    error_message = "the worker may scale to zero"
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].resource_id == "service/oneshot-dev/oneshot-dev-worker"
    error_message = "autoscaling targets the worker service"
  }

  assert {
    condition     = aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration[0].target_value == 2
    error_message = "backlog target defaults to 2"
  }

  assert {
    condition = one([
      for m in aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics :
      m.expression if m.return_data
    ]) == "(queue + inflight) / running"
    error_message = "the backlog policy divides queued plus in-flight work by running tasks"
  }

  assert {
    condition = toset([
      for m in aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics :
      "${m.metric_stat[0].metric[0].namespace}/${m.metric_stat[0].metric[0].metric_name}" if !m.return_data
    ]) == toset(["Oneshot/dev/QueueDepth", "Oneshot/dev/InFlight", "ECS/ContainerInsights/RunningTaskCount"])
    error_message = "the backlog policy reads QueueDepth, InFlight and RunningTaskCount"
  }

  assert {
    condition = toset(flatten([
      for m in aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : [
        for d in m.metric_stat[0].metric[0].dimensions : "${d.name}=${d.value}"
      ] if !m.return_data
    ])) == toset(["Environment=dev", "ClusterName=oneshot-dev", "ServiceName=oneshot-dev-worker"])
    error_message = "app metrics by Environment, task count by cluster and service"
  }

  assert {
    condition     = aws_appautoscaling_policy.backlog[0].target_tracking_scaling_policy_configuration[0].scale_in_cooldown == 900
    error_message = "scale-in cooldown longer than a typical task"
  }

  assert {
    condition     = aws_appautoscaling_policy.cpu[0].target_tracking_scaling_policy_configuration[0].target_value == 70
    error_message = "CPU target tracking is the second signal"
  }

  assert {
    condition     = aws_appautoscaling_policy.scale_from_zero[0].step_scaling_policy_configuration[0].adjustment_type == "ChangeInCapacity" && one(aws_appautoscaling_policy.scale_from_zero[0].step_scaling_policy_configuration[0].step_adjustment).scaling_adjustment == 1
    error_message = "the step policy adds one task"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.scale_from_zero[0].alarm_actions == toset([aws_appautoscaling_policy.scale_from_zero[0].arn])
    error_message = "the queued-work alarm triggers the step policy"
  }

  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.scale_from_zero[0].metric_query : q.metric[0].metric_name if q.id == "queue"]) == "QueueDepth"
    error_message = "the wake-up alarm watches QueueDepth"
  }

  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.scale_from_zero[0].metric_query : q.expression if q.return_data]) == "IF(queue > 0 AND FILL(desired, 0) == 0, 1, 0)"
    error_message = "the wake-up alarm fires only while no worker task is wanted"
  }

  assert {
    condition     = length(aws_kms_key.logs) == 1 && aws_cloudwatch_log_group.this.kms_key_id == aws_kms_key.logs[0].arn
    error_message = "a key is created for the log group when none is given"
  }

  assert {
    condition     = length(aws_appautoscaling_scheduled_action.scale_down) == 0
    error_message = "no off-hours schedule unless asked"
  }

  assert {
    condition     = keys(output.scaling_policy_arns) == tolist(["backlog", "cpu", "scale_from_zero"])
    error_message = "the worker's policies are output by purpose"
  }
}

run "worker_exec_gets_writable_agent_paths" {
  command = plan

  variables {
    kind                   = "worker"
    enable_execute_command = true
  }

  assert {
    condition     = aws_ecs_service.this[0].enable_execute_command
    error_message = "ECS Exec can be switched on"
  }

  assert {
    condition = toset([for m in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].mountPoints : m.containerPath]) == toset([
      "/tmp", "/workspace", "/home/oneshot", "/managed-agents", "/var/lib/amazon/ssm", "/var/log/amazon/ssm",
    ])
    error_message = "the SSM agent gets writable paths despite the read-only root"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem
    error_message = "the root stays read-only with ECS Exec"
  }
}

run "worker_prod_base" {
  command = plan

  variables {
    kind        = "worker"
    environment = "prod"
    name        = "oneshot-prod"
  }

  assert {
    condition     = one([for s in aws_ecs_service.this[0].capacity_provider_strategy : s.base if s.capacity_provider == "FARGATE"]) == 1
    error_message = "prod keeps one on-demand worker task as the base"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command[4] == "Oneshot/prod"
    error_message = "EMF namespace follows the environment"
  }
}

run "worker_dev_off_hours" {
  command = plan

  variables {
    kind         = "worker"
    max_capacity = 3
    off_hours_schedule = {
      scale_down = "cron(0 19 ? * MON-FRI *)"
      scale_up   = "cron(0 7 ? * MON-FRI *)"
    }
  }

  assert {
    condition     = aws_appautoscaling_scheduled_action.scale_down[0].scalable_target_action[0].min_capacity == "0" && aws_appautoscaling_scheduled_action.scale_down[0].scalable_target_action[0].max_capacity == "0"
    error_message = "off hours: nothing runs, and the wake-up alarm cannot add a task above max 0"
  }

  assert {
    condition     = aws_appautoscaling_scheduled_action.scale_up[0].scalable_target_action[0].max_capacity == "3" && aws_appautoscaling_scheduled_action.scale_up[0].timezone == "UTC"
    error_message = "working hours restore the normal range (UTC by default)"
  }
}
