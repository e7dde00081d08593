locals {
  # Every resource carries its environment, whatever the provider's default_tags say.
  tags = merge({ Environment = var.environment }, var.tags)

  security_groups = {
    alb      = "ALB of ${var.name}: HTTP/HTTPS from allowed CIDRs, out only to the API tasks"
    api      = "API tasks of ${var.name}: in only from the ALB on the app port"
    worker   = "Worker tasks of ${var.name}: no ingress"
    migrate  = "Migration task of ${var.name}: no ingress"
    database = "PostgreSQL of ${var.name}: in only from the API, worker and migrate tasks"
  }

  # Rules between two of this module's groups. Keys are static so for_each works while the IDs
  # are still unknown at plan time.
  ingress_from_security_groups = {
    api_from_alb = {
      security_group = "api"
      source         = "alb"
      port           = var.app_port
      description    = "App traffic and health checks from the ALB"
    }
    database_from_api = {
      security_group = "database"
      source         = "api"
      port           = var.database_port
      description    = "PostgreSQL from the API tasks"
    }
    database_from_worker = {
      security_group = "database"
      source         = "worker"
      port           = var.database_port
      description    = "PostgreSQL from the worker tasks"
    }
    database_from_migrate = {
      security_group = "database"
      source         = "migrate"
      port           = var.database_port
      description    = "PostgreSQL from the migration task"
    }
  }

  egress_to_security_groups = {
    alb_to_api = {
      security_group = "alb"
      destination    = "api"
      port           = var.app_port
      description    = "Forward requests and health checks to the API tasks"
    }
    api_to_database = {
      security_group = "api"
      destination    = "database"
      port           = var.database_port
      description    = "PostgreSQL to the database"
    }
    worker_to_database = {
      security_group = "worker"
      destination    = "database"
      port           = var.database_port
      description    = "PostgreSQL to the database"
    }
    migrate_to_database = {
      security_group = "migrate"
      destination    = "database"
      port           = var.database_port
      description    = "PostgreSQL to the database"
    }
  }

  # Tasks that call HTTPS endpoints outside the VPC: AWS APIs when interface endpoints are off
  # (ECR, S3, Secrets Manager, SSM, CloudWatch), public LLM APIs and Git hosts for the agents.
  https_egress = {
    api     = "HTTPS to AWS APIs and public LLM endpoints"
    worker  = "HTTPS to AWS APIs, public LLM endpoints and Git hosts"
    migrate = "HTTPS to AWS APIs (ECR, Secrets Manager, CloudWatch Logs)"
  }

  alb_public_ingress = {
    for pair in setproduct(var.allowed_ingress_cidrs, [80, 443]) :
    "${pair[1]}-${pair[0]}" => { cidr = pair[0], port = pair[1] }
  }
}

resource "aws_security_group" "this" {
  for_each = local.security_groups

  name_prefix = "${var.name}-${each.key}-"
  description = each.value
  vpc_id      = var.vpc_id

  # No inline rules: every rule is its own resource below. Terraform removes the allow-all
  # egress rule AWS adds to new groups, so a group without rules here has no egress at all.

  tags = merge(local.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    create_before_destroy = true
  }
}

# The ALB is the public entry point of the service; which sources may reach it is the
# allowed_ingress_cidrs input (the whole internet by default).
#trivy:ignore:AVD-AWS-0107
resource "aws_vpc_security_group_ingress_rule" "alb_public" {
  for_each = local.alb_public_ingress

  security_group_id = aws_security_group.this["alb"].id
  description       = each.value.port == 443 ? "HTTPS from ${each.value.cidr}" : "HTTP from ${each.value.cidr} (redirected to HTTPS)"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = merge(local.tags, { Name = "${var.name}-alb-${each.key}" })
}

resource "aws_vpc_security_group_ingress_rule" "from_security_group" {
  for_each = local.ingress_from_security_groups

  security_group_id            = aws_security_group.this[each.value.security_group].id
  description                  = each.value.description
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = aws_security_group.this[each.value.source].id

  tags = merge(local.tags, { Name = "${var.name}-${replace(each.key, "_", "-")}" })
}

resource "aws_vpc_security_group_egress_rule" "to_security_group" {
  for_each = local.egress_to_security_groups

  security_group_id            = aws_security_group.this[each.value.security_group].id
  description                  = each.value.description
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = aws_security_group.this[each.value.destination].id

  tags = merge(local.tags, { Name = "${var.name}-${replace(each.key, "_", "-")}" })
}

# The agents call public LLM APIs (OpenAI, Anthropic, Google) and Git hosts whose addresses are
# neither fixed nor published as prefix lists, so HTTPS egress cannot be narrowed to CIDRs.
# It is limited to port 443/tcp; traffic leaves through the NAT gateways, whose flow logs record it.
#trivy:ignore:AVD-AWS-0104
resource "aws_vpc_security_group_egress_rule" "https_internet" {
  for_each = local.https_egress

  security_group_id = aws_security_group.this[each.key].id
  description       = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(local.tags, { Name = "${var.name}-${each.key}-https-out" })
}
