mock_provider "aws" {
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

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/55555555-5555-5555-5555-555555555555"
    }
  }

  mock_resource "aws_ssm_parameter" {
    defaults = {
      arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/oneshot/dev/mock"
    }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oneshot/dev/mock-AbCdEf"
    }
  }
}

variables {
  name          = "oneshot-dev"
  environment   = "dev"
  profiles_yaml = "profiles:\n  default:\n    executor: claude\n"
}

run "dev_defaults" {
  command = apply

  assert {
    condition     = aws_ssm_parameter.this["profiles"].name == "/oneshot/dev/profiles"
    error_message = "profiles parameter under /oneshot/<env>/"
  }

  assert {
    condition     = aws_ssm_parameter.this["profiles"].type == "SecureString" && aws_ssm_parameter.this["profiles"].key_id == aws_kms_key.this.arn
    error_message = "profiles is a SecureString with the module's key"
  }

  assert {
    condition     = aws_ssm_parameter.this["max_iterations_cap"].name == "/oneshot/dev/max_iterations_cap" && aws_ssm_parameter.this["max_iterations_cap"].type == "String" && nonsensitive(aws_ssm_parameter.this["max_iterations_cap"].value) == "10"
    error_message = "max_iterations_cap is a plain String parameter"
  }

  assert {
    condition     = toset(keys(aws_secretsmanager_secret.this)) == toset(["bootstrap-token", "openai-api-key", "anthropic-api-key"])
    error_message = "one secret for the bootstrap token and one per LLM key"
  }

  assert {
    condition     = aws_secretsmanager_secret.this["openai-api-key"].name == "oneshot/dev/openai-api-key"
    error_message = "secrets are named oneshot/<env>/<name>"
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.kms_key_id == aws_kms_key.this.arn])
    error_message = "secrets are encrypted with the module's CMK"
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.recovery_window_in_days == 7])
    error_message = "dev secrets have a 7-day recovery window"
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "the config key rotates"
  }

  assert {
    condition     = toset(keys(output.container_secrets)) == toset(["ONESHOT_BOOTSTRAP_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ONESHOT_CONFIG_YAML"])
    error_message = "container_secrets maps environment variable names to ARNs"
  }
}

run "prod_recovery_window_and_extra_parameters" {
  command = plan

  variables {
    environment  = "prod"
    name         = "oneshot-prod"
    secret_names = ["openai-api-key", "anthropic-api-key", "gemini-api-key"]
    parameters = {
      default_profile = { value = "default" }
      webhook_token   = { value = "not-really-secret", secure = true }
    }
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.recovery_window_in_days == 30])
    error_message = "prod secrets have a 30-day recovery window"
  }

  assert {
    condition     = aws_ssm_parameter.this["default_profile"].name == "/oneshot/prod/default_profile" && aws_ssm_parameter.this["default_profile"].type == "String"
    error_message = "extra parameters are plain Strings by default"
  }

  assert {
    condition     = aws_ssm_parameter.this["webhook_token"].type == "SecureString"
    error_message = "extra parameters can be SecureStrings"
  }

  assert {
    condition     = contains(keys(aws_secretsmanager_secret.this), "gemini-api-key")
    error_message = "the list of LLM keys is a variable"
  }
}

run "large_profiles_use_advanced_tier" {
  command = plan

  variables {
    profiles_yaml   = join("", [for i in range(500) : "# padding\n"])
    profiles_secure = false
  }

  assert {
    condition     = aws_ssm_parameter.this["profiles"].tier == "Advanced" && aws_ssm_parameter.this["profiles"].type == "String"
    error_message = "profiles over 4 KiB need the advanced tier"
  }
}

run "rejects_short_recovery_window" {
  command = plan

  variables {
    recovery_window_in_days = 3
  }

  expect_failures = [var.recovery_window_in_days]
}

run "rejects_duplicate_bootstrap_secret" {
  command = plan

  variables {
    secret_names = ["bootstrap-token"]
  }

  expect_failures = [var.secret_names]
}

run "rejects_bad_secret_name" {
  command = plan

  variables {
    secret_names = ["OpenAI_Key"]
  }

  expect_failures = [var.secret_names]
}

run "rejects_empty_profiles" {
  command = plan

  variables {
    profiles_yaml = "   "
  }

  expect_failures = [var.profiles_yaml]
}

run "rejects_reserved_parameter_key" {
  command = plan

  variables {
    parameters = { profiles = { value = "x" } }
  }

  expect_failures = [var.parameters]
}

run "rejects_bad_iteration_cap" {
  command = plan

  variables {
    max_iterations_cap = 0
  }

  expect_failures = [var.max_iterations_cap]
}
