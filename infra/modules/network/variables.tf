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

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, a /16 to /18. Every subnet is carved from it with cidrsubnet (see README for the layout)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0)) &&
      !strcontains(var.vpc_cidr, ":") &&
      try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 18, false)
    )
    error_message = "vpc_cidr must be a valid IPv4 CIDR with a prefix length between /16 and /18 (smaller VPCs leave public subnets too small for an ALB)."
  }

  validation {
    condition     = try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false)
    error_message = "vpc_cidr must be a network address (host bits zero), e.g. 10.0.0.0/16 rather than 10.0.1.0/16."
  }
}

variable "azs" {
  description = "Availability zone names to use, e.g. [\"eu-west-1a\", \"eu-west-1b\"]. Empty (default) picks the first az_count available zones of the region."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.azs) == 0 || (length(var.azs) >= 2 && length(var.azs) <= 6)
    error_message = "azs must be empty (use az_count) or list 2 to 6 availability zones."
  }

  validation {
    condition     = length(distinct(var.azs)) == length(var.azs)
    error_message = "azs must not contain duplicates."
  }
}

variable "az_count" {
  description = "How many availability zones to spread over when azs is empty: 2 for dev/staging, 3 for prod."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number between 2 and 6."
  }
}

variable "single_nat_gateway" {
  description = "true: one NAT gateway shared by all private app subnets (cheaper, one AZ is a single point of failure for egress). false: one NAT gateway per AZ (prod)."
  type        = bool
  default     = true
}

variable "enable_s3_gateway_endpoint" {
  description = "Create the S3 gateway endpoint (free; keeps ECR layer downloads and S3 traffic off the NAT gateways)."
  type        = bool
  default     = true
}

variable "enable_interface_endpoints" {
  description = "Create interface endpoints (see interface_endpoint_services) in the private app subnets. Each costs per AZ-hour, so dev may switch them off and go through NAT instead."
  type        = bool
  default     = true
}

variable "interface_endpoint_services" {
  description = "Short AWS service names that get an interface endpoint when enable_interface_endpoints is true."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm"]

  validation {
    condition     = alltrue([for s in var.interface_endpoint_services : can(regex("^[a-z0-9][a-z0-9.-]*[a-z0-9]$", s)) && !startswith(s, "com.amazonaws.")])
    error_message = "interface_endpoint_services must hold short service names such as \"ecr.api\" or \"logs\" (not full com.amazonaws.* names)."
  }

  validation {
    condition     = length(distinct(var.interface_endpoint_services)) == length(var.interface_endpoint_services)
    error_message = "interface_endpoint_services must not contain duplicates."
  }
}

variable "flow_log_retention_days" {
  description = "Retention in days of the VPC flow log group. Must be a value CloudWatch Logs accepts."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of the CloudWatch Logs retention values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "flow_log_traffic_type" {
  description = "Which traffic the flow log records: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "flow_log_kms_key_arn" {
  description = "ARN of an existing KMS key for the flow log group. Null (default) creates a dedicated key with rotation in this module. An existing key's policy must let logs.<region>.amazonaws.com use it for this log group."
  type        = string
  default     = null

  validation {
    condition     = var.flow_log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.flow_log_kms_key_arn))
    error_message = "flow_log_kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before a KMS key created here is deleted after destroy (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}
