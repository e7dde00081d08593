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
      arn = "arn:aws:kms:eu-west-1:123456789012:key/77777777-7777-7777-7777-777777777777"
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:123456789012:oneshot-dev-alarms"
    }
  }
}

variables {
  name                   = "oneshot-dev"
  environment            = "dev"
  alb_arn_suffix         = "app/oneshot-dev/50dc6c495c0c9188"
  cluster_name           = "oneshot-dev"
  db_instance_identifier = "oneshot-dev"
  target_group_arn_suffixes = {
    blue  = "targetgroup/oneshot-dev-blue/0123456789abcdef"
    green = "targetgroup/oneshot-dev-green/fedcba9876543210"
  }
  alarm_emails = ["oncall@example.com"]
}

run "alarms_and_dashboard" {
  command = apply

  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.alarms.arn
    error_message = "the alarm topic is encrypted with a CMK"
  }

  assert {
    condition     = aws_sns_topic_subscription.email["oncall@example.com"].protocol == "email"
    error_message = "e-mail subscriptions are created"
  }

  assert {
    condition     = contains(jsondecode(aws_kms_key.alarms.policy).Statement[1].Principal.Service, "cloudwatch.amazonaws.com")
    error_message = "CloudWatch may use the topic key to publish alarms"
  }

  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.api_5xx_rate.metric_query : q.expression if q.return_data]) == "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"
    error_message = "the 5xx alarm is a rate: target 5xx / requests"
  }

  assert {
    condition     = toset([for q in aws_cloudwatch_metric_alarm.api_5xx_rate.metric_query : q.metric[0].metric_name if !q.return_data]) == toset(["HTTPCode_Target_5XX_Count", "RequestCount"])
    error_message = "the 5xx alarm reads HTTPCode_Target_5XX_Count and RequestCount"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.api_p95_latency.extended_statistic == "p95" && aws_cloudwatch_metric_alarm.api_p95_latency.metric_name == "TargetResponseTime"
    error_message = "latency alarm on p95 TargetResponseTime"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.api_unhealthy_hosts["green"].dimensions["TargetGroup"] == "targetgroup/oneshot-dev-green/fedcba9876543210"
    error_message = "one unhealthy-host alarm per target group"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.oldest_queued_age.namespace == "Oneshot/dev" && aws_cloudwatch_metric_alarm.oldest_queued_age.dimensions["Environment"] == "dev"
    error_message = "queue age comes from the app's EMF metrics"
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.worker_errors.log_group_name == "/ecs/oneshot-dev/worker"
    error_message = "worker errors are counted from the worker's logs"
  }

  assert {
    condition     = toset([aws_cloudwatch_metric_alarm.db_cpu.metric_name, aws_cloudwatch_metric_alarm.db_free_storage.metric_name, aws_cloudwatch_metric_alarm.db_connections.metric_name]) == toset(["CPUUtilization", "FreeStorageSpace", "DatabaseConnections"])
    error_message = "database CPU, storage and connection alarms"
  }

  assert {
    condition     = alltrue([for a in values(output.alarm_arns) : a != null]) && length(output.alarm_arns) == 9
    error_message = "every alarm is in the outputs"
  }

  assert {
    condition     = output.deployment_alarm_names == ["oneshot-dev-api-5xx-rate", "oneshot-dev-api-p95-latency", "oneshot-dev-api-unhealthy-hosts-blue", "oneshot-dev-api-unhealthy-hosts-green"]
    error_message = "the deployment alarms are 5xx, p95 and unhealthy hosts"
  }

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "oneshot-dev"
    error_message = "one dashboard per environment"
  }

  assert {
    condition = toset([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.markdown if w.type == "text"
    ]) == toset(["## API", "## Queue", "## Workers", "## Database"])
    error_message = "the dashboard has API, queue, workers and DB sections"
  }

  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.x + w.width <= 24
    ])
    error_message = "widgets fit the 24-column grid"
  }

  assert {
    condition     = alltrue([for a in values(aws_cloudwatch_metric_alarm.api_unhealthy_hosts) : a.alarm_actions == toset([aws_sns_topic.alarms.arn])])
    error_message = "alarms notify the topic"
  }
}

run "explicit_names" {
  command = plan

  variables {
    worker_service_name   = "custom-worker"
    worker_log_group_name = "/custom/worker"
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.worker_errors.log_group_name == "/custom/worker"
    error_message = "the worker log group can be given"
  }

  assert {
    condition     = strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "\"custom-worker\"")
    error_message = "the dashboard uses the given worker service name"
  }
}

run "rejects_bad_email" {
  command = plan

  variables {
    alarm_emails = ["not-an-address"]
  }

  expect_failures = [var.alarm_emails]
}

run "rejects_full_alb_arn" {
  command = plan

  variables {
    alb_arn_suffix = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/oneshot-dev/50dc6c495c0c9188"
  }

  expect_failures = [var.alb_arn_suffix]
}

run "rejects_bad_target_group_suffix" {
  command = plan

  variables {
    target_group_arn_suffixes = { blue = "oneshot-dev-blue" }
  }

  expect_failures = [var.target_group_arn_suffixes]
}

run "rejects_rate_above_100" {
  command = plan

  variables {
    api_5xx_rate_threshold_percent = 150
  }

  expect_failures = [var.api_5xx_rate_threshold_percent]
}
