data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  parameter_prefix = "/oneshot/${var.environment}"
  secret_prefix    = "oneshot/${var.environment}"

  recovery_window_in_days = coalesce(var.recovery_window_in_days, var.environment == "prod" ? 30 : 7)

  parameters = merge(
    {
      for k, p in var.parameters : k => {
        value       = p.value
        secure      = p.secure
        description = p.description != "" ? p.description : "Oneshot ${var.environment} setting ${k}"
      }
    },
    {
      profiles = {
        value       = var.profiles_yaml
        secure      = var.profiles_secure
        description = "Oneshot ${var.environment} profiles file (YAML), given to containers as ONESHOT_CONFIG_YAML"
      }
      max_iterations_cap = {
        value       = tostring(var.max_iterations_cap)
        secure      = false
        description = "Oneshot ${var.environment}: upper bound on the iterations a task may request"
      }
    },
  )

  secret_names = concat(["bootstrap-token"], var.secret_names)

  # Environment variable each secret is offered as to the containers.
  secret_env_names = {
    for n in local.secret_names : n => n == "bootstrap-token" ? "ONESHOT_BOOTSTRAP_TOKEN" : upper(replace(n, "-", "_"))
  }

  tags = merge(var.tags, { service = "config" })
}

# One customer managed key for the environment's configuration: the
# SecureString parameters and the Secrets Manager secrets.
resource "aws_kms_key" "this" {
  description             = "${var.name} configuration: SSM SecureString parameters and Secrets Manager secrets"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = local.tags

  # The account administers the key, and IAM policies (the execution roles'
  # kms:Decrypt) grant its use. "Resource": "*" in a key policy means this key.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-config"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_ssm_parameter" "this" {
  for_each = local.parameters

  name        = "${local.parameter_prefix}/${each.key}"
  description = each.value.description
  type        = each.value.secure ? "SecureString" : "String"
  key_id      = each.value.secure ? aws_kms_key.this.arn : null
  value       = each.value.value
  tier        = length(each.value.value) > 4096 ? "Advanced" : "Standard"
  tags        = local.tags
}

# Secret containers only: Terraform never sees the values, so they are not in
# state. Operators set them with `aws secretsmanager put-secret-value`.
resource "aws_secretsmanager_secret" "this" {
  for_each = toset(local.secret_names)

  name                    = "${local.secret_prefix}/${each.key}"
  description             = "Oneshot ${var.environment} ${each.key}; value set outside Terraform, injected as ${local.secret_env_names[each.key]}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = local.recovery_window_in_days
  tags                    = local.tags
}
