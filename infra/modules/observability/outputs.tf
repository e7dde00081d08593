locals {
  alarms = merge(
    {
      api_5xx_rate      = aws_cloudwatch_metric_alarm.api_5xx_rate
      api_p95_latency   = aws_cloudwatch_metric_alarm.api_p95_latency
      oldest_queued_age = aws_cloudwatch_metric_alarm.oldest_queued_age
      worker_errors     = aws_cloudwatch_metric_alarm.worker_errors
      db_cpu            = aws_cloudwatch_metric_alarm.db_cpu
      db_free_storage   = aws_cloudwatch_metric_alarm.db_free_storage
      db_connections    = aws_cloudwatch_metric_alarm.db_connections
    },
    { for k, a in aws_cloudwatch_metric_alarm.api_unhealthy_hosts : "api_unhealthy_hosts_${k}" => a },
  )

  all_alarm_arns = [for k in sort(keys(local.alarms)) : local.alarms[k].arn]
}

output "sns_topic_arn" {
  description = "ARN of the (KMS-encrypted) alarm topic; budget alerts can go here too (budget input sns_topic_arn)."
  value       = aws_sns_topic.alarms.arn
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the alarm topic."
  value       = aws_kms_key.alarms.arn
}

output "alarm_arns" {
  description = "ARN of each alarm by purpose (api_5xx_rate, api_p95_latency, api_unhealthy_hosts_<role>, oldest_queued_age, worker_errors, db_cpu, db_free_storage, db_connections)."
  value       = { for k, a in local.alarms : k => a.arn }
}

output "alarm_names" {
  description = "Name of each alarm by purpose (same keys as alarm_arns)."
  value       = { for k, a in local.alarms : k => a.alarm_name }
}

output "deployment_alarm_names" {
  description = "Alarms that should roll an api deployment back: 5xx rate, p95 latency and unhealthy hosts per target group (ecs-service input deployment_alarm_names, or the pipeline's rollback alarms)."
  value = concat(
    [aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name, aws_cloudwatch_metric_alarm.api_p95_latency.alarm_name],
    [for k in sort(keys(aws_cloudwatch_metric_alarm.api_unhealthy_hosts)) : aws_cloudwatch_metric_alarm.api_unhealthy_hosts[k].alarm_name],
  )
}

output "deployment_alarm_arns" {
  description = "ARNs of the deployment alarms (same order as deployment_alarm_names)."
  value = concat(
    [aws_cloudwatch_metric_alarm.api_5xx_rate.arn, aws_cloudwatch_metric_alarm.api_p95_latency.arn],
    [for k in sort(keys(aws_cloudwatch_metric_alarm.api_unhealthy_hosts)) : aws_cloudwatch_metric_alarm.api_unhealthy_hosts[k].arn],
  )
}

output "dashboard_name" {
  description = "Name of the environment's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_arn" {
  description = "ARN of the dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_arn
}

output "worker_errors_metric" {
  description = "Namespace and name of the metric the worker error filter publishes."
  value = {
    namespace = local.metric_namespace
    name      = aws_cloudwatch_log_metric_filter.worker_errors.metric_transformation[0].name
  }
}
