mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      zone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]
    }
  }

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
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
}

variables {
  name        = "oneshot-dev"
  environment = "dev"
  tags        = { Project = "oneshot" }
}

run "dev_defaults_two_azs_one_nat" {
  command = apply

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private_app) == 2 && length(aws_subnet.private_db) == 2
    error_message = "dev must get two subnets of each tier"
  }

  assert {
    condition     = output.azs == tolist(["eu-west-1a", "eu-west-1b"])
    error_message = "with azs empty the first az_count available zones must be used"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(output.nat_gateway_ids) == 1
    error_message = "single_nat_gateway (the default) must create exactly one NAT gateway"
  }

  assert {
    condition     = alltrue([for r in aws_route.private_app_nat : r.nat_gateway_id == aws_nat_gateway.this[0].id])
    error_message = "with one NAT gateway every private app route table must route through it"
  }

  assert {
    condition     = length(aws_route_table.private_app) == 2
    error_message = "there must be one private app route table per AZ"
  }
}

run "prod_three_azs_nat_per_az" {
  command = apply

  variables {
    name               = "oneshot-prod"
    environment        = "prod"
    az_count           = 3
    single_nat_gateway = false
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_eip.nat) == 3
    error_message = "single_nat_gateway = false must create one NAT gateway (and EIP) per AZ"
  }

  assert {
    condition     = alltrue([for i, r in aws_route.private_app_nat : r.nat_gateway_id == aws_nat_gateway.this[i].id])
    error_message = "each private app route table must use the NAT gateway in its own AZ"
  }

  assert {
    condition     = [for n in aws_nat_gateway.this : n.subnet_id] == aws_subnet.public[*].id
    error_message = "NAT gateway i must sit in public subnet i"
  }

  assert {
    condition     = output.azs == tolist(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    error_message = "prod must spread over three AZs"
  }
}

run "subnet_layout_from_one_cidr" {
  command = plan

  variables {
    azs = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  }

  assert {
    condition     = aws_subnet.public[*].cidr_block == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    error_message = "public subnets must be the first /24s of the VPC"
  }

  assert {
    condition     = aws_subnet.private_db[*].cidr_block == ["10.0.8.0/24", "10.0.9.0/24", "10.0.10.0/24"]
    error_message = "database subnets must be /24s starting at block 8"
  }

  assert {
    condition     = aws_subnet.private_app[*].cidr_block == ["10.0.16.0/20", "10.0.32.0/20", "10.0.48.0/20"]
    error_message = "private app subnets must be /20s starting after the first /20"
  }

  assert {
    condition     = aws_subnet.private_app[*].availability_zone == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    error_message = "explicit azs must be used in order"
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.map_public_ip_on_launch == false])
    error_message = "public subnets must not hand out public IPs automatically"
  }

  assert {
    condition     = aws_vpc.this.enable_dns_hostnames && aws_vpc.this.enable_dns_support
    error_message = "DNS support and hostnames are needed for private DNS of interface endpoints"
  }
}

run "interface_endpoints_on_by_default" {
  command = apply

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm"])
    error_message = "interface endpoints for ECR (api, dkr), logs, Secrets Manager and SSM must exist by default"
  }

  assert {
    condition     = aws_vpc_endpoint.interface["ecr.dkr"].service_name == "com.amazonaws.eu-west-1.ecr.dkr"
    error_message = "interface endpoint service names must be regional"
  }

  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled && e.subnet_ids == toset(aws_subnet.private_app[*].id)])
    error_message = "interface endpoints must live in the private app subnets with private DNS"
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.endpoints_https[0].from_port == 443 &&
      aws_vpc_security_group_ingress_rule.endpoints_https[0].to_port == 443 &&
      aws_vpc_security_group_ingress_rule.endpoints_https[0].cidr_ipv4 == "10.0.0.0/16"
    )
    error_message = "the endpoint security group must allow 443 from the VPC CIDR only"
  }

  assert {
    condition     = aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3[0].route_table_ids == toset(aws_route_table.private_app[*].id)
    error_message = "the S3 gateway endpoint must be attached to the private app route tables"
  }
}

run "interface_endpoints_can_be_switched_off" {
  command = plan

  variables {
    enable_interface_endpoints = false
  }

  assert {
    condition     = length(aws_vpc_endpoint.interface) == 0 && length(aws_security_group.endpoints) == 0
    error_message = "enable_interface_endpoints = false must create no interface endpoints and no endpoint SG"
  }

  assert {
    condition     = length(aws_vpc_endpoint.s3) == 1
    error_message = "the free S3 gateway endpoint must stay when interface endpoints are off"
  }
}

run "flow_logs_encrypted_and_scoped" {
  command = apply

  variables {
    flow_log_retention_days = 30
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.kms_key_id == aws_kms_key.flow_logs[0].arn
    error_message = "the flow log group must be encrypted with the module's KMS key"
  }

  assert {
    condition     = aws_kms_key.flow_logs[0].enable_key_rotation
    error_message = "the flow log KMS key must rotate"
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.retention_in_days == 30
    error_message = "flow_log_retention_days must set the log group retention"
  }

  assert {
    condition = (
      aws_flow_log.this.log_destination == aws_cloudwatch_log_group.flow_logs.arn &&
      aws_flow_log.this.iam_role_arn == aws_iam_role.flow_logs.arn &&
      aws_flow_log.this.traffic_type == "ALL"
    )
    error_message = "the flow log must deliver ALL traffic to the log group with the module's role"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.flow_logs.policy).Statement :
      alltrue([for r in flatten([s.Resource]) : r != "*"])
    ])
    error_message = "the flow log role policy must not use a bare \"*\" resource"
  }

  assert {
    condition = contains(
      flatten([for s in jsondecode(aws_iam_role_policy.flow_logs.policy).Statement : flatten([s.Resource])]),
      aws_cloudwatch_log_group.flow_logs.arn
    )
    error_message = "the flow log role policy must be scoped to the flow log group"
  }

  assert {
    condition     = jsondecode(aws_kms_key.flow_logs[0].policy).Statement[1].Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vpc-flow-logs/oneshot-dev"
    error_message = "CloudWatch Logs may use the key for the flow log group only"
  }
}

run "existing_flow_log_key_is_used" {
  command = plan

  variables {
    flow_log_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = length(aws_kms_key.flow_logs) == 0 && aws_cloudwatch_log_group.flow_logs.kms_key_id == "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    error_message = "a given flow_log_kms_key_arn must be used instead of creating a key"
  }
}

run "default_security_group_has_no_rules" {
  command = plan

  assert {
    condition     = aws_default_security_group.this.ingress == null || length(aws_default_security_group.this.ingress) == 0
    error_message = "the default security group must not be given ingress rules"
  }

  assert {
    condition     = aws_default_security_group.this.egress == null || length(aws_default_security_group.this.egress) == 0
    error_message = "the default security group must not be given egress rules"
  }
}

run "rejects_one_az" {
  command = plan

  variables {
    az_count = 1
  }

  expect_failures = [var.az_count]
}

run "rejects_single_explicit_az" {
  command = plan

  variables {
    azs = ["eu-west-1a"]
  }

  expect_failures = [var.azs]
}

run "rejects_too_small_vpc" {
  command = plan

  variables {
    vpc_cidr = "10.0.0.0/24"
  }

  expect_failures = [var.vpc_cidr]
}

run "rejects_cidr_with_host_bits" {
  command = plan

  variables {
    vpc_cidr = "10.0.1.0/16"
  }

  expect_failures = [var.vpc_cidr]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}

run "rejects_invalid_retention" {
  command = plan

  variables {
    flow_log_retention_days = 42
  }

  expect_failures = [var.flow_log_retention_days]
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "Oneshot_Dev"
  }

  expect_failures = [var.name]
}

run "rejects_full_endpoint_service_name" {
  command = plan

  variables {
    interface_endpoint_services = ["com.amazonaws.eu-west-1.ssm"]
  }

  expect_failures = [var.interface_endpoint_services]
}
