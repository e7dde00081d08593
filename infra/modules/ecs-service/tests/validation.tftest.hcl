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

  mock_data "aws_region" {
    defaults = {
      region = "eu-west-1"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    }
  }

  mock_resource "aws_appautoscaling_policy" {
    defaults = {
      arn = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:00000000-0000-0000-0000-000000000000:resource/ecs/service/oneshot-dev/oneshot-dev-worker:policyName/scale"
    }
  }
}

variables {
  name               = "oneshot-dev"
  environment        = "dev"
  cluster_arn        = "arn:aws:ecs:eu-west-1:123456789012:cluster/oneshot-dev"
  cluster_name       = "oneshot-dev"
  execution_role_arn = "arn:aws:iam::123456789012:role/oneshot-dev-api-execution"
  task_role_arn      = "arn:aws:iam::123456789012:role/oneshot-dev-api-task"
  subnet_ids         = ["subnet-aaaa", "subnet-bbbb"]
  security_group_ids = ["sg-1111"]
  image              = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot:1.0.0"
  cpu                = 512
  memory             = 1024
  log_kms_key_arn    = "arn:aws:kms:eu-west-1:123456789012:key/22222222-2222-2222-2222-222222222222"
}

run "rejects_bad_fargate_combination" {
  command = plan

  variables {
    kind   = "worker"
    cpu    = 256
    memory = 4096
  }

  expect_failures = [var.memory]
}

run "rejects_memory_off_the_step" {
  command = plan

  variables {
    kind   = "worker"
    cpu    = 8192
    memory = 18432
  }

  expect_failures = [var.memory]
}

run "accepts_largest_combination" {
  command = plan

  variables {
    kind   = "worker"
    cpu    = 16384
    memory = 122880
  }
}

run "rejects_bad_cpu" {
  command = plan

  variables {
    kind   = "worker"
    cpu    = 300
    memory = 1024
  }

  expect_failures = [var.cpu]
}

run "rejects_small_ephemeral_storage" {
  command = plan

  variables {
    kind                  = "worker"
    ephemeral_storage_gib = 20
  }

  expect_failures = [var.ephemeral_storage_gib]
}

run "rejects_large_ephemeral_storage" {
  command = plan

  variables {
    kind                  = "worker"
    ephemeral_storage_gib = 201
  }

  expect_failures = [var.ephemeral_storage_gib]
}

run "rejects_bad_retention" {
  command = plan

  variables {
    kind               = "worker"
    log_retention_days = 45
  }

  expect_failures = [var.log_retention_days]
}

run "rejects_unknown_kind" {
  command = plan

  variables {
    kind = "scheduler"
  }

  expect_failures = [var.kind]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    kind        = "worker"
    environment = "production"
  }

  expect_failures = [var.environment]
}

run "rejects_api_without_target_group" {
  command = plan

  variables {
    kind = "api"
  }

  expect_failures = [var.target_group_arn]
}

run "rejects_blue_green_on_worker" {
  command = plan

  variables {
    kind = "worker"
    blue_green = {
      alternate_target_group_arn   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-dev-green/fedcba9876543210"
      production_listener_rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/oneshot-dev/1234/5678/9abc"
      role_arn                     = "arn:aws:iam::123456789012:role/oneshot-dev-api-blue-green"
    }
  }

  expect_failures = [var.blue_green]
}

run "rejects_code_deploy_on_worker" {
  command = plan

  variables {
    kind                  = "worker"
    deployment_controller = "CODE_DEPLOY"
  }

  expect_failures = [var.deployment_controller]
}

run "rejects_plaintext_secret" {
  command = plan

  variables {
    kind    = "worker"
    secrets = { OPENAI_API_KEY = "sk-not-an-arn" }
  }

  expect_failures = [var.secrets]
}

run "rejects_variable_both_plain_and_secret" {
  command = plan

  variables {
    kind                  = "worker"
    environment_variables = { OPENAI_API_KEY = "x" }
    secrets               = { OPENAI_API_KEY = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oneshot/dev/openai-api-key-AbCdEf" }
  }

  expect_failures = [var.secrets]
}

run "rejects_unknown_architecture" {
  command = plan

  variables {
    kind             = "worker"
    cpu_architecture = "arm64"
  }

  expect_failures = [var.cpu_architecture]
}

run "rejects_worker_without_subnets" {
  command = plan

  variables {
    kind       = "worker"
    subnet_ids = []
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_bad_schedule" {
  command = plan

  variables {
    kind = "worker"
    off_hours_schedule = {
      scale_down = "0 20 * * 1-5"
      scale_up   = "0 7 * * 1-5"
    }
  }

  expect_failures = [var.off_hours_schedule]
}

run "rejects_max_below_min" {
  command = plan

  variables {
    kind         = "worker"
    min_capacity = 3
    max_capacity = 2
  }

  expect_failures = [var.max_capacity]
}

run "rejects_privileged_port" {
  command = plan

  variables {
    kind           = "worker"
    container_port = 80
  }

  expect_failures = [var.container_port]
}

run "rejects_both_key_and_created_key" {
  command = plan

  variables {
    kind               = "worker"
    create_log_kms_key = true
  }

  expect_failures = [var.create_log_kms_key]
}

run "rejects_no_log_key" {
  command = plan

  variables {
    kind            = "worker"
    log_kms_key_arn = null
  }

  expect_failures = [var.create_log_kms_key]
}
