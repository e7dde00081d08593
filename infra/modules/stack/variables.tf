# ---------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------

variable "environment" {
  description = "Environment this stack is: dev, staging or prod. It names everything (\"oneshot-<env>\"), the SSM and Secrets Manager paths (/oneshot/<env>/), the metric namespace (Oneshot/<env>) and picks the modules' environment defaults."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of: dev, staging, prod."
  }
}

variable "name" {
  description = "Name of every resource of the stack. Null (default) means \"oneshot-<environment>\", the name the bootstrap's deploy roles may manage IAM for. Set it only for throw-away stacks (tests) that must not collide with a real environment in the same account."
  type        = string
  default     = null

  validation {
    condition     = var.name == null || can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", coalesce(var.name, "x")))
    error_message = "name must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags (which the environment roots set: project, env, service, owner)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

variable "domain" {
  description = "Host name of the API and its certificate. name is the host clients use (e.g. \"api.dev.oneshot.example.com\"). With route53_zone_id (the public hosted zone that holds name), the stack requests the ACM certificate, validates it through DNS and points name at the load balancer. With certificate_arn instead, it uses that issued ACM certificate (in the stack's region, covering name) and the DNS record is yours to create. With both, the given certificate is used and the alias record is created."
  type = object({
    name            = string
    route53_zone_id = optional(string)
    certificate_arn = optional(string)
  })

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain.name))
    error_message = "domain.name must be a lowercase DNS host name such as api.dev.oneshot.example.com."
  }

  validation {
    condition     = var.domain.route53_zone_id != null || var.domain.certificate_arn != null
    error_message = "set domain.route53_zone_id (the stack requests and validates the certificate) or domain.certificate_arn (an issued ACM certificate for domain.name)."
  }

  validation {
    condition     = var.domain.route53_zone_id == null || can(regex("^Z[0-9A-Z]{1,32}$", coalesce(var.domain.route53_zone_id, "x")))
    error_message = "domain.route53_zone_id must be a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ (replace the placeholder in terraform.tfvars)."
  }

  validation {
    condition     = var.domain.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", coalesce(var.domain.certificate_arn, "x")))
    error_message = "domain.certificate_arn must be an ACM certificate ARN."
  }
}

variable "allowed_ingress_cidrs" {
  description = "IPv4 CIDRs that may reach the API on 443 (and 80, which only redirects). The whole internet by default; narrow it for a pre-launch environment."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "test_listener_cidrs" {
  description = "IPv4 CIDRs, besides the NAT gateways' addresses (always allowed, so the smoke-test hook in the VPC gets through), that may reach the blue/green test listener, e.g. an office or VPN range for manual checks of a release before it takes traffic. Never 0.0.0.0/0."
  type        = list(string)
  default     = []
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP address above which the WAF blocks that address."
  type        = number
  default     = 2000
}

# ---------------------------------------------------------------------------
# Network and database
# ---------------------------------------------------------------------------

variable "network" {
  description = "VPC shape: vpc_cidr (a /16 to /18), az_count (2 for dev and staging, 3 for prod), single_nat_gateway (one NAT for all AZs, or one per AZ in prod) and enable_interface_endpoints (ECR, logs, Secrets Manager, SSM endpoints; off in dev to save their hourly cost)."
  type = object({
    vpc_cidr                   = optional(string, "10.0.0.0/16")
    az_count                   = optional(number, 2)
    single_nat_gateway         = optional(bool, true)
    enable_interface_endpoints = optional(bool, true)
  })
  default = {}

  validation {
    condition     = contains([2, 3], var.network.az_count)
    error_message = "network.az_count must be 2 or 3."
  }
}

variable "database" {
  description = "RDS PostgreSQL settings. multi_az, deletion_protection and performance_insights left null follow the database module's environment defaults (on in prod); backup_retention_period is always explicit."
  type = object({
    instance_class          = optional(string, "db.t4g.small")
    engine_version          = optional(string, "16")
    allocated_storage       = optional(number, 20)
    max_allocated_storage   = optional(number, 100)
    backup_retention_period = optional(number, 7)
    multi_az                = optional(bool)
    deletion_protection     = optional(bool)
    performance_insights    = optional(bool)
    monitoring_interval     = optional(number, 0)
    connections_alarm       = optional(number, 80)
  })
  default = {}

  validation {
    condition     = var.database.backup_retention_period >= 1 && var.database.backup_retention_period <= 35
    error_message = "database.backup_retention_period must be between 1 and 35 days."
  }
}

# ---------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------

variable "services" {
  description = "Size and scale of the three task definitions. cpu/memory must be a Fargate combination; cpu_architecture ARM64 (Graviton, cheaper) or X86_64 (Fargate Spot, which the worker mostly runs on, is not offered for ARM64 everywhere). min/max_capacity bound autoscaling (the worker may go to 0: it scales from zero when work is queued). on_demand_base is the worker's count of tasks always on on-demand FARGATE (null: 1 in prod, 0 elsewhere). ephemeral_storage_gib sizes the task's scratch space (the worker's agent workspaces)."
  type = object({
    api = optional(object({
      cpu                   = optional(number, 512)
      memory                = optional(number, 1024)
      cpu_architecture      = optional(string, "ARM64")
      min_capacity          = optional(number, 1)
      max_capacity          = optional(number, 4)
      ephemeral_storage_gib = optional(number, 21)
    }), {})
    worker = optional(object({
      cpu                     = optional(number, 1024)
      memory                  = optional(number, 4096)
      cpu_architecture        = optional(string, "X86_64")
      min_capacity            = optional(number, 0)
      max_capacity            = optional(number, 4)
      on_demand_base          = optional(number)
      backlog_per_task_target = optional(number, 2)
      ephemeral_storage_gib   = optional(number, 50)
    }), {})
    migrate = optional(object({
      cpu              = optional(number, 256)
      memory           = optional(number, 512)
      cpu_architecture = optional(string, "ARM64")
    }), {})
  })
  default = {}

  validation {
    condition = alltrue([
      for a in [var.services.api.cpu_architecture, var.services.worker.cpu_architecture, var.services.migrate.cpu_architecture] :
      contains(["ARM64", "X86_64"], a)
    ])
    error_message = "services.*.cpu_architecture must be ARM64 or X86_64."
  }

  validation {
    condition     = var.services.api.min_capacity >= 1
    error_message = "services.api.min_capacity must be at least 1 (use off_hours_schedule to stop the API at night)."
  }
}

variable "off_hours_schedule" {
  description = "Scale the api and worker services to zero outside working hours (dev): scale_down and scale_up are Application Auto Scaling schedule expressions such as \"cron(0 20 ? * MON-FRI *)\", evaluated in timezone (IANA name). Null keeps the services up."
  type = object({
    scale_down = string
    scale_up   = string
    timezone   = optional(string, "UTC")
  })
  default = null
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the api and worker tasks (for debugging; every session is logged to the cluster's encrypted exec log group)."
  type        = bool
  default     = false
}

variable "image" {
  description = "Image the first task definition revisions run: the ECR repositories' images at digest (preferred, \"sha256:...\") or tag. After the first apply the delivery pipeline registers and deploys its own revisions; Terraform ignores which revision a service runs."
  type = object({
    tag    = optional(string, "bootstrap")
    digest = optional(string)
  })
  default = {}

  validation {
    condition     = var.image.digest == null || can(regex("^sha256:[0-9a-f]{64}$", coalesce(var.image.digest, "x")))
    error_message = "image.digest must be sha256:<64 hex digits>."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image.tag))
    error_message = "image.tag must be a valid image tag."
  }
}

variable "app_config" {
  description = "Application configuration stored in SSM under /oneshot/<env>/: profiles_yaml (the profiles file, given to every container as ONESHOT_CONFIG_YAML; no keys in it), max_iterations_cap (ONESHOT_MAX_ITERATIONS_CAP), and llm_secret_names, the Secrets Manager secrets (oneshot/<env>/<name>, values set outside Terraform) the worker gets as upper-cased environment variables (openai-api-key becomes OPENAI_API_KEY)."
  type = object({
    profiles_yaml      = string
    max_iterations_cap = optional(number, 10)
    llm_secret_names   = optional(list(string), ["openai-api-key", "anthropic-api-key"])
  })

  validation {
    condition     = alltrue([for n in var.app_config.llm_secret_names : can(regex("^[a-z0-9][a-z0-9-]*[a-z0-9]$", n)) && !contains(["bootstrap-token", "smoke-test-token"], n)])
    error_message = "app_config.llm_secret_names must be lowercase names with hyphens, other than bootstrap-token and smoke-test-token (which the stack creates itself)."
  }
}

# ---------------------------------------------------------------------------
# Operations: logs, alerts, cost, teardown
# ---------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group of the stack (services, ECS Exec, VPC flow logs, WAF, PostgreSQL) and expiry of the ALB access logs, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the environment's alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "budget" {
  description = "Monthly AWS Budgets limit of the environment (USD, costs tagged env = <env>), with alerts at 80% actual and 100% forecast to the alarm topic and alert_emails. activate_cost_allocation_tag turns the env tag on in Billing: an account-wide switch, for exactly one root per account (the payer account)."
  type = object({
    monthly_limit                = number
    alert_emails                 = optional(list(string), [])
    activate_cost_allocation_tag = optional(bool, false)
  })

  validation {
    condition     = var.budget.monthly_limit > 0
    error_message = "budget.monthly_limit must be positive."
  }
}

variable "owns_shared_resources" {
  description = "This root creates what the environments of one AWS account share: the ECR repositories (one image digest is promoted through the environments) and the delivery pipeline's release bucket. Exactly one environment per account sets it (dev in the committed tfvars); the others refer to the same repositories by name. With one account per environment, every environment sets it."
  type        = bool
  default     = false
}

variable "repository_namespace" {
  description = "Prefix of the ECR repository names (\"<namespace>/oneshot\"). Null (default): plain oneshot and oneshot-agents. Throw-away stacks that share an account with real environments set it to their name."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` remove the environment in one go: buckets with their objects, secrets without a recovery window, KMS keys after the minimum 7 days, no deletion protection on the load balancer or the database. For dev and test stacks only. What the environments share is spared: the ECR repositories are only deleted with their images when they are this stack's own (repository_namespace set)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# Delivery pipeline
# ---------------------------------------------------------------------------

variable "pipeline" {
  description = "The delivery pipeline of this environment (migrate, worker, api blue/green; approval first in prod). enabled = false leaves it out (test stacks that deploy by hand). github_repository is the repository whose release workflow may push images (used where owns_shared_resources is true). promote_to is the next environment (null: dev to staging, staging to prod, prod nowhere; \"none\" to stop here). smoke_hook_package is the smoke-test Lambda package the release workflow uploaded (null before the first release; until then api deployments run without the smoke test). require_approval null means: in prod only."
  type = object({
    enabled             = optional(bool, true)
    github_repository   = optional(string)
    notification_emails = optional(list(string), [])
    promote_to          = optional(string)
    require_approval    = optional(bool)
    smoke_hook_package = optional(object({
      s3_key            = string
      s3_object_version = optional(string)
    }))
  })
  default = {}

  validation {
    condition     = var.pipeline.promote_to == null || contains(["staging", "prod", "none"], coalesce(var.pipeline.promote_to, "x"))
    error_message = "pipeline.promote_to must be staging, prod, none or null."
  }

  validation {
    condition     = !var.pipeline.enabled || !var.owns_shared_resources || var.pipeline.github_repository != null
    error_message = "pipeline.github_repository (\"owner/repo\") is required where owns_shared_resources is true: that root creates the role the release workflow pushes images with."
  }
}
