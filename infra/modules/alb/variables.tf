variable "name" {
  description = "Name prefix for every resource, e.g. \"oneshot-dev\". Lowercase letters, digits and hyphens, 3-24 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "environment" {
  description = "Deployment environment: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of: dev, staging, prod."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}


variable "vpc_id" {
  description = "ID of the VPC (network module output vpc_id); the target groups live in it."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "public_subnet_ids" {
  description = "Public subnet IDs, one per AZ, at least two (network module output public_subnet_ids)."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "public_subnet_ids must list at least two subnet IDs (an ALB spans at least two AZs)."
  }
}

variable "security_group_id" {
  description = "ID of the ALB security group (security-groups module output alb_security_group_id). This module adds the test listener's ingress rules to it."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.security_group_id))
    error_message = "security_group_id must look like sg-0123456789abcdef0."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate (in the ALB's region) served by the HTTPS and test listeners."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)."
  }
}

variable "ssl_policy" {
  description = "TLS security policy of the HTTPS listeners. The default accepts TLS 1.3 and 1.2 with forward-secret ciphers only; ELBSecurityPolicy-TLS13-1-3-2021-06 is TLS 1.3 only."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-")
    error_message = "ssl_policy must be one of the TLS 1.3 policies (ELBSecurityPolicy-TLS13-...)."
  }
}

variable "deletion_protection" {
  description = "Turn on ALB deletion protection. Keep true in prod; dev may set false so the stack can be destroyed."
  type        = bool
  default     = true
}

variable "idle_timeout" {
  description = "Seconds a connection may sit idle before the ALB closes it (1-4000)."
  type        = number
  default     = 60

  validation {
    condition     = var.idle_timeout >= 1 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "app_port" {
  description = "Port the API container listens on; the target groups send traffic and health checks there."
  type        = number
  default     = 8080

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535 && floor(var.app_port) == var.app_port
    error_message = "app_port must be a whole number between 1024 and 65535."
  }
}

variable "health_check_path" {
  description = "HTTP path the target groups probe. /readyz answers 200 only once the API can serve (database reachable)."
  type        = string
  default     = "/readyz"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with /."
  }
}

variable "health_check_interval" {
  description = "Seconds between health checks (5-30). Short, so new tasks turn healthy and bad ones are caught quickly during deployments."
  type        = number
  default     = 10

  validation {
    condition     = var.health_check_interval >= 5 && var.health_check_interval <= 30 && floor(var.health_check_interval) == var.health_check_interval
    error_message = "health_check_interval must be a whole number of seconds between 5 and 30."
  }
}

variable "health_check_healthy_threshold" {
  description = "Consecutive successful checks before a target is healthy (2-10)."
  type        = number
  default     = 2

  validation {
    condition     = var.health_check_healthy_threshold >= 2 && var.health_check_healthy_threshold <= 10
    error_message = "health_check_healthy_threshold must be between 2 and 10."
  }
}

variable "health_check_unhealthy_threshold" {
  description = "Consecutive failed checks before a target is unhealthy (2-10)."
  type        = number
  default     = 2

  validation {
    condition     = var.health_check_unhealthy_threshold >= 2 && var.health_check_unhealthy_threshold <= 10
    error_message = "health_check_unhealthy_threshold must be between 2 and 10."
  }
}

variable "health_check_matcher" {
  description = "HTTP codes that count as healthy."
  type        = string
  default     = "200"

  validation {
    condition     = can(regex("^[0-9]{3}([-,][0-9]{3})*$", var.health_check_matcher))
    error_message = "health_check_matcher must be HTTP codes such as \"200\", \"200,204\" or \"200-299\"."
  }
}

variable "deregistration_delay" {
  description = "Seconds the ALB keeps draining a deregistered target. Must stay below the tasks' stopTimeout (120 s) so in-flight requests finish before SIGKILL."
  type        = number
  default     = 30

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay < 120 && floor(var.deregistration_delay) == var.deregistration_delay
    error_message = "deregistration_delay must be a whole number of seconds from 0 to 119 (below the ECS stop timeout of 120 s)."
  }
}

variable "test_listener_port" {
  description = "Port of the HTTPS test listener that reaches the green target group during blue/green deployments."
  type        = number
  default     = 8443

  validation {
    condition     = var.test_listener_port >= 1 && var.test_listener_port <= 65535 && !contains([80, 443], var.test_listener_port)
    error_message = "test_listener_port must be a port from 1 to 65535 other than 80 and 443."
  }
}

variable "test_listener_cidrs" {
  description = "IPv4 CIDRs allowed to reach the test listener, e.g. the NAT gateways' addresses as /32 (deployment hooks in the VPC reach this internet-facing ALB through NAT, so the VPC CIDR is not their source) or an office range. The values may be unknown until apply (the list's length may not). Empty (default): no ingress rule, the test listener is closed to everyone."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.test_listener_cidrs : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "test_listener_cidrs must be IPv4 CIDRs."
  }

  validation {
    condition     = !contains(var.test_listener_cidrs, "0.0.0.0/0")
    error_message = "test_listener_cidrs must not contain 0.0.0.0/0: the test listener serves not-yet-released code."
  }

  validation {
    condition     = length(distinct(var.test_listener_cidrs)) == length(var.test_listener_cidrs)
    error_message = "test_listener_cidrs must not contain duplicates."
  }
}

variable "blue_green_rule_priority" {
  description = "Priority of the catch-all (path /*) listener rule on the production and on the test listener that ECS-native blue/green rewrites to shift traffic (1-50000; lower is evaluated first). Rules added for other purposes, e.g. a maintenance page, need a lower number to win."
  type        = number
  default     = 100

  validation {
    condition     = var.blue_green_rule_priority >= 1 && var.blue_green_rule_priority <= 50000 && floor(var.blue_green_rule_priority) == var.blue_green_rule_priority
    error_message = "blue_green_rule_priority must be a whole number from 1 to 50000."
  }
}

variable "access_logs_prefix" {
  description = "Key prefix of the ALB access logs in the logs bucket (no leading or trailing slash, must not contain AWSLogs)."
  type        = string
  default     = "alb"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.access_logs_prefix)) && !strcontains(var.access_logs_prefix, "AWSLogs")
    error_message = "access_logs_prefix must be a non-empty S3 key prefix without leading/trailing slashes and without \"AWSLogs\"."
  }
}

variable "access_logs_retention_days" {
  description = "Days after which ALB access log objects expire (noncurrent versions expire 7 days after being replaced)."
  type        = number
  default     = 90

  validation {
    condition     = var.access_logs_retention_days >= 1 && floor(var.access_logs_retention_days) == var.access_logs_retention_days
    error_message = "access_logs_retention_days must be a whole number of days, at least 1."
  }
}

variable "access_logs_bucket_force_destroy" {
  description = "Allow destroying the access logs bucket while it still holds logs. Keep false in prod."
  type        = bool
  default     = false
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP address above which the WAF blocks that address (10-2000000000)."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000 && floor(var.waf_rate_limit) == var.waf_rate_limit
    error_message = "waf_rate_limit must be a whole number between 10 and 2000000000."
  }
}

variable "waf_log_retention_days" {
  description = "Retention in days of the WAF log group. Must be a value CloudWatch Logs accepts."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.waf_log_retention_days)
    error_message = "waf_log_retention_days must be one of the CloudWatch Logs retention values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before the WAF log KMS key is deleted after destroy (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "waf_common_rules_to_count" {
  description = "Rules of AWSManagedRulesCommonRuleSet switched from block to count. SizeRestrictions_BODY is counted by default because task submissions carry prompts larger than its 8 KB body limit; the API enforces its own request size limit."
  type        = list(string)
  default     = ["SizeRestrictions_BODY"]

  validation {
    condition     = alltrue([for r in var.waf_common_rules_to_count : can(regex("^[A-Za-z0-9_]+$", r))])
    error_message = "waf_common_rules_to_count must hold rule names such as SizeRestrictions_BODY."
  }
}
