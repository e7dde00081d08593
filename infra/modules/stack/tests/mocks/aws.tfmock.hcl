# Values for the mocked AWS provider in the stack's tests and in the environment roots'
# tests (mock_provider "aws" { source = ".../stack/tests/mocks" }). Terraform makes up
# random strings for computed attributes; the modules validate the IDs and ARNs they are
# given, so every type whose ID or ARN crosses a module boundary gets a well-formed one
# here. Every instance of a type gets the same value.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/test"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition  = "aws"
    dns_suffix = "amazonaws.com"
  }
}

mock_data "aws_region" {
  defaults = {
    region = "eu-west-1"
    name   = "eu-west-1"
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    zone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]
  }
}

mock_resource "aws_vpc" {
  defaults = {
    id = "vpc-0123456789abcdef0"
  }
}

mock_resource "aws_subnet" {
  defaults = {
    id = "subnet-0123456789abcdef0"
  }
}

mock_resource "aws_security_group" {
  defaults = {
    id  = "sg-0123456789abcdef0"
    arn = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0123456789abcdef0"
  }
}

mock_resource "aws_eip" {
  defaults = {
    public_ip = "198.51.100.10"
  }
}

mock_resource "aws_kms_key" {
  defaults = {
    arn    = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    key_id = "11111111-2222-3333-4444-555555555555"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/oneshot-test-role"
  }
}

mock_resource "aws_ecs_cluster" {
  defaults = {
    arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/oneshot-test"
  }
}

mock_resource "aws_ecs_task_definition" {
  defaults = {
    arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/oneshot-test:1"
  }
}

mock_resource "aws_ecs_service" {
  defaults = {
    id = "arn:aws:ecs:eu-west-1:123456789012:service/oneshot-test/oneshot-test"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/oneshot-test"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oneshot/test/secret-AbCdEf"
  }
}

mock_resource "aws_ssm_parameter" {
  defaults = {
    arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/oneshot/test/parameter"
  }
}

mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/oneshot"
    repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot"
    registry_id    = "123456789012"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::oneshot-test-bucket"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/oneshot-test/0123456789abcdef"
    arn_suffix = "app/oneshot-test/0123456789abcdef"
    dns_name   = "oneshot-test-1234567890.eu-west-1.elb.amazonaws.com"
    zone_id    = "Z32O12XQLNTSW2"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/oneshot-test/0123456789abcdef"
    arn_suffix = "targetgroup/oneshot-test/0123456789abcdef"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:123456789012:oneshot-test-alarms"
  }
}

mock_resource "aws_acm_certificate" {
  defaults = {
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  }
}

mock_resource "aws_db_instance" {
  defaults = {
    address = "oneshot-test-postgres.abcdefghijkl.eu-west-1.rds.amazonaws.com"
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf"
      kms_key_id    = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      secret_status = "active"
    }]
  }
}
