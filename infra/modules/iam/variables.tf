variable "name" {
  description = "Name prefix of the environment, for example \"oneshot-dev\". Roles are named \"<name>-<kind>-execution\" and \"<name>-<kind>-task\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "kind" {
  description = "Service the roles are for: api, worker or migrate. Only the worker may change its tasks' scale-in protection; only the api can get the blue/green load balancer role."
  type        = string

  validation {
    condition     = contains(["api", "worker", "migrate"], var.kind)
    error_message = "kind must be one of api, worker, migrate."
  }
}

variable "tags" {
  description = "Tags added to every role, on top of the provider's default_tags. The module adds service = <kind>."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary policy attached to every role, if the account requires one."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Execution role: what ECS needs to start the task
# ---------------------------------------------------------------------------

variable "log_group_name" {
  description = "Name of the service's log group. Null means \"/ecs/<name>/<kind>\", where the ecs-service module creates it; the name is derived rather than passed from ecs-service so that the two modules do not depend on each other (ecs-service needs this module's role ARNs)."
  type        = string
  default     = null

  validation {
    condition     = var.log_group_name == null || can(regex("^[A-Za-z0-9_./#-]{1,512}$", var.log_group_name))
    error_message = "log_group_name must be a log group name (letters, digits, '_', '-', '/', '.', '#'), no wildcards."
  }
}

variable "ecr_repository_arns" {
  description = "ECR repositories the task's image comes from (artifacts output repository_arns)."
  type        = list(string)

  validation {
    condition     = length(var.ecr_repository_arns) > 0 && alltrue([for a in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/[^*]+$", a))])
    error_message = "ecr_repository_arns must be a non-empty list of ECR repository ARNs (no wildcards)."
  }
}

variable "secret_arns" {
  description = "Secrets Manager secrets injected into the container (the values of ecs-service's secrets map that are secrets). The \"<arn>:<json-key>::\" form is accepted and reduced to the secret ARN."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^:*]+(:[^:]*:[^:]*:[^:]*)?$", a))])
    error_message = "secret_arns must be Secrets Manager secret ARNs (optionally with :<json-key>:<stage>:<version>), no wildcards."
  }
}

variable "ssm_parameter_arns" {
  description = "SSM parameters injected into the container (config output parameter_arns)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ssm_parameter_arns : can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[^*]+$", a))])
    error_message = "ssm_parameter_arns must be SSM parameter ARNs, no wildcards."
  }
}

variable "kms_key_arns" {
  description = "KMS keys the execution role may decrypt with: those of the secrets and SecureString parameters it reads (config kms_key_arn, database kms_key_arn for the RDS managed secret)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[^*]+$", a))])
    error_message = "kms_key_arns must be KMS key ARNs, no wildcards or aliases."
  }
}

# ---------------------------------------------------------------------------
# Task role: what the application calls
# ---------------------------------------------------------------------------

variable "artifacts_bucket_arn" {
  description = "ARN of the task artifacts bucket (artifacts output bucket_arn). Null gives the task no S3 access."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_bucket_arn == null || can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]+$", var.artifacts_bucket_arn))
    error_message = "artifacts_bucket_arn must be an S3 bucket ARN."
  }
}

variable "artifacts_prefix" {
  description = "Key prefix inside the artifacts bucket the task may read, write and delete under (without leading or trailing slash)."
  type        = string
  default     = "tasks"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*$", var.artifacts_prefix))
    error_message = "artifacts_prefix must be a key prefix without leading/trailing slashes or wildcards, e.g. \"tasks\"."
  }
}

variable "artifacts_kms_key_arn" {
  description = "KMS key of the artifacts bucket (artifacts output kms_key_arn); the task needs it to read and write objects."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[^*]+$", var.artifacts_kms_key_arn))
    error_message = "artifacts_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "metric_namespace" {
  description = "The only CloudWatch namespace the task may put metrics in. Null means \"Oneshot/<env>\"."
  type        = string
  default     = null
}

variable "enable_xray" {
  description = "Let the task (its ADOT collector sidecar) send traces to X-Ray."
  type        = bool
  default     = true
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster (ecs-cluster output cluster_arn). Scopes the worker's ecs:UpdateTaskProtection to the cluster's tasks."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[^*]+$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN."
  }
}

variable "enable_execute_command" {
  description = "Give the task role what ECS Exec needs (SSM messages, the exec KMS key, the exec log group). Match ecs-service's enable_execute_command."
  type        = bool
  default     = false
}

variable "exec_kms_key_arn" {
  description = "KMS key of ECS Exec sessions (ecs-cluster output kms_key_arn). Required when enable_execute_command is true."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_execute_command || var.exec_kms_key_arn != null
    error_message = "exec_kms_key_arn is required when enable_execute_command is true."
  }
}

variable "exec_log_group_arn" {
  description = "Log group of ECS Exec sessions (ecs-cluster output exec_log_group_arn). Required when enable_execute_command is true."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_execute_command || var.exec_log_group_arn != null
    error_message = "exec_log_group_arn is required when enable_execute_command is true."
  }
}

# ---------------------------------------------------------------------------
# ECS-native blue/green (api only)
# ---------------------------------------------------------------------------

variable "blue_green_load_balancer" {
  description = "Create the role ECS assumes to shift ALB traffic during ECS-native blue/green deployments of the api, limited to this load balancer's listeners and rules and to these target groups (blue and green). Null creates no role."
  type = object({
    load_balancer_arn = string
    target_group_arns = list(string)
  })
  default = null

  validation {
    condition     = var.blue_green_load_balancer == null || var.kind == "api"
    error_message = "blue_green_load_balancer is only for the api."
  }

  validation {
    condition = var.blue_green_load_balancer == null || try(
      can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:loadbalancer/app/[^/]+/[^/]+$", var.blue_green_load_balancer.load_balancer_arn)) &&
      length(var.blue_green_load_balancer.target_group_arns) > 0 &&
      alltrue([for a in var.blue_green_load_balancer.target_group_arns : can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[^*]+$", a))]),
      false
    )
    error_message = "blue_green_load_balancer needs an Application Load Balancer ARN and at least one target group ARN."
  }
}
