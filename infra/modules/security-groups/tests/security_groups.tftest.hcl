mock_provider "aws" {}

variables {
  name        = "oneshot-dev"
  environment = "dev"
  vpc_id      = "vpc-0123456789abcdef0"
}

run "no_rule_opens_the_database_port_to_a_cidr" {
  command = apply

  assert {
    condition = alltrue([
      for r in concat(
        values(aws_vpc_security_group_ingress_rule.alb_public),
        values(aws_vpc_security_group_ingress_rule.from_security_group),
      ) :
      !(r.from_port <= 5432 && r.to_port >= 5432) || (r.cidr_ipv4 == null && r.cidr_ipv6 == null && r.prefix_list_id == null)
    ])
    error_message = "no ingress rule may open 5432 to a CIDR or prefix list"
  }

  assert {
    condition = alltrue([
      for r in concat(
        values(aws_vpc_security_group_egress_rule.to_security_group),
        values(aws_vpc_security_group_egress_rule.https_internet),
      ) :
      !(r.from_port <= 5432 && r.to_port >= 5432) || (r.cidr_ipv4 == null && r.cidr_ipv6 == null && r.prefix_list_id == null)
    ])
    error_message = "no egress rule may open 5432 to a CIDR or prefix list"
  }
}

run "database_only_from_api_worker_and_migrate" {
  command = apply

  assert {
    condition = toset([
      for r in aws_vpc_security_group_ingress_rule.from_security_group : r.referenced_security_group_id
      if r.security_group_id == output.database_security_group_id
      ]) == toset([
      output.api_security_group_id,
      output.worker_security_group_id,
      output.migrate_security_group_id,
    ])
    error_message = "the database must accept exactly the api, worker and migrate security groups"
  }

  assert {
    condition = alltrue([
      for r in aws_vpc_security_group_ingress_rule.from_security_group :
      r.from_port == 5432 && r.to_port == 5432 && r.ip_protocol == "tcp"
      if r.security_group_id == output.database_security_group_id
    ])
    error_message = "database ingress must be tcp/5432 only"
  }

  assert {
    condition     = length([for r in aws_vpc_security_group_ingress_rule.alb_public : r if r.security_group_id == output.database_security_group_id]) == 0
    error_message = "the database must have no CIDR ingress"
  }

  assert {
    condition = length([
      for r in concat(values(aws_vpc_security_group_egress_rule.to_security_group), values(aws_vpc_security_group_egress_rule.https_internet)) : r
      if r.security_group_id == output.database_security_group_id
    ]) == 0
    error_message = "the database needs no egress rules"
  }
}

run "api_only_from_the_alb_on_the_app_port" {
  command = apply

  assert {
    condition = [
      for r in aws_vpc_security_group_ingress_rule.from_security_group : [r.referenced_security_group_id, r.from_port, r.to_port]
      if r.security_group_id == output.api_security_group_id
    ] == [[output.alb_security_group_id, 8080, 8080]]
    error_message = "the API must accept only the ALB, on 8080"
  }

  assert {
    condition = toset([
      for r in concat(values(aws_vpc_security_group_egress_rule.to_security_group), values(aws_vpc_security_group_egress_rule.https_internet)) :
      "${r.from_port}/${coalesce(r.cidr_ipv4, r.referenced_security_group_id)}"
      if r.security_group_id == output.api_security_group_id
    ]) == toset(["443/0.0.0.0/0", "5432/${output.database_security_group_id}"])
    error_message = "API egress must be 443 to the internet and 5432 to the database only"
  }
}

run "workers_and_migrate_have_no_ingress" {
  command = apply

  assert {
    condition = length([
      for r in concat(values(aws_vpc_security_group_ingress_rule.alb_public), values(aws_vpc_security_group_ingress_rule.from_security_group)) : r
      if contains([output.worker_security_group_id, output.migrate_security_group_id], r.security_group_id)
    ]) == 0
    error_message = "worker and migrate tasks must have no ingress"
  }

  assert {
    condition = toset([
      for r in concat(values(aws_vpc_security_group_egress_rule.to_security_group), values(aws_vpc_security_group_egress_rule.https_internet)) :
      "${r.from_port}/${coalesce(r.cidr_ipv4, r.referenced_security_group_id)}"
      if r.security_group_id == output.worker_security_group_id
    ]) == toset(["443/0.0.0.0/0", "5432/${output.database_security_group_id}"])
    error_message = "worker egress must be 443 anywhere and 5432 to the database only"
  }

  assert {
    condition = toset([
      for r in concat(values(aws_vpc_security_group_egress_rule.to_security_group), values(aws_vpc_security_group_egress_rule.https_internet)) :
      "${r.from_port}/${coalesce(r.cidr_ipv4, r.referenced_security_group_id)}"
      if r.security_group_id == output.migrate_security_group_id
    ]) == toset(["443/0.0.0.0/0", "5432/${output.database_security_group_id}"])
    error_message = "migrate egress must be 443 and 5432 to the database only"
  }
}

run "alb_public_in_and_only_to_the_api_out" {
  command = apply

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.alb_public : "${r.from_port}/${r.cidr_ipv4}"]) == toset(["80/0.0.0.0/0", "443/0.0.0.0/0"])
    error_message = "by default the ALB must accept 80 and 443 from anywhere"
  }

  assert {
    condition = [
      for r in aws_vpc_security_group_egress_rule.to_security_group : [r.referenced_security_group_id, r.from_port]
      if r.security_group_id == output.alb_security_group_id
    ] == [[output.api_security_group_id, 8080]]
    error_message = "the ALB may only send to the API tasks on the app port"
  }

  assert {
    condition     = length([for r in aws_vpc_security_group_egress_rule.https_internet : r if r.security_group_id == output.alb_security_group_id]) == 0
    error_message = "the ALB must have no internet egress"
  }
}

run "restricted_ingress_cidrs_and_custom_app_port" {
  command = apply

  variables {
    allowed_ingress_cidrs = ["203.0.113.0/24", "198.51.100.7/32"]
    app_port              = 9090
  }

  assert {
    condition = toset([for r in aws_vpc_security_group_ingress_rule.alb_public : "${r.from_port}/${r.cidr_ipv4}"]) == toset([
      "80/203.0.113.0/24", "443/203.0.113.0/24", "80/198.51.100.7/32", "443/198.51.100.7/32",
    ])
    error_message = "each allowed CIDR must get one rule for 80 and one for 443"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.from_security_group["api_from_alb"].from_port == 9090 && aws_vpc_security_group_egress_rule.to_security_group["alb_to_api"].to_port == 9090
    error_message = "app_port must drive both sides of the ALB-to-API path"
  }
}

run "every_rule_has_a_description" {
  command = plan

  assert {
    condition = alltrue([
      for r in concat(
        values(aws_vpc_security_group_ingress_rule.alb_public),
        values(aws_vpc_security_group_ingress_rule.from_security_group),
        values(aws_vpc_security_group_egress_rule.to_security_group),
        values(aws_vpc_security_group_egress_rule.https_internet),
      ) : length(r.description) > 0
    ])
    error_message = "every rule needs a description"
  }

  assert {
    condition     = alltrue([for sg in aws_security_group.this : sg.vpc_id == "vpc-0123456789abcdef0"])
    error_message = "all groups belong to the given VPC"
  }
}

run "rejects_ipv6_ingress_cidr" {
  command = plan

  variables {
    allowed_ingress_cidrs = ["::/0"]
  }

  expect_failures = [var.allowed_ingress_cidrs]
}

run "rejects_empty_ingress_cidrs" {
  command = plan

  variables {
    allowed_ingress_cidrs = []
  }

  expect_failures = [var.allowed_ingress_cidrs]
}

run "rejects_privileged_app_port" {
  command = plan

  variables {
    app_port = 80
  }

  expect_failures = [var.app_port]
}

run "rejects_bad_vpc_id" {
  command = plan

  variables {
    vpc_id = "my-vpc"
  }

  expect_failures = [var.vpc_id]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "production"
  }

  expect_failures = [var.environment]
}
