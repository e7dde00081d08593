variable "region" {
  description = "AWS region of the state bucket, its KMS key and the environments."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1."
  }
}

variable "allowed_account_ids" {
  description = "If set, the AWS account IDs this bootstrap may run against; the provider refuses any other account."
  type        = list(string)
  default     = null

  validation {
    condition     = var.allowed_account_ids == null || alltrue([for id in coalesce(var.allowed_account_ids, []) : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must be 12-digit AWS account IDs."
  }
}

variable "project" {
  description = "Project name: prefix of the state bucket, the KMS alias and the roles (<project>-deploy-<env>, <project>-plan-<env>). The deploy role may manage IAM roles and policies named <project>-<env>-*."
  type        = string
  default     = "oneshot"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.project))
    error_message = "project must be 3-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "github_repository" {
  description = "GitHub repository allowed to assume the roles, as \"owner/repo\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be \"owner/repo\", e.g. \"example-org/oneshot\"."
  }
}

variable "environments" {
  description = "Environments that get a deploy role and a plan role (and a state key prefix)."
  type        = list(string)
  default     = ["dev", "staging", "prod"]

  validation {
    condition     = length(var.environments) > 0 && alltrue([for e in var.environments : contains(["dev", "staging", "prod"], e)])
    error_message = "environments must be a non-empty list drawn from dev, staging and prod."
  }

  validation {
    condition     = length(distinct(var.environments)) == length(var.environments)
    error_message = "environments must not contain duplicates."
  }
}

variable "state_bucket_name" {
  description = "Name of the state bucket. Null (default) uses \"<project>-tfstate-<account id>-<region>\", which is globally unique."
  type        = string
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten state version is kept before it expires. The newest noncurrent_versions_to_keep versions are kept regardless."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_versions_to_keep" {
  description = "How many previous versions of each state object survive the expiry (1-100), for rollbacks after a bad apply."
  type        = number
  default     = 20

  validation {
    condition     = var.noncurrent_versions_to_keep >= 1 && var.noncurrent_versions_to_keep <= 100
    error_message = "noncurrent_versions_to_keep must be between 1 and 100."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of an existing IAM OIDC provider for token.actions.githubusercontent.com. An account has at most one per URL: set this when another stack already created it; null (default) creates it here."
  type        = string
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "deploy_role_managed_policies" {
  description = "AWS managed policies (names, not ARNs) attached to every deploy role. PowerUserAccess covers every service but IAM; the IAM the stack needs is granted separately, scoped to <project>-<env>-* names."
  type        = list(string)
  default     = ["PowerUserAccess"]

  validation {
    condition     = alltrue([for p in var.deploy_role_managed_policies : can(regex("^[A-Za-z0-9+=,.@_/-]+$", p)) && !startswith(p, "arn:")])
    error_message = "deploy_role_managed_policies must be AWS managed policy names such as PowerUserAccess (or job-function/ViewOnlyAccess), not ARNs."
  }

  validation {
    condition     = !contains(var.deploy_role_managed_policies, "AdministratorAccess") && !contains(var.deploy_role_managed_policies, "IAMFullAccess")
    error_message = "AdministratorAccess and IAMFullAccess would let a deploy role rewrite its own trust; grant IAM through the scoped inline policy instead."
  }
}

variable "max_session_duration" {
  description = "Maximum session length in seconds of the deploy and plan roles (3600-43200)."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before the state KMS key is deleted once scheduled (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of Project, Component and ManagedBy."
  type        = map(string)
  default     = {}
}
