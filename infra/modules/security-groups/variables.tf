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
  description = "ID of the VPC the security groups belong to (network module output vpc_id)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "app_port" {
  description = "Port the API container listens on; the ALB reaches the API tasks (traffic and health checks) on it."
  type        = number
  default     = 8080

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535 && floor(var.app_port) == var.app_port
    error_message = "app_port must be a whole number between 1024 and 65535 (the containers run as non-root)."
  }
}

variable "database_port" {
  description = "Port PostgreSQL listens on."
  type        = number
  default     = 5432

  validation {
    condition     = var.database_port >= 1024 && var.database_port <= 65535 && floor(var.database_port) == var.database_port
    error_message = "database_port must be a whole number between 1024 and 65535."
  }
}

variable "allowed_ingress_cidrs" {
  description = "IPv4 CIDRs allowed to reach the ALB on 80 and 443. The default is the whole internet; restrict it for an internal or pre-launch environment."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.allowed_ingress_cidrs) > 0
    error_message = "allowed_ingress_cidrs must list at least one CIDR; an ALB nobody can reach is a configuration mistake."
  }

  validation {
    condition     = alltrue([for c in var.allowed_ingress_cidrs : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "allowed_ingress_cidrs must be IPv4 CIDRs such as 203.0.113.0/24."
  }

  validation {
    condition     = length(distinct(var.allowed_ingress_cidrs)) == length(var.allowed_ingress_cidrs)
    error_message = "allowed_ingress_cidrs must not contain duplicates."
  }
}
