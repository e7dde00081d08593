variable "name" {
  description = "Name prefix of the environment, e.g. \"oneshot-dev\": the pipeline is \"<name>-delivery\", its roles \"<name>-...\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment this pipeline deploys: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "project" {
  description = "Project name: prefix of the shared release bucket (\"<project>-releases-<account>-<region>\") and its key alias (\"alias/<project>-releases\")."
  type        = string
  default     = "oneshot"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.project))
    error_message = "project must be 3-20 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Releases: where the release workflow hands over the image digests
# ---------------------------------------------------------------------------

variable "create_release_bucket" {
  description = "Create the release bucket that every environment's pipeline reads from (and the GitHub role the release workflow pushes with). Exactly one environment root sets this, normally dev; the others find the bucket by its name."
  type        = bool
  default     = false
}

variable "release_bucket_name" {
  description = "Name of the shared release bucket. Null: \"<project>-releases-<account id>-<region>\"."
  type        = string
  default     = null

  validation {
    condition     = var.release_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.release_bucket_name, "x")))
    error_message = "release_bucket_name must be a valid S3 bucket name."
  }
}

variable "github_repository" {
  description = "GitHub repository (\"owner/repo\") whose release workflow may push images and releases. Required when create_release_bucket is true."
  type        = string
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", coalesce(var.github_repository, "x")))
    error_message = "github_repository must be \"owner/repo\"."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of the token.actions.githubusercontent.com OIDC provider (bootstrap output github_oidc_provider_arn). Required when create_release_bucket is true."
  type        = string
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", coalesce(var.github_oidc_provider_arn, "x")))
    error_message = "github_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "release_subjects" {
  description = "OIDC subjects (sub claims) allowed to assume the release role. Null: pushes to main and v* tags of github_repository."
  type        = list(string)
  default     = null

  validation {
    condition     = var.release_subjects == null || alltrue([for s in coalesce(var.release_subjects, []) : startswith(s, "repo:") && !strcontains(s, "pull_request")])
    error_message = "release_subjects must be \"repo:owner/name:...\" subjects, and never pull requests (they run untrusted code)."
  }
}

variable "ecr_repository_arns" {
  description = "ARNs of the ECR repositories the release workflow pushes to (artifacts output repository_arns). Used when create_release_bucket is true."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", a))])
    error_message = "ecr_repository_arns must be ECR repository ARNs."
  }
}

variable "promote_to" {
  description = "Environment whose pipeline receives the release after this one deployed it (dev promotes to staging, staging to prod). Null: the end of the line."
  type        = string
  default     = null

  validation {
    condition     = var.promote_to == null || contains(["staging", "prod"], coalesce(var.promote_to, "x"))
    error_message = "promote_to must be staging or prod (or null)."
  }

  validation {
    condition     = var.promote_to != var.environment
    error_message = "an environment cannot promote to itself."
  }
}

variable "require_approval" {
  description = "Wait for a manual approval before anything changes in this environment. Null: true in prod, false elsewhere."
  type        = bool
  default     = null
}

variable "approval_timeout_minutes" {
  description = "Minutes a release waits for approval before the execution fails (CodePipeline allows up to 7 days, 10080)."
  type        = number
  default     = 4320

  validation {
    condition     = var.approval_timeout_minutes >= 5 && var.approval_timeout_minutes <= 10080
    error_message = "approval_timeout_minutes must be between 5 and 10080."
  }
}

variable "execution_mode" {
  description = "What a new release does while one is running: SUPERSEDED (the newer one overtakes at the next stage boundary), QUEUED (every release runs, in order)."
  type        = string
  default     = "SUPERSEDED"

  validation {
    condition     = contains(["SUPERSEDED", "QUEUED"], var.execution_mode)
    error_message = "execution_mode must be SUPERSEDED or QUEUED (PARALLEL would run two deployments of one service at once)."
  }
}

# ---------------------------------------------------------------------------
# What the pipeline deploys
# ---------------------------------------------------------------------------

variable "cluster_arn" {
  description = "ARN of the ECS cluster (ecs-cluster output cluster_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]+$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN."
  }
}

variable "api_service_name" {
  description = "Name of the api ECS service (ecs-service output service_name of the api instance)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.api_service_name))
    error_message = "api_service_name must be an ECS service name."
  }
}

variable "worker_service_name" {
  description = "Name of the worker ECS service (ecs-service output service_name of the worker instance)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.worker_service_name))
    error_message = "worker_service_name must be an ECS service name."
  }
}

variable "migrate_network" {
  description = "Network of the one-off migrate task (ecs-service output network_configuration of the migrate instance): private subnets and the migrate security group."
  type = object({
    subnets          = list(string)
    security_groups  = list(string)
    assign_public_ip = optional(bool, false)
  })

  validation {
    condition     = length(var.migrate_network.subnets) > 0 && length(var.migrate_network.security_groups) > 0
    error_message = "migrate_network needs at least one subnet and one security group."
  }

  validation {
    condition     = !var.migrate_network.assign_public_ip
    error_message = "the migrate task runs in private subnets without a public IP."
  }
}

variable "task_definitions" {
  description = <<-EOT
    The environment's side of the task definitions `oneshot deploy render` builds: repository URLs by
    short name, and per kind (api, worker, migrate) the family, image repository, size, roles, log group,
    container name, port, user, environment, secrets (name => ARN), ephemeral storage, scratch volumes and
    metric namespace. Pass the same values the ecs-service instances get. The module stores it for the
    pipeline and returns it as output deploy_config; re-export that as the root's `deploy` output so
    `oneshot deploy render --config <(terraform output -json)` works by hand too.
  EOT
  type = object({
    repositories = map(string)
    services = map(object({
      family                = string
      image                 = optional(string, "oneshot")
      cpu                   = number
      memory                = number
      cpu_architecture      = optional(string, "ARM64")
      execution_role_arn    = string
      task_role_arn         = string
      log_group_name        = string
      container_name        = optional(string, "oneshot")
      port                  = optional(number)
      user                  = optional(string)
      environment           = optional(map(string), {})
      secrets               = optional(map(string), {})
      ephemeral_storage_gib = optional(number, 21)
      scratch_volumes       = optional(map(string), { tmp = "/tmp" })
      metric_namespace      = optional(string)
    }))
  })

  validation {
    condition     = length(setsubtract(["api", "worker", "migrate"], keys(var.task_definitions.services))) == 0 && length(setsubtract(keys(var.task_definitions.services), ["api", "worker", "migrate"])) == 0
    error_message = "task_definitions.services must have exactly the keys api, worker and migrate."
  }

  validation {
    condition     = alltrue([for s in values(var.task_definitions.services) : contains(keys(var.task_definitions.repositories), s.image)])
    error_message = "every service's image must be a key of task_definitions.repositories."
  }

  validation {
    condition     = alltrue([for s in values(var.task_definitions.services) : contains(["ARM64", "X86_64"], s.cpu_architecture)])
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }

  validation {
    condition     = alltrue(flatten([for s in values(var.task_definitions.services) : [for v in values(s.secrets) : startswith(v, "arn:")]]))
    error_message = "secrets map environment variable names to ARNs of Secrets Manager secrets or SSM parameters, never to values."
  }
}

variable "pass_role_arns" {
  description = "Roles the pipeline may hand to ECS in the task definitions it registers: the execution and task roles (iam output role_arns of each service)."
  type        = list(string)

  validation {
    condition     = length(var.pass_role_arns) > 0 && alltrue([for a in var.pass_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "pass_role_arns must be IAM role ARNs."
  }
}

variable "migrate_timeout_minutes" {
  description = "Minutes the migrate task may run before the stage fails."
  type        = number
  default     = 30

  validation {
    condition     = var.migrate_timeout_minutes >= 1 && var.migrate_timeout_minutes <= 240
    error_message = "migrate_timeout_minutes must be between 1 and 240."
  }
}

variable "deploy_timeout_minutes" {
  description = "Minutes one service deployment (blue/green with its bake times, or rolling) may take before the stage fails. Must exceed the api's canary and bake times."
  type        = number
  default     = 90

  validation {
    condition     = var.deploy_timeout_minutes >= 10 && var.deploy_timeout_minutes <= 480
    error_message = "deploy_timeout_minutes must be between 10 and 480 (CodeBuild's limit is 8 hours)."
  }
}

# ---------------------------------------------------------------------------
# Blue/green of the api
# ---------------------------------------------------------------------------

variable "api_traffic_shift" {
  description = "How ECS moves production traffic to the new api tasks once the smoke test passed: CANARY (canary_percent first, the rest after canary_bake_time_in_minutes), LINEAR (step_percent every step_bake_time_in_minutes) or BLUE_GREEN (all at once). bake_time_in_minutes keeps the old tasks after the shift (null: 15 in prod, 5 elsewhere). Output api_deployment carries it to the ecs-service module."
  type = object({
    strategy                    = optional(string, "CANARY")
    canary_percent              = optional(number, 10)
    canary_bake_time_in_minutes = optional(number, 5)
    step_percent                = optional(number, 25)
    step_bake_time_in_minutes   = optional(number, 3)
    bake_time_in_minutes        = optional(number)
  })
  default = {}

  validation {
    condition     = contains(["CANARY", "LINEAR", "BLUE_GREEN"], var.api_traffic_shift.strategy)
    error_message = "api_traffic_shift.strategy must be CANARY, LINEAR or BLUE_GREEN."
  }

  validation {
    condition     = var.api_traffic_shift.canary_percent >= 0.1 && var.api_traffic_shift.canary_percent <= 100 && var.api_traffic_shift.step_percent >= 3 && var.api_traffic_shift.step_percent <= 100
    error_message = "canary_percent must be 0.1-100 and step_percent 3-100."
  }

  validation {
    condition = (
      var.api_traffic_shift.canary_bake_time_in_minutes >= 0 && var.api_traffic_shift.canary_bake_time_in_minutes <= 1440 &&
      var.api_traffic_shift.step_bake_time_in_minutes >= 0 && var.api_traffic_shift.step_bake_time_in_minutes <= 1440 &&
      try(var.api_traffic_shift.bake_time_in_minutes >= 0 && var.api_traffic_shift.bake_time_in_minutes <= 1440, var.api_traffic_shift.bake_time_in_minutes == null)
    )
    error_message = "bake times must be between 0 and 1440 minutes."
  }
}

variable "deployment_alarm_names" {
  description = "CloudWatch alarms that roll a deployment back (observability output deployment_alarm_names: api 5xx rate, p95 latency, unhealthy hosts). ECS watches them during the api's blue/green (output api_deployment); the pipeline checks them again after each deployment before it promotes the release."
  type        = list(string)

  validation {
    condition     = length(var.deployment_alarm_names) > 0
    error_message = "give at least one deployment alarm: a deployment that nothing watches cannot roll back on its own."
  }
}

# ---------------------------------------------------------------------------
# Smoke test hook (Lambda)
# ---------------------------------------------------------------------------

variable "smoke_test" {
  description = "The smoke test ECS runs on the new api tasks before production traffic moves (cmd/smokehook): base_url reaches them through the ALB's test listener (https://<api host>:<test port>, a name the certificate covers); token_secret_arn holds an API token for /api/v1/status (create one with `oneshot token create --name smoke-test`); the function runs in subnet_ids of vpc_id and needs a route to the load balancer (NAT) and to the ECS and Secrets Manager APIs."
  type = object({
    base_url              = string
    token_secret_arn      = string
    token_kms_key_arn     = optional(string)
    vpc_id                = string
    subnet_ids            = list(string)
    container_name        = optional(string, "oneshot")
    ready_timeout_seconds = optional(number, 60)
  })

  validation {
    condition     = can(regex("^https://[^/]+(:[0-9]+)?/?$", var.smoke_test.base_url))
    error_message = "smoke_test.base_url must be an https:// URL without a path, e.g. https://api.example.com:8443."
  }

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.smoke_test.token_secret_arn))
    error_message = "smoke_test.token_secret_arn must be a Secrets Manager secret ARN."
  }

  validation {
    condition     = length(var.smoke_test.subnet_ids) > 0
    error_message = "smoke_test.subnet_ids needs at least one private subnet."
  }

  validation {
    condition     = var.smoke_test.ready_timeout_seconds >= 5 && var.smoke_test.ready_timeout_seconds <= 600
    error_message = "smoke_test.ready_timeout_seconds must be between 5 and 600."
  }
}

variable "smoke_hook_package" {
  description = "Where the release workflow put the smoke hook's deployment package in the release bucket (key \"smokehook/<version>/smokehook-arm64.zip\"). Null: no function yet (first apply, before the first release); api deployments then have no lifecycle hook and output api_deployment says so."
  type = object({
    s3_key            = string
    s3_object_version = optional(string)
  })
  default = null

  validation {
    condition     = var.smoke_hook_package == null || endswith(try(var.smoke_hook_package.s3_key, ""), ".zip")
    error_message = "smoke_hook_package.s3_key must name a .zip in the release bucket."
  }
}

# ---------------------------------------------------------------------------
# Notifications, logs, keys
# ---------------------------------------------------------------------------

variable "notification_emails" {
  description = "Email addresses subscribed to the pipeline's notification topic (failed stages and actions, approvals waiting, finished releases). Each must confirm its subscription."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails must be email addresses."
  }
}

variable "log_retention_days" {
  description = "Retention in days of the CodeBuild and smoke hook log groups; a value CloudWatch Logs accepts."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "artifact_retention_days" {
  description = "Days pipeline artifacts (copies of releases between stages) are kept."
  type        = number
  default     = 30

  validation {
    condition     = var.artifact_retention_days >= 1
    error_message = "artifact_retention_days must be >= 1."
  }
}

variable "release_retention_days" {
  description = "Days a superseded release object version is kept in the release bucket (created here only). The newest releases_to_keep versions are always kept: they are what rollbacks go back to."
  type        = number
  default     = 180

  validation {
    condition     = var.release_retention_days >= 1
    error_message = "release_retention_days must be >= 1."
  }
}

variable "releases_to_keep" {
  description = "How many previous versions of each release object survive the expiry (1-100)."
  type        = number
  default     = 30

  validation {
    condition     = var.releases_to_keep >= 1 && var.releases_to_keep <= 100
    error_message = "releases_to_keep must be between 1 and 100."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period, in days, before a key of this module is deleted once scheduled (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "codebuild_image" {
  description = "CodeBuild image of the deploy steps (ARM: the release carries a linux/arm64 oneshot binary for rendering). Needs the AWS CLI v2 with ECS service deployments (2.22 or later)."
  type        = string
  default     = "aws/codebuild/amazonlinux-aarch64-standard:3.0"
}
