locals {
  autoscaling_resource_id = "service/${var.cluster_name}/${local.service_name}"

  service_dimensions = {
    ClusterName = var.cluster_name
    ServiceName = local.service_name
  }
}

resource "aws_appautoscaling_target" "this" {
  count = local.create_service ? 1 : 0

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = local.autoscaling_resource_id
  min_capacity       = local.min_capacity
  max_capacity       = var.max_capacity
  tags               = local.tags

  depends_on = [aws_ecs_service.this]
}

# CPU is the api's scaling signal and the worker's second one (agent CLIs can
# be CPU heavy while the backlog is small).
resource "aws_appautoscaling_policy" "cpu" {
  count = local.create_service ? 1 : 0

  name               = "${local.service_name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# Worker: keep (queued + in-flight) / running tasks near the target. The app
# publishes QueueDepth and InFlight as queue-wide gauges (every worker reports
# the same value), so Maximum is the right statistic however many publish.
# With zero running tasks the quotient has no value and this policy does
# nothing; scale_from_zero below covers that case.
resource "aws_appautoscaling_policy" "backlog" {
  count = local.is_worker ? 1 : 0

  name               = "${local.service_name}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.backlog_per_task_target
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds

    customized_metric_specification {
      metrics {
        id          = "queue"
        label       = "Queued tasks"
        return_data = false

        metric_stat {
          stat = "Maximum"

          metric {
            namespace   = local.metric_namespace
            metric_name = "QueueDepth"

            dimensions {
              name  = "Environment"
              value = var.environment
            }
          }
        }
      }

      metrics {
        id          = "inflight"
        label       = "Tasks being worked on"
        return_data = false

        metric_stat {
          stat = "Maximum"

          metric {
            namespace   = local.metric_namespace
            metric_name = "InFlight"

            dimensions {
              name  = "Environment"
              value = var.environment
            }
          }
        }
      }

      metrics {
        id          = "running"
        label       = "Running worker tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = var.cluster_name
            }

            dimensions {
              name  = "ServiceName"
              value = local.service_name
            }
          }
        }
      }

      metrics {
        id          = "backlog"
        label       = "Backlog per running task"
        expression  = "(queue + inflight) / running"
        return_data = true
      }
    }
  }
}

# Worker: target tracking cannot leave zero tasks, so an alarm that fires
# while work is queued and no task is wanted adds one task; the backlog policy
# takes over from there. The alarm only fires at zero desired tasks, so it
# never fights the target-tracking policies.
resource "aws_appautoscaling_policy" "scale_from_zero" {
  count = local.is_worker ? 1 : 0

  name               = "${local.service_name}-scale-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = var.scale_out_cooldown_seconds
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = "0"
      scaling_adjustment          = 1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "scale_from_zero" {
  count = local.is_worker ? 1 : 0

  alarm_name          = "${local.service_name}-queued-work-without-workers"
  alarm_description   = "Work is queued (QueueDepth > 0) while ${local.service_name} wants no task: add one. Drives the scale-from-zero step policy."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_from_zero[0].arn]

  metric_query {
    id          = "queue"
    label       = "Queued tasks"
    return_data = false

    metric {
      namespace   = local.metric_namespace
      metric_name = "QueueDepth"
      dimensions  = { Environment = var.environment }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id          = "desired"
    label       = "Desired worker tasks"
    return_data = false

    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = local.service_dimensions
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id          = "wake"
    label       = "Queued work and no worker wanted"
    expression  = "IF(queue > 0 AND FILL(desired, 0) == 0, 1, 0)"
    return_data = true
  }

  tags = local.tags
}

# Off-hours: scale to zero in the evening, back to the normal range in the
# morning (used in dev to save cost).
resource "aws_appautoscaling_scheduled_action" "scale_down" {
  count = local.create_service && var.off_hours_schedule != null ? 1 : 0

  name               = "${local.service_name}-off-hours-down"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  schedule           = var.off_hours_schedule.scale_down
  timezone           = var.off_hours_schedule.timezone

  scalable_target_action {
    min_capacity = "0"
    max_capacity = "0"
  }
}

resource "aws_appautoscaling_scheduled_action" "scale_up" {
  count = local.create_service && var.off_hours_schedule != null ? 1 : 0

  name               = "${local.service_name}-off-hours-up"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  schedule           = var.off_hours_schedule.scale_up
  timezone           = var.off_hours_schedule.timezone

  scalable_target_action {
    min_capacity = tostring(local.min_capacity)
    max_capacity = tostring(var.max_capacity)
  }

  # Application Auto Scaling rejects concurrent changes to one target.
  depends_on = [aws_appautoscaling_scheduled_action.scale_down]
}
