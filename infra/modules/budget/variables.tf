variable "name" {
  description = "Name prefix of the environment, for example \"oneshot-dev\". The budget is named \"<name>-monthly\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment: dev, staging or prod. The budget counts the cost of resources whose cost_tag_key tag equals it."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  description = "Tags added to the budget, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "monthly_limit" {
  description = "Monthly cost limit of the environment, in limit_unit."
  type        = number

  validation {
    condition     = var.monthly_limit > 0
    error_message = "monthly_limit must be > 0."
  }
}

variable "limit_unit" {
  description = "Currency of monthly_limit."
  type        = string
  default     = "USD"

  validation {
    condition     = can(regex("^[A-Z]{3}$", var.limit_unit))
    error_message = "limit_unit must be a three-letter currency code such as USD."
  }
}

variable "actual_threshold_percent" {
  description = "Alert when the actual cost of the month passes this share of the limit, in percent."
  type        = number
  default     = 80

  validation {
    condition     = var.actual_threshold_percent > 0 && var.actual_threshold_percent <= 1000
    error_message = "actual_threshold_percent must be in (0, 1000]."
  }
}

variable "forecast_threshold_percent" {
  description = "Alert when the forecast cost of the month passes this share of the limit, in percent."
  type        = number
  default     = 100

  validation {
    condition     = var.forecast_threshold_percent > 0 && var.forecast_threshold_percent <= 1000
    error_message = "forecast_threshold_percent must be in (0, 1000]."
  }
}

variable "sns_topic_arn" {
  description = "SNS topic that receives the alerts (observability output sns_topic_arn; its policy and key admit budgets.amazonaws.com). Null: e-mail only."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.sns_topic_arn))
    error_message = "sns_topic_arn must be null or an SNS topic ARN."
  }
}

variable "alert_emails" {
  description = "E-mail addresses that receive the alerts directly (at most 10)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.alert_emails) <= 10 && alltrue([for e in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_emails must be at most 10 e-mail addresses."
  }

  validation {
    condition     = length(var.alert_emails) > 0 || var.sns_topic_arn != null
    error_message = "give sns_topic_arn or at least one address in alert_emails, or nobody hears about the budget."
  }
}

variable "cost_tag_key" {
  description = "User-defined cost allocation tag that carries the environment (set by the env roots' default_tags). The budget filters on \"user:<key>$<environment>\"."
  type        = string
  default     = "env"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.:/=+@-]{1,128}$", var.cost_tag_key))
    error_message = "cost_tag_key must be a valid tag key."
  }
}

variable "activate_cost_allocation_tag" {
  description = "Activate cost_tag_key as a cost allocation tag in Billing (without it the budget's tag filter matches nothing). It is an account-wide setting: turn it on in exactly one root per account, and only from the payer account."
  type        = bool
  default     = false
}
