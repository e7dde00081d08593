variable "name" {
  description = "Name prefix of the environment, for example \"oneshot-dev\". The bucket is named \"<name>-artifacts-<account id>\"."
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

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period, in days, before the artifacts key is deleted after it is scheduled for deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

# ---------------------------------------------------------------------------
# ECR
# ---------------------------------------------------------------------------

variable "create_repositories" {
  description = "Create the ECR repositories. Environments that share an account and a registry create them once (in one root) and pass their ARNs on."
  type        = bool
  default     = true
}

variable "repository_names" {
  description = "ECR repositories to create: the service image and the worker image with the agent CLIs."
  type        = list(string)
  default     = ["oneshot", "oneshot-agents"]

  validation {
    condition     = length(var.repository_names) > 0 && alltrue([for n in var.repository_names : can(regex("^[a-z0-9]+([._-][a-z0-9]+)*$", n))])
    error_message = "repository names must be lower-case letters and digits separated by '.', '_' or '-'."
  }
}

variable "repository_namespace" {
  description = "Optional namespace put in front of each repository name (\"<namespace>/<name>\"), e.g. the environment when several environments share one registry. Null: plain names."
  type        = string
  default     = null

  validation {
    condition     = var.repository_namespace == null || can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", var.repository_namespace))
    error_message = "repository_namespace must be lower-case path segments such as \"dev\" or \"oneshot/dev\"."
  }
}

variable "keep_tagged_images" {
  description = "Number of most recent tagged images kept per repository; older tagged images expire."
  type        = number
  default     = 50

  validation {
    condition     = var.keep_tagged_images >= 1 && var.keep_tagged_images <= 10000
    error_message = "keep_tagged_images must be between 1 and 10000."
  }
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images (superseded layers of multi-arch builds, failed pushes) expire."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_image_expiry_days >= 1
    error_message = "untagged_image_expiry_days must be >= 1."
  }
}

variable "force_delete_repositories" {
  description = "Allow Terraform to delete repositories that still contain images (for throw-away test stacks only)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# S3 bucket for task artifacts
# ---------------------------------------------------------------------------

variable "force_destroy_bucket" {
  description = "Allow Terraform to delete the artifacts bucket with its objects (for throw-away test stacks only)."
  type        = bool
  default     = false
}

variable "transition_days" {
  description = "Days after which artifact objects move to transition_storage_class. Null: no transition."
  type        = number
  default     = 30

  validation {
    condition     = var.transition_days == null || try(var.transition_days >= 0, false)
    error_message = "transition_days must be null or >= 0."
  }
}

variable "transition_storage_class" {
  description = "Storage class artifacts move to after transition_days (STANDARD_IA and ONEZONE_IA need at least 30 days)."
  type        = string
  default     = "STANDARD_IA"

  validation {
    condition     = contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.transition_storage_class)
    error_message = "transition_storage_class must be one of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE."
  }

  validation {
    condition     = !contains(["STANDARD_IA", "ONEZONE_IA"], var.transition_storage_class) || var.transition_days == null || try(var.transition_days >= 30, false)
    error_message = "S3 moves objects to STANDARD_IA or ONEZONE_IA only after at least 30 days."
  }
}

variable "expiration_days" {
  description = "Days after which artifact objects expire (become noncurrent versions). Null: never."
  type        = number
  default     = 90

  validation {
    condition     = var.expiration_days == null || try(var.expiration_days >= 1, false)
    error_message = "expiration_days must be null or >= 1."
  }

  validation {
    condition     = var.expiration_days == null || var.transition_days == null || try(var.expiration_days > var.transition_days, false)
    error_message = "expiration_days must be greater than transition_days."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted (noncurrent) versions are removed for good."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be >= 1."
  }
}

variable "access_logging" {
  description = "S3 server access logging of the artifacts bucket: an existing target bucket and a key prefix. Null: no access logging. (An object rather than a nullable bucket name, so that whether logging is on is known at plan time even when the bucket name comes from another module.)"
  type = object({
    bucket = string
    prefix = optional(string, "s3-access/artifacts/")
  })
  default = null
}
