variable "name" {
  description = "Name prefix of the environment, for example \"oneshot-dev\" (used for the KMS alias)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment: dev, staging or prod. Parameters live under /oneshot/<env>/ and secrets under oneshot/<env>/."
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

variable "profiles_yaml" {
  description = "Content of the profiles configuration file (YAML), stored in the parameter /oneshot/<env>/profiles and given to the containers as ONESHOT_CONFIG_YAML. Non-secret: API keys come from the secrets."
  type        = string

  validation {
    condition     = length(trimspace(var.profiles_yaml)) > 0 && length(var.profiles_yaml) <= 8192
    error_message = "profiles_yaml must be non-empty and at most 8192 characters (the SSM advanced-tier limit)."
  }
}

variable "profiles_secure" {
  description = "Store the profiles parameter as a SecureString encrypted with this module's key (the execution roles then need the key: output kms_key_arn)."
  type        = bool
  default     = true
}

variable "max_iterations_cap" {
  description = "Upper bound on the loop iterations any task may request, stored in /oneshot/<env>/max_iterations_cap."
  type        = number
  default     = 10

  validation {
    condition     = var.max_iterations_cap >= 1 && var.max_iterations_cap <= 1000 && floor(var.max_iterations_cap) == var.max_iterations_cap
    error_message = "max_iterations_cap must be a whole number between 1 and 1000."
  }
}

variable "parameters" {
  description = "Further settings stored under /oneshot/<env>/<key>. secure = true stores a SecureString with this module's key. Values are committed in tfvars, so never put a secret value here: use secret_names and set the value outside Terraform."
  type = map(object({
    value       = string
    secure      = optional(bool, false)
    description = optional(string, "")
  }))
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.parameters) : can(regex("^[a-z0-9][a-z0-9_.-]{0,127}$", k))])
    error_message = "parameter keys must be lower-case letters, digits, '_', '.', '-' (up to 128 characters)."
  }

  validation {
    condition     = !contains(keys(var.parameters), "profiles") && !contains(keys(var.parameters), "max_iterations_cap")
    error_message = "\"profiles\" and \"max_iterations_cap\" have their own variables."
  }

  validation {
    condition     = alltrue([for p in values(var.parameters) : length(p.value) > 0 && length(p.value) <= 8192])
    error_message = "parameter values must be 1-8192 characters."
  }
}

variable "secret_names" {
  description = "Secrets Manager secrets to create, empty, under oneshot/<env>/ (besides bootstrap-token): one per LLM API key. Their values are set outside Terraform (see README). Each is offered to containers as the upper-cased name, e.g. openai-api-key -> OPENAI_API_KEY."
  type        = list(string)
  default     = ["openai-api-key", "anthropic-api-key"]

  validation {
    condition     = alltrue([for n in var.secret_names : can(regex("^[a-z][a-z0-9-]{0,62}$", n))])
    error_message = "secret names must be lower-case letters, digits and hyphens, starting with a letter."
  }

  validation {
    condition     = !contains(var.secret_names, "bootstrap-token") && length(distinct(var.secret_names)) == length(var.secret_names)
    error_message = "secret_names must be unique and must not contain bootstrap-token (always created)."
  }
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored: 0 (delete at once) or 7-30. Null means 30 in prod and 7 elsewhere."
  type        = number
  default     = null

  validation {
    condition     = var.recovery_window_in_days == null || try(var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30), false)
    error_message = "recovery_window_in_days must be null, 0, or between 7 and 30."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period, in days, before the config key is deleted after it is scheduled for deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}
