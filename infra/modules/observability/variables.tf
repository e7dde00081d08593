variable "name" {
  description = "Name prefix of the environment, for example \"oneshot-dev\". Alarms are named \"<name>-<what>\", the dashboard \"<name>\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment: dev, staging or prod (the Environment dimension of the application's metrics)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be e-mail addresses."
  }
}

variable "metric_namespace" {
  description = "Namespace of the application's EMF metrics. Null means \"Oneshot/<env>\"."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# What is watched
# ---------------------------------------------------------------------------

variable "alb_arn_suffix" {
  description = "ARN suffix of the ALB (alb output alb_arn_suffix, \"app/<name>/<id>\"): the LoadBalancer dimension."
  type        = string

  validation {
    condition     = can(regex("^app/[^/]+/[^/]+$", var.alb_arn_suffix))
    error_message = "alb_arn_suffix must look like app/<name>/<id>."
  }
}

variable "target_group_arn_suffixes" {
  description = "ARN suffixes of the api's target groups by role, e.g. { blue = ..., green = ... } (alb outputs *_target_group_arn_suffix). One UnHealthyHostCount alarm each."
  type        = map(string)

  validation {
    condition     = length(var.target_group_arn_suffixes) > 0 && alltrue([for s in values(var.target_group_arn_suffixes) : can(regex("^targetgroup/[^/]+/[^/]+$", s))])
    error_message = "target_group_arn_suffixes must hold at least one suffix like targetgroup/<name>/<id>."
  }

  validation {
    condition     = alltrue([for k in keys(var.target_group_arn_suffixes) : can(regex("^[a-z][a-z0-9-]*$", k))])
    error_message = "target group keys must be lower-case names such as blue and green."
  }
}

variable "cluster_name" {
  description = "ECS cluster name (ecs-cluster output cluster_name)."
  type        = string
}

variable "api_service_name" {
  description = "Name of the api ECS service. Null means \"<name>-api\", the name ecs-service gives it; deriving it keeps this module independent of ecs-service, which takes this module's deployment alarms."
  type        = string
  default     = null
}

variable "worker_service_name" {
  description = "Name of the worker ECS service. Null means \"<name>-worker\"."
  type        = string
  default     = null
}

variable "worker_log_group_name" {
  description = "Log group of the worker. Null means \"/ecs/<name>/worker\". A metric filter counts its ERROR-level JSON log lines as WorkerErrors."
  type        = string
  default     = null
}

variable "db_instance_identifier" {
  description = "Identifier of the RDS instance (database output), the DBInstanceIdentifier dimension."
  type        = string
}

# ---------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------

variable "api_5xx_rate_threshold_percent" {
  description = "Alarm when target 5xx responses exceed this share of ALB requests, in percent."
  type        = number
  default     = 5

  validation {
    condition     = var.api_5xx_rate_threshold_percent > 0 && var.api_5xx_rate_threshold_percent <= 100
    error_message = "api_5xx_rate_threshold_percent must be in (0, 100]."
  }
}

variable "api_p95_latency_threshold_seconds" {
  description = "Alarm when the p95 of TargetResponseTime exceeds this many seconds."
  type        = number
  default     = 2

  validation {
    condition     = var.api_p95_latency_threshold_seconds > 0
    error_message = "api_p95_latency_threshold_seconds must be > 0."
  }
}

variable "oldest_queued_age_threshold_seconds" {
  description = "Alarm when the oldest queued task has waited longer than this (OldestQueuedAgeSeconds)."
  type        = number
  default     = 900

  validation {
    condition     = var.oldest_queued_age_threshold_seconds > 0
    error_message = "oldest_queued_age_threshold_seconds must be > 0."
  }
}

variable "worker_errors_threshold" {
  description = "Alarm when the worker logs more ERROR lines than this in 5 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.worker_errors_threshold >= 0
    error_message = "worker_errors_threshold must be >= 0."
  }
}

variable "db_cpu_threshold_percent" {
  description = "Alarm when the database's average CPU stays above this, in percent."
  type        = number
  default     = 80

  validation {
    condition     = var.db_cpu_threshold_percent > 0 && var.db_cpu_threshold_percent <= 100
    error_message = "db_cpu_threshold_percent must be in (0, 100]."
  }
}

variable "db_free_storage_threshold_bytes" {
  description = "Alarm when the database's free storage drops below this many bytes."
  type        = number
  default     = 5368709120 # 5 GiB

  validation {
    condition     = var.db_free_storage_threshold_bytes > 0
    error_message = "db_free_storage_threshold_bytes must be > 0."
  }
}

variable "db_connections_threshold" {
  description = "Alarm when the database has more connections than this (set below the instance's max_connections)."
  type        = number
  default     = 80

  validation {
    condition     = var.db_connections_threshold > 0
    error_message = "db_connections_threshold must be > 0."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period, in days, before the alarm topic key is deleted after it is scheduled for deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}
