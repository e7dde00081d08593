locals {
  # api: on-demand only (it serves users; Spot interruptions would cost
  # requests). worker: an on-demand base, the rest mostly on Spot (agent tasks
  # are retried by the queue when a Spot task is reclaimed).
  capacity_provider_strategy = local.is_api ? [
    { capacity_provider = "FARGATE", base = 0, weight = 1 },
    ] : [
    { capacity_provider = "FARGATE", base = coalesce(var.on_demand_base, var.environment == "prod" ? 1 : 0), weight = 1 },
    { capacity_provider = "FARGATE_SPOT", base = 0, weight = var.spot_weight },
  ]

  ecs_controller = var.deployment_controller == "ECS"
}

resource "aws_ecs_service" "this" {
  count = local.create_service ? 1 : 0

  name            = local.service_name
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = local.desired_count

  # launch_type is left out on purpose: the capacity provider strategy decides.
  platform_version              = "LATEST"
  enable_execute_command        = var.enable_execute_command
  enable_ecs_managed_tags       = true
  propagate_tags                = "SERVICE"
  availability_zone_rebalancing = local.ecs_controller ? "ENABLED" : "DISABLED" # not offered with CodeDeploy
  wait_for_steady_state         = false

  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  health_check_grace_period_seconds  = local.is_api ? var.health_check_grace_period_seconds : null

  dynamic "capacity_provider_strategy" {
    for_each = local.capacity_provider_strategy
    content {
      capacity_provider = capacity_provider_strategy.value.capacity_provider
      base              = capacity_provider_strategy.value.base
      weight            = capacity_provider_strategy.value.weight
    }
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  deployment_controller {
    type = var.deployment_controller
  }

  # CodeDeploy does its own rollback; the circuit breaker, the deployment
  # strategy and deployment alarms belong to the ECS controller.
  dynamic "deployment_circuit_breaker" {
    for_each = local.ecs_controller ? [1] : []
    content {
      enable   = true
      rollback = true
    }
  }

  dynamic "deployment_configuration" {
    for_each = local.ecs_controller ? [1] : []
    content {
      strategy             = var.blue_green != null ? var.blue_green.strategy : "ROLLING"
      bake_time_in_minutes = var.blue_green != null ? tostring(var.blue_green.bake_time_in_minutes) : null

      dynamic "canary_configuration" {
        for_each = var.blue_green != null && try(var.blue_green.strategy == "CANARY", false) ? [var.blue_green.canary_configuration] : []
        content {
          canary_percent              = canary_configuration.value.canary_percent
          canary_bake_time_in_minutes = tostring(canary_configuration.value.canary_bake_time_in_minutes)
        }
      }

      dynamic "linear_configuration" {
        for_each = var.blue_green != null && try(var.blue_green.strategy == "LINEAR", false) ? [var.blue_green.linear_configuration] : []
        content {
          step_percent              = linear_configuration.value.step_percent
          step_bake_time_in_minutes = tostring(linear_configuration.value.step_bake_time_in_minutes)
        }
      }

      dynamic "lifecycle_hook" {
        for_each = var.blue_green != null ? var.blue_green.lifecycle_hooks : []
        content {
          hook_target_arn  = lifecycle_hook.value.hook_target_arn
          role_arn         = lifecycle_hook.value.role_arn
          lifecycle_stages = lifecycle_hook.value.lifecycle_stages
        }
      }
    }
  }

  dynamic "alarms" {
    for_each = local.ecs_controller && length(var.deployment_alarm_names) > 0 ? [1] : []
    content {
      alarm_names = var.deployment_alarm_names
      enable      = true
      rollback    = true
    }
  }

  dynamic "load_balancer" {
    for_each = local.is_api ? [1] : []
    content {
      target_group_arn = var.target_group_arn
      container_name   = var.container_name
      container_port   = local.container_port

      dynamic "advanced_configuration" {
        for_each = var.blue_green != null ? [var.blue_green] : []
        content {
          alternate_target_group_arn = advanced_configuration.value.alternate_target_group_arn
          production_listener_rule   = advanced_configuration.value.production_listener_rule_arn
          test_listener_rule         = advanced_configuration.value.test_listener_rule_arn
          role_arn                   = advanced_configuration.value.role_arn
        }
      }
    }
  }

  dynamic "service_connect_configuration" {
    for_each = local.is_api && var.service_connect_namespace_arn != null ? [1] : []
    content {
      enabled   = true
      namespace = var.service_connect_namespace_arn

      log_configuration {
        log_driver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "service-connect"
        }
      }

      service {
        port_name      = "http"
        discovery_name = var.kind

        client_alias {
          dns_name = var.kind
          port     = local.container_port
        }
      }
    }
  }

  tags = local.tags

  # Ownership (see README): the delivery pipeline registers and deploys task
  # definition revisions, and Application Auto Scaling sets the task count.
  # Terraform owns everything else about the service, so a plan never undoes
  # a deployment or a scaling decision.
  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }
}
