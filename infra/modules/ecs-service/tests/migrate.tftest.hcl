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

run "migrate" {
  command = apply

  variables {
    kind               = "migrate"
    subnet_ids         = []
    security_group_ids = []
  }

  assert {
    condition     = length(aws_ecs_service.this) == 0 && length(aws_appautoscaling_target.this) == 0
    error_message = "migrate is a task definition only"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["migrate"]
    error_message = "migrate default command"
  }

  assert {
    condition     = !contains(keys(jsondecode(aws_ecs_task_definition.this.container_definitions)[0]), "healthCheck")
    error_message = "migrate has no health check"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem
    error_message = "migrate also runs with a read-only root"
  }

  assert {
    condition     = output.service_arn == null && output.service_name == null && length(output.scaling_policy_arns) == 0
    error_message = "migrate outputs no service"
  }

  assert {
    condition     = output.task_definition_family == "oneshot-dev-migrate"
    error_message = "migrate family"
  }
}

run "migrate_network_configuration_for_the_pipeline" {
  command = plan

  variables {
    kind = "migrate"
  }

  assert {
    condition     = output.network_configuration.subnets == tolist(["subnet-aaaa", "subnet-bbbb"]) && output.network_configuration.security_groups == tolist(["sg-1111"]) && output.network_configuration.assign_public_ip == false
    error_message = "the pipeline gets the network settings to run the migrate task"
  }
}
