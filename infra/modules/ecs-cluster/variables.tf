variable "name" {
  description = "Name prefix of the environment, for example \"oneshot-dev\". The cluster is named after it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment this cluster belongs to: dev, staging or prod."
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

variable "container_insights" {
  description = "Container Insights level of the cluster: \"enhanced\" (task and container metrics, needed for the per-task dashboards), \"enabled\" (service-level metrics only) or \"disabled\". The worker autoscaling reads RunningTaskCount/DesiredTaskCount from it, so keep it on."
  type        = string
  default     = "enhanced"

  validation {
    condition     = contains(["enhanced", "enabled", "disabled"], var.container_insights)
    error_message = "container_insights must be one of enhanced, enabled, disabled."
  }
}

variable "service_connect_namespace" {
  description = "Name of the Cloud Map HTTP namespace used as the cluster's Service Connect default. Null means \"<name>.internal\"."
  type        = string
  default     = null

  validation {
    condition     = var.service_connect_namespace == null || can(regex("^[a-z0-9]([a-z0-9.-]{0,252}[a-z0-9])?$", var.service_connect_namespace))
    error_message = "service_connect_namespace must be lower-case letters, digits, dots and hyphens (at most 254 characters)."
  }
}

variable "default_capacity_provider_strategy" {
  description = "Capacity provider strategy used by tasks started without one (for example the migrate task run by the pipeline). Services set their own strategy."
  type = list(object({
    capacity_provider = string
    weight            = optional(number, 1)
    base              = optional(number, 0)
  }))
  default = [{ capacity_provider = "FARGATE", weight = 1, base = 0 }]

  validation {
    condition     = length(var.default_capacity_provider_strategy) > 0 && alltrue([for s in var.default_capacity_provider_strategy : contains(["FARGATE", "FARGATE_SPOT"], s.capacity_provider)])
    error_message = "default_capacity_provider_strategy needs at least one entry, and each capacity_provider must be FARGATE or FARGATE_SPOT."
  }

  validation {
    condition     = alltrue([for s in var.default_capacity_provider_strategy : s.weight >= 0 && s.weight <= 1000 && s.base >= 0 && s.base <= 100000])
    error_message = "weight must be 0-1000 and base 0-100000."
  }
}

variable "exec_log_retention_days" {
  description = "Retention, in days, of the ECS Exec session log group. Must be a value CloudWatch Logs accepts."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.exec_log_retention_days)
    error_message = "exec_log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "encrypt_fargate_ephemeral_storage" {
  description = "Encrypt the Fargate ephemeral storage of every task in the cluster with the cluster's KMS key (instead of an AWS owned key)."
  type        = bool
  default     = true
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period, in days, before the cluster's KMS key is deleted after it is scheduled for deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}
