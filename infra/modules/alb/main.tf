data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # Every resource carries its environment, whatever the provider's default_tags say.
  tags = merge({ Environment = var.environment }, var.tags)

  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Health check timeout must be shorter than the interval.
  health_check_timeout = min(5, var.health_check_interval - 1)

  target_groups = {
    blue  = "Production traffic (HTTPS listener) before a blue/green swap"
    green = "Test traffic (test listener) and the replacement task set during a blue/green deployment"
  }
}

# An internet-facing ALB is the public entry point of the API: it terminates TLS 1.3/1.2 only,
# drops invalid headers, sits behind the WAF web ACL below, and its security group limits
# sources to allowed_ingress_cidrs.
#trivy:ignore:AVD-AWS-0053
resource "aws_lb" "this" {
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.public_subnet_ids
  security_groups    = [var.security_group_id]
  ip_address_type    = "ipv4"

  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  enable_http2               = true
  idle_timeout               = var.idle_timeout
  enable_deletion_protection = var.deletion_protection

  access_logs {
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = var.access_logs_prefix
    enabled = true
  }

  tags = merge(local.tags, { Name = var.name })

  # ELB checks that it may write to the bucket when access logs are turned on.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "this" {
  for_each = local.target_groups

  name                 = "${var.name}-${each.key}"
  target_type          = "ip" # Fargate tasks (awsvpc)
  protocol             = "HTTP"
  port                 = var.app_port
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check_path
    matcher             = var.health_check_matcher
    interval            = var.health_check_interval
    timeout             = local.health_check_timeout
    healthy_threshold   = var.health_check_healthy_threshold
    unhealthy_threshold = var.health_check_unhealthy_threshold
  }

  tags = merge(local.tags, {
    Name = "${var.name}-${each.key}"
    Role = each.value
  })
}

# Plain HTTP only ever answers with a permanent redirect to HTTPS.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = merge(local.tags, { Name = "${var.name}-http" })
}

# Production listener. Terraform creates it pointing at blue; the blue/green deployment then
# owns which target group it forwards to (it swaps blue and green on every release), so
# default_action is ignored after creation. See README "Who owns what".
resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["blue"].arn
  }

  tags = merge(local.tags, { Name = "${var.name}-https" })

  lifecycle {
    ignore_changes = [default_action]
  }
}

# Test listener: reaches the replacement (green) task set before production traffic moves, for
# the deployment's validation hooks. Same certificate and TLS policy; reachable only from
# test_listener_cidrs (rules below). default_action is owned by the deployment, as above.
resource "aws_lb_listener" "test" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["green"].arn
  }

  tags = merge(local.tags, { Name = "${var.name}-test" })

  lifecycle {
    ignore_changes = [default_action]
  }
}

# Keyed by position, not by CIDR: the addresses may only be known after apply (the NAT
# gateways' Elastic IPs, through which in-VPC deployment hooks reach the ALB), and for_each
# keys must be known at plan time.
resource "aws_vpc_security_group_ingress_rule" "test_listener" {
  for_each = { for i, cidr in var.test_listener_cidrs : tostring(i) => cidr }

  security_group_id = var.security_group_id
  description       = "Blue/green test listener from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = var.test_listener_port
  to_port           = var.test_listener_port
  cidr_ipv4         = each.value

  tags = merge(local.tags, { Name = "${var.name}-test-listener" })
}

# ECS-native blue/green moves traffic by rewriting the forward action of a listener *rule*
# (it cannot use a listener's default action). Each HTTPS listener therefore gets one
# catch-all rule, created forwarding everything to blue with green at weight 0; during a
# deployment ECS sends the test rule to green, shifts the production rule's weights, and
# leaves whichever group won at 100. From then on the action belongs to ECS, so Terraform
# ignores it (see README "Who owns what"). The listeners' default actions are only reached
# if these rules are deleted.
resource "aws_lb_listener_rule" "blue_green" {
  for_each = {
    production = aws_lb_listener.https.arn
    test       = aws_lb_listener.test.arn
  }

  listener_arn = each.value
  priority     = var.blue_green_rule_priority

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.this["blue"].arn
        weight = 100
      }

      target_group {
        arn    = aws_lb_target_group.this["green"].arn
        weight = 0
      }
    }
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  tags = merge(local.tags, { Name = "${var.name}-${each.key}-blue-green" })

  lifecycle {
    ignore_changes = [action]
  }
}
