# ---------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------

variable "name" {
  description = "Name prefix of the environment, for example \"oneshot-dev\". The task family and the service are named \"<name>-<kind>\", the log group \"/ecs/<name>/<kind>\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment: dev, staging or prod. It selects defaults (on-demand base of the worker, EMF namespace Oneshot/<env>)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "kind" {
  description = "What this instance runs: \"api\" (HTTP service behind the ALB), \"worker\" (queue workers, autoscaled, no load balancer) or \"migrate\" (task definition only, run once per release by the pipeline)."
  type        = string

  validation {
    condition     = contains(["api", "worker", "migrate"], var.kind)
    error_message = "kind must be one of api, worker, migrate."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags. The module adds service = <kind>."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Cluster, roles, network
# ---------------------------------------------------------------------------

variable "cluster_arn" {
  description = "ARN of the ECS cluster (ecs-cluster output cluster_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/.+$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN."
  }
}

variable "cluster_name" {
  description = "Name of the ECS cluster (ecs-cluster output cluster_name): the autoscaling resource ID and the ClusterName metric dimension."
  type        = string
}

variable "execution_role_arn" {
  description = "ARN of the task execution role (iam output execution_role_arn): pulls the image, writes logs, reads the secrets."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.execution_role_arn))
    error_message = "execution_role_arn must be an IAM role ARN."
  }
}

variable "task_role_arn" {
  description = "ARN of the task role (iam output task_role_arn): what the application itself may call."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.task_role_arn))
    error_message = "task_role_arn must be an IAM role ARN."
  }
}

variable "subnet_ids" {
  description = "Private app subnets the tasks run in (no public IP is ever assigned). Required for api and worker; for migrate it is only echoed in network_configuration for the pipeline's run-task call."
  type        = list(string)
  default     = []

  validation {
    condition     = var.kind == "migrate" || length(var.subnet_ids) > 0
    error_message = "subnet_ids must not be empty for the api and worker services."
  }
}

variable "security_group_ids" {
  description = "Security groups of the tasks (the api, worker or migrate group from the security-groups module)."
  type        = list(string)
  default     = []

  validation {
    condition     = var.kind == "migrate" || length(var.security_group_ids) > 0
    error_message = "security_group_ids must not be empty for the api and worker services."
  }
}

# ---------------------------------------------------------------------------
# Task definition
# ---------------------------------------------------------------------------

variable "image" {
  description = "Container image of the first task definition revision, by digest or tag. After that the delivery pipeline registers the revisions it deploys (see README: ownership)."
  type        = string

  validation {
    condition     = length(var.image) > 0 && !can(regex("\\s", var.image))
    error_message = "image must be a non-empty image reference without spaces."
  }
}

variable "container_name" {
  description = "Name of the application container (the load balancer and the pipeline refer to it)."
  type        = string
  default     = "oneshot"

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$", var.container_name))
    error_message = "container_name must be 1-255 letters, digits, hyphens and underscores."
  }
}

variable "command" {
  description = "Container command. Null picks the kind's default: api [\"serve\",\"--addr\",\":8080\",\"--workers\",\"0\"], worker [\"worker\",\"--addr\",\":8081\",\"--emf-namespace\",\"Oneshot/<env>\"], migrate [\"migrate\"]."
  type        = list(string)
  default     = null

  validation {
    condition     = var.command == null || try(length(var.command) > 0, false)
    error_message = "command must be null or a non-empty list."
  }
}

variable "container_port" {
  description = "Port the application listens on inside the task: the load balancer and Service Connect port for api, the health/metrics port for worker. Null means 8080 for api, 8081 for worker; migrate listens on nothing."
  type        = number
  default     = null

  validation {
    condition     = var.container_port == null || try(var.container_port >= 1024 && var.container_port <= 65535, false)
    error_message = "container_port must be between 1024 and 65535 (the container runs as a non-root user)."
  }
}

variable "health_check" {
  description = "Container health check timing. The check runs `/oneshot healthcheck --url http://127.0.0.1:<port>/readyz` (not for migrate)."
  type = object({
    interval     = optional(number, 15)
    timeout      = optional(number, 5)
    retries      = optional(number, 3)
    start_period = optional(number, 30)
  })
  default = {}

  validation {
    condition = (
      var.health_check.interval >= 5 && var.health_check.interval <= 300 &&
      var.health_check.timeout >= 2 && var.health_check.timeout <= 60 &&
      var.health_check.timeout < var.health_check.interval &&
      var.health_check.retries >= 1 && var.health_check.retries <= 10 &&
      var.health_check.start_period >= 0 && var.health_check.start_period <= 300
    )
    error_message = "health_check: interval 5-300 s, timeout 2-60 s and below interval, retries 1-10, start_period 0-300 s."
  }
}

variable "environment_variables" {
  description = "Plain, non-secret environment variables of the container. Secrets go in var.secrets."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment_variables) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "environment variable names must be letters, digits and underscores and not start with a digit."
  }
}

variable "secrets" {
  description = "Environment variables filled by ECS from Secrets Manager or SSM Parameter Store: name => ARN. A Secrets Manager ARN may select a JSON key with the \"<arn>:<json-key>::\" form (for example the RDS managed secret's password). The execution role must be allowed to read each one (iam input secret_arns / ssm_parameter_arns)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.secrets) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "secret environment variable names must be letters, digits and underscores and not start with a digit."
  }

  validation {
    condition = alltrue([
      for v in values(var.secrets) :
      can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^:]+(:[^:]*:[^:]*:[^:]*)?$", v)) ||
      can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", v))
    ])
    error_message = "each secret must be a Secrets Manager secret ARN (optionally \"<arn>:<json-key>:<version-stage>:<version-id>\", e.g. \"<arn>:password::\") or an SSM parameter ARN."
  }

  validation {
    condition     = length(setintersection(keys(var.secrets), keys(var.environment_variables))) == 0
    error_message = "a variable cannot be both in environment_variables and in secrets."
  }
}

variable "cpu" {
  description = "Task CPU units (Fargate): 256, 512, 1024, 2048, 4096, 8192 or 16384."
  type        = number

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Task memory in MiB; must be a Fargate combination with cpu (256: 512-2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384 in 1 GiB steps; 4096: 8192-30720 in 1 GiB steps; 8192: 16384-61440 in 4 GiB steps; 16384: 32768-122880 in 8 GiB steps)."
  type        = number

  validation {
    condition = contains(lookup({
      "256"   = [512, 1024, 2048]
      "512"   = range(1024, 4097, 1024)
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }, tostring(var.cpu), []), var.memory)
    error_message = "memory is not a valid Fargate combination with the given cpu (see the variable's description)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the task: X86_64 or ARM64 (Graviton, cheaper; the image must be built for it)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "ephemeral_storage_gib" {
  description = "Fargate ephemeral storage of the task in GiB (21-200). It backs the scratch volumes (/tmp, /workspace, the home directory), so size it for the agents' workspaces."
  type        = number
  default     = 21

  validation {
    condition     = var.ephemeral_storage_gib >= 21 && var.ephemeral_storage_gib <= 200 && floor(var.ephemeral_storage_gib) == var.ephemeral_storage_gib
    error_message = "ephemeral_storage_gib must be a whole number between 21 and 200."
  }
}

variable "scratch_volumes" {
  description = "Task-local volumes on the ephemeral storage, volume name => mount path. The root filesystem is read-only, so every path the application or the agent CLIs write to must be here."
  type        = map(string)
  default = {
    tmp       = "/tmp"
    workspace = "/workspace"
    home      = "/home/oneshot"
  }

  validation {
    condition     = alltrue([for k, v in var.scratch_volumes : can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]*$", k)) && startswith(v, "/") && v != "/"])
    error_message = "scratch volume names must be letters, digits, hyphens and underscores, and mount paths absolute paths other than /."
  }
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the service's log group in days; a value CloudWatch Logs accepts."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the log group, for example ecs-cluster output kms_key_arn (its policy admits /ecs/<name>/*). Required unless create_log_kms_key is true."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "create_log_kms_key" {
  description = "Create a KMS key for this log group alone instead of using log_kms_key_arn. (A separate switch, because whether a key is created must be known at plan time while the ARN of a key created elsewhere is not.)"
  type        = bool
  default     = false

  validation {
    condition     = var.create_log_kms_key != (var.log_kms_key_arn != null)
    error_message = "set exactly one of log_kms_key_arn and create_log_kms_key = true."
  }
}

# ---------------------------------------------------------------------------
# Service (api and worker)
# ---------------------------------------------------------------------------

variable "desired_count" {
  description = "Number of tasks when the service is created. Afterwards autoscaling owns it (Terraform ignores changes). Null means min_capacity."
  type        = number
  default     = null

  validation {
    condition     = var.desired_count == null || try(var.desired_count >= 0, false)
    error_message = "desired_count must be null or >= 0."
  }
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the service's tasks (the task role must then have the ssmmessages permissions: iam input enable_execute_command)."
  type        = bool
  default     = false
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower limit of running tasks during a rolling deployment, in percent of the desired count."
  type        = number
  default     = 100

  validation {
    condition     = var.deployment_minimum_healthy_percent >= 0 && var.deployment_minimum_healthy_percent <= 100
    error_message = "deployment_minimum_healthy_percent must be between 0 and 100."
  }
}

variable "deployment_maximum_percent" {
  description = "Upper limit of tasks during a deployment, in percent of the desired count."
  type        = number
  default     = 200

  validation {
    condition     = var.deployment_maximum_percent >= 100 && var.deployment_maximum_percent <= 400
    error_message = "deployment_maximum_percent must be between 100 and 400."
  }
}

variable "deployment_controller" {
  description = "Deployment controller of the api service: \"ECS\" (rolling, or ECS-native blue/green when blue_green is set) or \"CODE_DEPLOY\" (blue/green driven by CodeDeploy). The worker always uses ECS."
  type        = string
  default     = "ECS"

  validation {
    condition     = contains(["ECS", "CODE_DEPLOY"], var.deployment_controller)
    error_message = "deployment_controller must be ECS or CODE_DEPLOY."
  }

  validation {
    condition     = var.deployment_controller == "ECS" || var.kind == "api"
    error_message = "only the api service can use the CODE_DEPLOY controller."
  }
}

variable "target_group_arn" {
  description = "Target group the api service registers its tasks in (the ALB's blue target group). Required for api, ignored otherwise."
  type        = string
  default     = null

  validation {
    condition     = var.kind != "api" || var.target_group_arn != null
    error_message = "target_group_arn is required for the api service."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds the api service ignores failing load balancer health checks after a task starts."
  type        = number
  default     = 60

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 2147483647
    error_message = "health_check_grace_period_seconds must be >= 0."
  }
}

variable "blue_green" {
  description = "ECS-native blue/green deployment of the api service (deployment_controller ECS). Null keeps rolling deployments. alternate_target_group_arn is the green target group; the listener rules are the ALB listener rules ECS shifts between the two groups; role_arn is the role ECS assumes to change them (iam output load_balancer_role_arn). strategy is how production traffic moves once the new tasks passed their tests: BLUE_GREEN (all at once), CANARY (canary_configuration) or LINEAR (linear_configuration). lifecycle_hooks are Lambda functions ECS calls at deployment stages (e.g. a smoke test at POST_TEST_TRAFFIC_SHIFT); the pipeline module's api_deployment output carries strategy, its configuration, bake time and hooks."
  type = object({
    alternate_target_group_arn   = string
    production_listener_rule_arn = string
    test_listener_rule_arn       = optional(string)
    role_arn                     = string
    bake_time_in_minutes         = optional(number, 5)
    strategy                     = optional(string, "BLUE_GREEN")
    canary_configuration = optional(object({
      canary_percent              = number
      canary_bake_time_in_minutes = number
    }))
    linear_configuration = optional(object({
      step_percent              = number
      step_bake_time_in_minutes = number
    }))
    lifecycle_hooks = optional(list(object({
      hook_target_arn  = string
      role_arn         = string
      lifecycle_stages = list(string)
    })), [])
  })
  default = null

  validation {
    condition = var.blue_green == null || try(
      (var.blue_green.strategy == "BLUE_GREEN") ||
      (var.blue_green.strategy == "CANARY" && var.blue_green.canary_configuration != null) ||
      (var.blue_green.strategy == "LINEAR" && var.blue_green.linear_configuration != null),
      false
    )
    error_message = "blue_green.strategy must be BLUE_GREEN, CANARY (with canary_configuration) or LINEAR (with linear_configuration)."
  }

  validation {
    condition     = var.blue_green == null || (var.kind == "api" && var.deployment_controller == "ECS")
    error_message = "blue_green is only for the api service with deployment_controller ECS."
  }

  validation {
    condition     = var.blue_green == null || try(var.blue_green.bake_time_in_minutes >= 0 && var.blue_green.bake_time_in_minutes <= 1440, false)
    error_message = "blue_green.bake_time_in_minutes must be between 0 and 1440."
  }
}

variable "deployment_alarm_names" {
  description = "CloudWatch alarms (for example observability's 5xx rate, p95 latency and unhealthy hosts) that roll a deployment back when they fire. ECS controller only."
  type        = list(string)
  default     = []
}

variable "service_connect_namespace_arn" {
  description = "Service Connect namespace (ecs-cluster output service_connect_namespace_arn). When set, the api service is a Service Connect client and server reachable as \"<kind>:<port>\" inside the namespace."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Capacity and autoscaling
# ---------------------------------------------------------------------------

variable "on_demand_base" {
  description = "Worker: number of tasks always placed on on-demand FARGATE before the weights apply. Null means 1 in prod and 0 elsewhere."
  type        = number
  default     = null

  validation {
    condition     = var.on_demand_base == null || try(var.on_demand_base >= 0 && var.on_demand_base <= 100000, false)
    error_message = "on_demand_base must be null or between 0 and 100000."
  }
}

variable "spot_weight" {
  description = "Worker: weight of FARGATE_SPOT against FARGATE (weight 1) beyond the on-demand base; 3 puts three of four extra tasks on Spot."
  type        = number
  default     = 3

  validation {
    condition     = var.spot_weight >= 0 && var.spot_weight <= 1000
    error_message = "spot_weight must be between 0 and 1000."
  }
}

variable "min_capacity" {
  description = "Lowest task count autoscaling may set. Null means 1 for api and 0 for worker (the worker scales from zero when work is queued)."
  type        = number
  default     = null

  validation {
    condition     = var.min_capacity == null || try(var.min_capacity >= 0, false)
    error_message = "min_capacity must be null or >= 0."
  }
}

variable "max_capacity" {
  description = "Highest task count autoscaling may set."
  type        = number
  default     = 4

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 1000
    error_message = "max_capacity must be between 1 and 1000."
  }

  validation {
    condition     = var.min_capacity == null || try(var.max_capacity >= var.min_capacity, false)
    error_message = "max_capacity must be >= min_capacity."
  }
}

variable "cpu_target_percent" {
  description = "Target of the CPU target-tracking policy (ECSServiceAverageCPUUtilization), in percent."
  type        = number
  default     = 70

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 95
    error_message = "cpu_target_percent must be between 10 and 95."
  }
}

variable "backlog_per_task_target" {
  description = "Worker: target of the backlog-per-task policy, (QueueDepth + InFlight) / RunningTaskCount. Roughly how many queued or running tasks one worker task should carry."
  type        = number
  default     = 2

  validation {
    condition     = var.backlog_per_task_target > 0
    error_message = "backlog_per_task_target must be > 0."
  }
}

variable "scale_in_cooldown_seconds" {
  description = "Seconds after a scale-in before the next one. Longer than a typical agent task so workers are not removed in waves while work drains."
  type        = number
  default     = 900

  validation {
    condition     = var.scale_in_cooldown_seconds >= 0 && var.scale_in_cooldown_seconds <= 3600
    error_message = "scale_in_cooldown_seconds must be between 0 and 3600."
  }
}

variable "scale_out_cooldown_seconds" {
  description = "Seconds after a scale-out before the next one."
  type        = number
  default     = 60

  validation {
    condition     = var.scale_out_cooldown_seconds >= 0 && var.scale_out_cooldown_seconds <= 3600
    error_message = "scale_out_cooldown_seconds must be between 0 and 3600."
  }
}

variable "metric_namespace" {
  description = "CloudWatch namespace the worker publishes its EMF metrics (QueueDepth, InFlight, dimension Environment) in. Null means \"Oneshot/<env>\"."
  type        = string
  default     = null
}

variable "off_hours_schedule" {
  description = "Scale the service to zero outside working hours (dev). scale_down and scale_up are Application Auto Scaling schedule expressions, e.g. \"cron(0 20 ? * MON-FRI *)\" and \"cron(0 7 ? * MON-FRI *)\", evaluated in timezone (IANA name). Null keeps the service up."
  type = object({
    scale_down = string
    scale_up   = string
    timezone   = optional(string, "UTC")
  })
  default = null

  validation {
    condition = var.off_hours_schedule == null || try(
      can(regex("^(cron|rate|at)\\(.+\\)$", var.off_hours_schedule.scale_down)) && can(regex("^(cron|rate|at)\\(.+\\)$", var.off_hours_schedule.scale_up)),
      false
    )
    error_message = "off_hours_schedule.scale_down and scale_up must be schedule expressions such as \"cron(0 20 ? * MON-FRI *)\"."
  }

  validation {
    condition     = var.off_hours_schedule == null || var.kind != "migrate"
    error_message = "off_hours_schedule applies to the api and worker services, not to migrate."
  }
}
