data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # Every resource carries its environment, whatever the provider's default_tags say.
  tags = merge({ Environment = var.environment }, var.tags)

  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  identifier    = "${var.name}-postgres"
  major_version = split(".", var.engine_version)[0]
  family        = "postgres${local.major_version}"

  # Environment-driven defaults; an explicit true/false always wins.
  multi_az                     = coalesce(var.multi_az, var.environment == "prod")
  deletion_protection          = coalesce(var.deletion_protection, var.environment != "dev")
  performance_insights_enabled = coalesce(var.performance_insights_enabled, var.environment == "prod")

  # A protected database is worth a final snapshot; an unprotected one (dev) is disposable.
  skip_final_snapshot = !local.deletion_protection

  log_exports = ["postgresql", "upgrade"]

  parameters = concat(
    [
      # Refuse every connection that is not TLS. Kept as pending-reboot so it is accepted whether
      # the engine treats it as static or dynamic.
      { name = "rds.force_ssl", value = "1", apply_method = "pending-reboot" },
      { name = "ssl_min_protocol_version", value = "TLSv1.2", apply_method = "pending-reboot" },
      { name = "log_min_duration_statement", value = tostring(var.log_min_duration_statement_ms), apply_method = "immediate" },
      { name = "log_connections", value = "1", apply_method = "immediate" },
      { name = "log_disconnections", value = "1", apply_method = "immediate" },
      { name = "log_lock_waits", value = "1", apply_method = "immediate" },
      { name = "log_statement", value = "ddl", apply_method = "immediate" },
      { name = "log_temp_files", value = "10240", apply_method = "immediate" }, # kB
      { name = "log_autovacuum_min_duration", value = "10000", apply_method = "immediate" },
    ],
    var.additional_parameters,
  )
}

# --- KMS key: storage, master user secret, Performance Insights, exported logs -----------------

resource "aws_kms_key" "this" {
  description             = "${var.name}: encrypts the PostgreSQL instance, its master user secret, Performance Insights and its logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Administration only (no encrypt/decrypt): keeps the key manageable by this account's
        # administrators without letting them use it directly. In a key policy, "Resource": "*"
        # means this key only.
        Sid       = "KeyAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "kms:Create*",
          "kms:Describe*",
          "kms:Enable*",
          "kms:List*",
          "kms:Put*",
          "kms:Update*",
          "kms:Revoke*",
          "kms:Disable*",
          "kms:Get*",
          "kms:Delete*",
          "kms:TagResource",
          "kms:UntagResource",
          "kms:ScheduleKeyDeletion",
          "kms:CancelKeyDeletion",
          "kms:RotateKeyOnDemand",
        ]
        Resource = "*"
      },
      {
        # Principals of this account that IAM also allows may use the key, but only through RDS
        # (storage, snapshots, Performance Insights) and Secrets Manager (the master user
        # secret the app reads).
        Sid       = "UseOnlyThroughRdsAndSecretsManager"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:DescribeKey",
          "kms:CreateGrant",
          "kms:ListGrants",
        ]
        Resource = "*"
        Condition = {
          StringEquals = {
            "kms:CallerAccount" = local.account_id
            "kms:ViaService" = [
              "rds.${local.region}.amazonaws.com",
              "secretsmanager.${local.region}.amazonaws.com",
            ]
          }
        }
      },
      {
        Sid       = "CloudWatchLogsForThisInstanceOnly"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/rds/instance/${local.identifier}/*"
          }
        }
      },
    ]
  })

  tags = merge(local.tags, { Name = local.identifier })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.identifier}"
  target_key_id = aws_kms_key.this.key_id
}

# --- Networking and parameters -----------------------------------------------------------------

resource "aws_db_subnet_group" "this" {
  name        = local.identifier
  description = "Private database subnets of ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = merge(local.tags, { Name = local.identifier })
}

resource "aws_db_parameter_group" "this" {
  # A major version upgrade needs a group of the new family: name_prefix and
  # create_before_destroy let Terraform create it before the old one goes.
  name_prefix = "${local.identifier}-${local.family}-"
  family      = local.family
  description = "PostgreSQL ${local.major_version} parameters of ${var.name}: TLS only, statement and connection logging"

  dynamic "parameter" {
    for_each = local.parameters

    content {
      name         = parameter.value.name
      value        = parameter.value.value
      apply_method = parameter.value.apply_method
    }
  }

  tags = merge(local.tags, { Name = local.identifier })

  lifecycle {
    create_before_destroy = true
  }
}

# --- Logs: created here so they are KMS-encrypted and have a retention (RDS would create them
# unencrypted and kept forever).

resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(local.log_exports)

  name              = "/aws/rds/instance/${local.identifier}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = merge(local.tags, { Name = "${local.identifier}-${each.key}" })
}

# --- Enhanced Monitoring (optional) ------------------------------------------------------------

resource "aws_iam_role" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  name        = "${var.name}-rds-monitoring"
  description = "Lets RDS Enhanced Monitoring publish OS metrics of ${local.identifier}"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })

  tags = merge(local.tags, { Name = "${var.name}-rds-monitoring" })
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# --- The instance --------------------------------------------------------------------------------

resource "aws_db_instance" "this" {
  identifier     = local.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = var.db_name
  port           = var.port

  # RDS generates the master password, stores it in Secrets Manager encrypted with this module's
  # key and rotates it; it never appears in Terraform state.
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.this.arn

  storage_type          = "gp3"
  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  publicly_accessible    = false
  network_type           = "IPV4"
  ca_cert_identifier     = var.ca_cert_identifier
  parameter_group_name   = aws_db_parameter_group.this.name

  multi_az                  = local.multi_az
  deletion_protection       = local.deletion_protection
  skip_final_snapshot       = local.skip_final_snapshot
  final_snapshot_identifier = local.skip_final_snapshot ? null : "${local.identifier}-final"
  delete_automated_backups  = false

  backup_retention_period = var.backup_retention_period
  backup_window           = var.backup_window
  maintenance_window      = var.maintenance_window
  copy_tags_to_snapshot   = true

  auto_minor_version_upgrade  = var.auto_minor_version_upgrade
  allow_major_version_upgrade = false
  apply_immediately           = var.apply_immediately

  iam_database_authentication_enabled = var.iam_database_authentication_enabled

  enabled_cloudwatch_logs_exports = local.log_exports

  performance_insights_enabled          = local.performance_insights_enabled
  performance_insights_kms_key_id       = local.performance_insights_enabled ? aws_kms_key.this.arn : null
  performance_insights_retention_period = local.performance_insights_enabled ? var.performance_insights_retention_period : null

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = var.monitoring_interval > 0 ? aws_iam_role.monitoring[0].arn : null

  tags = merge(local.tags, { Name = local.identifier })

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy_attachment.monitoring,
  ]
}
