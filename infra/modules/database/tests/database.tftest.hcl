mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      region = "eu-west-1"
      name   = "eu-west-1"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
}

variables {
  name              = "oneshot-dev"
  environment       = "dev"
  subnet_ids        = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  security_group_id = "sg-0123456789abcdef0"
}

run "prod_like_inputs_get_multi_az_and_deletion_protection" {
  command = plan

  variables {
    name                    = "oneshot-prod"
    environment             = "prod"
    backup_retention_period = 14
    instance_class          = "db.m7g.large"
  }

  assert {
    condition     = aws_db_instance.this.multi_az == true
    error_message = "prod must run Multi-AZ"
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection == true
    error_message = "prod must have deletion protection"
  }

  assert {
    condition     = aws_db_instance.this.skip_final_snapshot == false && aws_db_instance.this.final_snapshot_identifier == "oneshot-prod-postgres-final"
    error_message = "a protected database must take a named final snapshot"
  }

  assert {
    condition     = aws_db_instance.this.performance_insights_enabled == true && aws_db_instance.this.performance_insights_retention_period == 7
    error_message = "prod must have Performance Insights"
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 14
    error_message = "backup_retention_period must reach the instance"
  }
}

run "dev_defaults_are_cheap_and_disposable" {
  command = plan

  assert {
    condition     = aws_db_instance.this.multi_az == false && aws_db_instance.this.deletion_protection == false
    error_message = "dev defaults to single-AZ without deletion protection"
  }

  assert {
    condition     = aws_db_instance.this.skip_final_snapshot == true && aws_db_instance.this.final_snapshot_identifier == null
    error_message = "an unprotected database skips the final snapshot"
  }

  assert {
    condition     = aws_db_instance.this.performance_insights_enabled == false && aws_db_instance.this.performance_insights_kms_key_id == null
    error_message = "dev defaults to no Performance Insights"
  }
}

run "staging_keeps_deletion_protection" {
  command = plan

  variables {
    name        = "oneshot-staging"
    environment = "staging"
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection == true && aws_db_instance.this.multi_az == false
    error_message = "staging defaults to deletion protection without Multi-AZ"
  }
}

run "explicit_choices_override_environment_defaults" {
  command = plan

  variables {
    environment                  = "dev"
    multi_az                     = true
    deletion_protection          = true
    performance_insights_enabled = true
  }

  assert {
    condition     = aws_db_instance.this.multi_az && aws_db_instance.this.deletion_protection && aws_db_instance.this.performance_insights_enabled
    error_message = "explicit true must win over the dev defaults"
  }
}

run "private_encrypted_managed_secret" {
  command = apply

  variables {
    name                                = "oneshot-prod"
    environment                         = "prod"
    iam_database_authentication_enabled = true
  }

  assert {
    condition     = aws_db_instance.this.publicly_accessible == false
    error_message = "the database must not be publicly accessible"
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.kms_key_id == aws_kms_key.this.arn
    error_message = "storage must be encrypted with the module's CMK"
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "the CMK must rotate"
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.master_user_secret_kms_key_id == aws_kms_key.this.arn
    error_message = "RDS must manage the master password in a secret encrypted with the CMK"
  }

  assert {
    condition     = aws_db_instance.this.performance_insights_kms_key_id == aws_kms_key.this.arn
    error_message = "Performance Insights must use the CMK"
  }

  assert {
    condition     = aws_db_instance.this.db_subnet_group_name == aws_db_subnet_group.this.name && aws_db_subnet_group.this.subnet_ids == toset(var.subnet_ids)
    error_message = "the instance must live in the given private subnets"
  }

  assert {
    condition     = aws_db_instance.this.vpc_security_group_ids == toset(["sg-0123456789abcdef0"])
    error_message = "the instance must use only the given security group"
  }

  assert {
    condition     = aws_db_instance.this.iam_database_authentication_enabled
    error_message = "IAM database authentication must follow its variable"
  }

  assert {
    condition = (
      aws_db_instance.this.copy_tags_to_snapshot &&
      aws_db_instance.this.auto_minor_version_upgrade &&
      aws_db_instance.this.storage_type == "gp3" &&
      aws_db_instance.this.max_allocated_storage == 100
    )
    error_message = "snapshots copy tags, minor upgrades are automatic, storage autoscales on gp3"
  }

  assert {
    condition     = aws_db_instance.this.enabled_cloudwatch_logs_exports == toset(["postgresql", "upgrade"])
    error_message = "postgresql and upgrade logs must be exported"
  }

  assert {
    condition = alltrue([
      for g in aws_cloudwatch_log_group.this : g.kms_key_id == aws_kms_key.this.arn && startswith(g.name, "/aws/rds/instance/oneshot-prod-postgres/")
    ])
    error_message = "the export log groups must be created here, KMS-encrypted, with RDS's naming"
  }
}

run "key_policy_least_privilege" {
  command = apply

  assert {
    condition = alltrue([
      for s in jsondecode(aws_kms_key.this.policy).Statement :
      length(setintersection(toset(flatten([s.Action])), toset(["kms:Decrypt", "kms:*"]))) == 0 || can(s.Condition)
    ])
    error_message = "every statement that allows decrypting must carry a condition (service or encryption context)"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_kms_key.this.policy).Statement :
      try(s.Condition.StringEquals["kms:ViaService"], []) == ["rds.eu-west-1.amazonaws.com", "secretsmanager.eu-west-1.amazonaws.com"]
    ])
    error_message = "account principals may use the key only through RDS and Secrets Manager"
  }
}

run "parameter_group_forces_tls_and_logs" {
  command = plan

  assert {
    condition     = aws_db_parameter_group.this.family == "postgres16"
    error_message = "engine_version 16 must use the postgres16 family"
  }

  assert {
    condition     = contains([for p in aws_db_parameter_group.this.parameter : "${p.name}=${p.value}"], "rds.force_ssl=1")
    error_message = "the parameter group must force TLS"
  }

  assert {
    condition = length(setsubtract(
      toset(["log_min_duration_statement=1000", "log_connections=1", "log_disconnections=1", "log_lock_waits=1"]),
      toset([for p in aws_db_parameter_group.this.parameter : "${p.name}=${p.value}"]),
    )) == 0
    error_message = "slow statements, connections and lock waits must be logged"
  }

  assert {
    condition     = aws_db_instance.this.engine == "postgres" && aws_db_instance.this.engine_version == "16"
    error_message = "the engine must be PostgreSQL 16 by default"
  }
}

run "family_follows_engine_version" {
  command = plan

  variables {
    engine_version = "17.2"
  }

  assert {
    condition     = aws_db_parameter_group.this.family == "postgres17"
    error_message = "engine_version 17.2 must use the postgres17 family"
  }
}

run "enhanced_monitoring_optional" {
  command = apply

  variables {
    monitoring_interval = 60
  }

  assert {
    condition     = length(aws_iam_role.monitoring) == 1 && aws_db_instance.this.monitoring_role_arn == aws_iam_role.monitoring[0].arn && aws_db_instance.this.monitoring_interval == 60
    error_message = "monitoring_interval > 0 must create and use a monitoring role"
  }

  assert {
    condition     = jsondecode(aws_iam_role.monitoring[0].assume_role_policy).Statement[0].Principal.Service == "monitoring.rds.amazonaws.com"
    error_message = "only RDS monitoring may assume the monitoring role"
  }
}

run "no_monitoring_role_by_default" {
  command = plan

  assert {
    condition     = length(aws_iam_role.monitoring) == 0 && aws_db_instance.this.monitoring_interval == 0
    error_message = "Enhanced Monitoring is off by default"
  }
}

run "rejects_retention_0" {
  command = plan

  variables {
    backup_retention_period = 0
  }

  expect_failures = [var.backup_retention_period]
}

run "rejects_retention_36" {
  command = plan

  variables {
    backup_retention_period = 36
  }

  expect_failures = [var.backup_retention_period]
}

run "rejects_old_engine" {
  command = plan

  variables {
    engine_version = "9.6"
  }

  expect_failures = [var.engine_version]
}

run "rejects_autoscaling_limit_below_storage" {
  command = plan

  variables {
    allocated_storage     = 100
    max_allocated_storage = 50
  }

  expect_failures = [var.max_allocated_storage]
}

run "rejects_reserved_master_username" {
  command = plan

  variables {
    master_username = "postgres"
  }

  expect_failures = [var.master_username]
}

run "rejects_force_ssl_override" {
  command = plan

  variables {
    additional_parameters = [{ name = "rds.force_ssl", value = "0" }]
  }

  expect_failures = [var.additional_parameters]
}

run "rejects_single_subnet" {
  command = plan

  variables {
    subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa"]
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_bad_monitoring_interval" {
  command = plan

  variables {
    monitoring_interval = 45
  }

  expect_failures = [var.monitoring_interval]
}
