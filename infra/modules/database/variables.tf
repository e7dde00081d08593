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


variable "subnet_ids" {
  description = "Private database subnet IDs, at least two in different AZs (network module output private_db_subnet_ids)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list at least two subnet IDs (RDS subnet groups span at least two AZs)."
  }
}

variable "security_group_id" {
  description = "ID of the database security group (security-groups module output database_security_group_id)."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.security_group_id))
    error_message = "security_group_id must look like sg-0123456789abcdef0."
  }
}

variable "engine_version" {
  description = "PostgreSQL version: a major version (\"16\") lets RDS pick and upgrade the minor version; \"16.4\" pins it. The parameter group family follows the major version."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^1[3-9](\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be a PostgreSQL major version from 13 upwards, optionally with a minor version (\"16\" or \"16.4\")."
  }
}

variable "instance_class" {
  description = "RDS instance class, e.g. db.t4g.micro for dev, db.m7g.large for prod."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9-]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.t4g.small."
  }
}

variable "db_name" {
  description = "Name of the database created on the instance."
  type        = string
  default     = "oneshot"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a lowercase letter and contain only lowercase letters, digits and underscores (at most 63 characters)."
  }
}

variable "master_username" {
  description = "Master user name. Its password is generated and rotated by RDS in Secrets Manager (manage_master_user_password)."
  type        = string
  default     = "oneshot_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && !contains(["postgres", "rdsadmin", "admin", "root"], var.master_username)
    error_message = "master_username must start with a lowercase letter, contain only lowercase letters, digits and underscores, and not be a reserved name (postgres, rdsadmin, admin, root)."
  }
}

variable "port" {
  description = "Port PostgreSQL listens on; must match the security-groups module's database_port."
  type        = number
  default     = 5432

  validation {
    condition     = var.port >= 1150 && var.port <= 65535 && floor(var.port) == var.port
    error_message = "port must be a whole number between 1150 and 65535."
  }
}

variable "allocated_storage" {
  description = "Initial storage in GiB (gp3, 20-65536)."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536 && floor(var.allocated_storage) == var.allocated_storage
    error_message = "allocated_storage must be a whole number of GiB between 20 and 65536."
  }
}

variable "max_allocated_storage" {
  description = "Upper limit in GiB for storage autoscaling. Must exceed allocated_storage; 0 turns autoscaling off."
  type        = number
  default     = 100

  validation {
    condition     = var.max_allocated_storage == 0 || (var.max_allocated_storage > var.allocated_storage && var.max_allocated_storage <= 65536)
    error_message = "max_allocated_storage must be 0 (no autoscaling) or greater than allocated_storage and at most 65536."
  }
}

variable "backup_retention_period" {
  description = "Days of automated backups and point-in-time recovery (1-35). An environment choice: e.g. 1 in dev, 14 in prod."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35 && floor(var.backup_retention_period) == var.backup_retention_period
    error_message = "backup_retention_period must be a whole number of days between 1 and 35 (0 would turn backups off)."
  }
}

variable "backup_window" {
  description = "Daily UTC window for automated backups (hh24:mi-hh24:mi); must not overlap maintenance_window."
  type        = string
  default     = "02:00-03:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_window))
    error_message = "backup_window must look like 02:00-03:00 (UTC)."
  }
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi)."
  type        = string
  default     = "sun:04:00-sun:05:00"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:04:00-sun:05:00 (UTC)."
  }
}

variable "multi_az" {
  description = "Run a synchronous standby in a second AZ. Null (default) means true in prod and false elsewhere."
  type        = bool
  default     = null
}

variable "deletion_protection" {
  description = "Protect the instance from deletion. Null (default) means true in staging and prod, false in dev. A final snapshot is taken on destroy whenever deletion protection is on."
  type        = bool
  default     = null
}

variable "performance_insights_enabled" {
  description = "Turn on Performance Insights, encrypted with this module's KMS key. Null (default) means true in prod and false elsewhere."
  type        = bool
  default     = null
}

variable "performance_insights_retention_period" {
  description = "Days Performance Insights data is kept: 7 (free tier), or 31 to 731 in multiples of 31."
  type        = number
  default     = 7

  validation {
    condition     = var.performance_insights_retention_period == 7 || (var.performance_insights_retention_period >= 31 && var.performance_insights_retention_period <= 731 && var.performance_insights_retention_period % 31 == 0)
    error_message = "performance_insights_retention_period must be 7, or a multiple of 31 between 31 and 731."
  }
}

variable "iam_database_authentication_enabled" {
  description = "Allow IAM database authentication in addition to passwords."
  type        = bool
  default     = false
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 turns it off; 1, 5, 10, 15, 30 or 60). A monitoring role is created when it is on."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "auto_minor_version_upgrade" {
  description = "Let RDS apply minor version upgrades in the maintenance window."
  type        = bool
  default     = true
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the next maintenance window. Keep false in prod."
  type        = bool
  default     = false
}

variable "ca_cert_identifier" {
  description = "CA of the server certificate clients verify (sslmode=verify-full)."
  type        = string
  default     = "rds-ca-rsa2048-g1"

  validation {
    condition     = can(regex("^rds-ca-", var.ca_cert_identifier))
    error_message = "ca_cert_identifier must be an RDS CA identifier such as rds-ca-rsa2048-g1."
  }
}

variable "log_min_duration_statement_ms" {
  description = "Log statements that run longer than this many milliseconds (-1 turns it off)."
  type        = number
  default     = 1000

  validation {
    condition     = var.log_min_duration_statement_ms >= -1 && floor(var.log_min_duration_statement_ms) == var.log_min_duration_statement_ms
    error_message = "log_min_duration_statement_ms must be -1 or a whole number of milliseconds."
  }
}

variable "additional_parameters" {
  description = "Extra parameters for the DB parameter group. apply_method is \"immediate\" (dynamic parameters) or \"pending-reboot\" (static ones)."
  type = list(object({
    name         = string
    value        = string
    apply_method = optional(string, "immediate")
  }))
  default = []

  validation {
    condition     = alltrue([for p in var.additional_parameters : contains(["immediate", "pending-reboot"], p.apply_method)])
    error_message = "apply_method must be \"immediate\" or \"pending-reboot\"."
  }

  validation {
    condition     = alltrue([for p in var.additional_parameters : p.name != "rds.force_ssl"])
    error_message = "rds.force_ssl is always 1 in this module and cannot be overridden."
  }
}

variable "log_retention_days" {
  description = "Retention in days of the CloudWatch log groups the PostgreSQL and upgrade logs are exported to."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the CloudWatch Logs retention values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before the database KMS key is deleted after destroy (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}
