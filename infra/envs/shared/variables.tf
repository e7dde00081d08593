# The settings of this environment are in terraform.tfvars. Most variables are handed to
# the stack module unchanged, which types, validates and documents them; they are `any`
# here so that the three environment roots stay short and cannot drift from the module.

variable "environment" {
  description = "Environment of this root: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of: dev, staging, prod."
  }
}

variable "region" {
  description = "AWS region of the environment (the state bucket's region too)."
  type        = string
}

variable "allowed_account_ids" {
  description = "The AWS account this environment lives in: the provider refuses to run against any other."
  type        = list(string)

  validation {
    condition     = length(var.allowed_account_ids) > 0 && alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must list 12-digit AWS account IDs: replace the ACCOUNT_ID placeholder in terraform.tfvars."
  }
}

variable "owner" {
  description = "Value of the owner tag on every resource: who answers for this environment's resources and costs."
  type        = string
}

variable "domain" {
  description = "Host name of the API and its certificate (name, route53_zone_id or certificate_arn). See the stack module's variable of the same name (infra/modules/stack/variables.tf)."
  type        = any
}

variable "network" {
  description = "VPC shape (vpc_cidr, az_count, single_nat_gateway, enable_interface_endpoints). See the stack module's variable of the same name (infra/modules/stack/variables.tf)."
  type        = any
  default     = {}
}

variable "database" {
  description = "RDS PostgreSQL settings. See the stack module's variable of the same name (infra/modules/stack/variables.tf)."
  type        = any
  default     = {}
}

variable "services" {
  description = "Sizes and scaling of api, worker and migrate. See the stack module's variable of the same name (infra/modules/stack/variables.tf)."
  type        = any
  default     = {}
}

variable "app_config" {
  description = "Profiles file, iteration cap and LLM key secrets. See the stack module's variable of the same name (infra/modules/stack/variables.tf)."
  type        = any
}

variable "budget" {
  description = "Monthly budget of the environment. See the stack module's variable of the same name (infra/modules/stack/variables.tf)."
  type        = any
}

variable "pipeline" {
  description = "The delivery pipeline of the environment. See the stack module's variable of the same name (infra/modules/stack/variables.tf)."
  type        = any
  default     = {}
}

variable "allowed_ingress_cidrs" {
  description = "IPv4 CIDRs that may reach the API."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "test_listener_cidrs" {
  description = "Extra IPv4 CIDRs that may reach the blue/green test listener (the NAT addresses always may)."
  type        = list(string)
  default     = []
}

variable "off_hours_schedule" {
  description = "Scale api and worker to zero outside working hours (scale_down, scale_up, timezone); null keeps them up."
  type        = any
  default     = null
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the api and worker tasks."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the environment's log groups, in days."
  type        = number
  default     = 30
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic."
  type        = list(string)
  default     = []
}

variable "owns_shared_resources" {
  description = "This root creates the ECR repositories and the release bucket the environments of the account share (exactly one root per account)."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Let terraform destroy remove the environment in one go (dev only)."
  type        = bool
  default     = false
}

variable "image_tag" {
  description = "Tag of the image the first task definition revisions run (the pipeline deploys by digest afterwards)."
  type        = string
  default     = "bootstrap"
}

variable "image_digest" {
  description = "Digest (sha256:...) of that image; wins over image_tag. Null: use the tag."
  type        = string
  default     = null
}
