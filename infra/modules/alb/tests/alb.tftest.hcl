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

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:aws-waf-logs-oneshot-prod"
    }
  }
}

variables {
  name              = "oneshot-prod"
  environment       = "prod"
  vpc_id            = "vpc-0123456789abcdef0"
  public_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
  security_group_id = "sg-0123456789abcdef0"
  certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
}

run "internet_facing_hardened_alb" {
  command = plan

  assert {
    condition     = aws_lb.this.internal == false && aws_lb.this.load_balancer_type == "application"
    error_message = "the ALB must be an internet-facing application load balancer"
  }

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields == true
    error_message = "the ALB must drop invalid header fields"
  }

  assert {
    condition     = aws_lb.this.enable_deletion_protection == true
    error_message = "deletion protection must be on by default"
  }

  assert {
    condition     = toset(aws_lb.this.subnets) == toset(var.public_subnet_ids) && toset(aws_lb.this.security_groups) == toset(["sg-0123456789abcdef0"])
    error_message = "the ALB must sit in the public subnets with the given security group"
  }

  assert {
    condition     = aws_lb.this.access_logs[0].enabled && aws_lb.this.access_logs[0].prefix == "alb"
    error_message = "access logs must be enabled"
  }
}

run "deletion_protection_can_be_turned_off_for_dev" {
  command = plan

  variables {
    name                = "oneshot-dev"
    environment         = "dev"
    deletion_protection = false
  }

  assert {
    condition     = aws_lb.this.enable_deletion_protection == false
    error_message = "deletion_protection = false must reach the ALB"
  }
}

run "listeners" {
  command = plan

  assert {
    condition = (
      aws_lb_listener.http.port == 80 &&
      aws_lb_listener.http.default_action[0].type == "redirect" &&
      aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS" &&
      aws_lb_listener.http.default_action[0].redirect[0].port == "443" &&
      aws_lb_listener.http.default_action[0].redirect[0].status_code == "HTTP_301"
    )
    error_message = "port 80 must redirect to HTTPS with a 301"
  }

  assert {
    condition = (
      aws_lb_listener.https.port == 443 &&
      aws_lb_listener.https.protocol == "HTTPS" &&
      aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06" &&
      aws_lb_listener.https.certificate_arn == var.certificate_arn
    )
    error_message = "the production listener must be HTTPS on 443 with the TLS 1.3 policy and the given certificate"
  }

  assert {
    condition = (
      aws_lb_listener.test.port == 8443 &&
      aws_lb_listener.test.protocol == "HTTPS" &&
      aws_lb_listener.test.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    )
    error_message = "the test listener must be HTTPS on 8443 with the same TLS policy"
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.test_listener) == 0
    error_message = "with no test_listener_cidrs the test listener must not be opened"
  }
}

run "production_forwards_to_blue_test_to_green" {
  command = apply

  assert {
    condition     = aws_lb_listener.https.default_action[0].type == "forward" && aws_lb_listener.https.default_action[0].target_group_arn == aws_lb_target_group.this["blue"].arn
    error_message = "the production listener must forward to blue"
  }

  assert {
    condition     = aws_lb_listener.test.default_action[0].type == "forward" && aws_lb_listener.test.default_action[0].target_group_arn == aws_lb_target_group.this["green"].arn
    error_message = "the test listener must forward to green"
  }

  assert {
    condition     = output.blue_target_group_arn != output.green_target_group_arn
    error_message = "blue and green must be two different target groups"
  }

  assert {
    condition     = aws_wafv2_web_acl_association.this.resource_arn == aws_lb.this.arn && aws_wafv2_web_acl_association.this.web_acl_arn == aws_wafv2_web_acl.this.arn
    error_message = "the web ACL must be associated with the ALB"
  }
}

run "blue_green_listener_rules" {
  command = apply

  assert {
    condition = (
      aws_lb_listener_rule.blue_green["production"].listener_arn == aws_lb_listener.https.arn &&
      aws_lb_listener_rule.blue_green["test"].listener_arn == aws_lb_listener.test.arn
    )
    error_message = "there must be one blue/green rule on the production listener and one on the test listener"
  }

  assert {
    condition = alltrue([for r in aws_lb_listener_rule.blue_green :
      r.priority == 100 &&
      length(r.condition) == 1 &&
      one([for c in r.condition : c.path_pattern[0].values]) == toset(["/*"])
    ])
    error_message = "each blue/green rule must match every path (/*) at the default priority"
  }

  assert {
    condition = alltrue([for r in aws_lb_listener_rule.blue_green :
      length(r.action) == 1 &&
      r.action[0].type == "forward" &&
      toset([for tg in r.action[0].forward[0].target_group : "${tg.arn}=${tg.weight}"]) == toset([
        "${aws_lb_target_group.this["blue"].arn}=100",
        "${aws_lb_target_group.this["green"].arn}=0",
      ])
    ])
    error_message = "each blue/green rule must start forwarding everything to blue, with green at weight 0, in one forward action"
  }

  assert {
    condition = (
      output.production_listener_rule_arn == aws_lb_listener_rule.blue_green["production"].arn &&
      output.test_listener_rule_arn == aws_lb_listener_rule.blue_green["test"].arn &&
      output.production_listener_rule_arn != output.test_listener_rule_arn
    )
    error_message = "the rule outputs must name the production and the test rule"
  }
}

run "blue_green_rule_priority_is_configurable" {
  command = plan

  variables {
    blue_green_rule_priority = 50000
  }

  assert {
    condition     = alltrue([for r in aws_lb_listener_rule.blue_green : r.priority == 50000])
    error_message = "blue_green_rule_priority must reach both rules"
  }
}

run "target_groups_for_fast_deployments" {
  command = plan

  assert {
    condition     = toset(keys(aws_lb_target_group.this)) == toset(["blue", "green"])
    error_message = "there must be a blue and a green target group"
  }

  assert {
    condition = alltrue([for tg in aws_lb_target_group.this :
      tg.target_type == "ip" &&
      tg.port == 8080 &&
      tg.protocol == "HTTP" &&
      tg.deregistration_delay == "30" &&
      tg.health_check[0].path == "/readyz" &&
      tg.health_check[0].interval == 10 &&
      tg.health_check[0].timeout < tg.health_check[0].interval &&
      tg.health_check[0].healthy_threshold == 2 &&
      tg.health_check[0].unhealthy_threshold == 2 &&
      tg.health_check[0].matcher == "200"
    ])
    error_message = "target groups must be ip targets on 8080, /readyz every 10 s, thresholds 2/2, matcher 200, deregistration delay 30"
  }

  assert {
    condition     = aws_lb_target_group.this["blue"].name == "oneshot-prod-blue" && aws_lb_target_group.this["green"].name == "oneshot-prod-green"
    error_message = "target group names must be <name>-blue and <name>-green"
  }
}

run "short_interval_keeps_timeout_below_it" {
  command = plan

  variables {
    health_check_interval = 5
  }

  assert {
    condition     = aws_lb_target_group.this["blue"].health_check[0].timeout == 4
    error_message = "the health check timeout must stay below the interval"
  }
}

run "test_listener_restricted_to_cidrs" {
  command = plan

  variables {
    test_listener_port  = 9443
    test_listener_cidrs = ["10.0.0.0/16", "203.0.113.10/32"]
  }

  assert {
    condition = toset([for r in aws_vpc_security_group_ingress_rule.test_listener : "${r.from_port}-${r.to_port}/${r.cidr_ipv4}"]) == toset([
      "9443-9443/10.0.0.0/16", "9443-9443/203.0.113.10/32",
    ])
    error_message = "each test_listener_cidr must get exactly the test port"
  }

  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.test_listener : r.security_group_id == "sg-0123456789abcdef0"])
    error_message = "test listener rules belong on the ALB security group"
  }
}

run "waf_managed_rules_and_rate_limit" {
  command = plan

  variables {
    waf_rate_limit = 1000
  }

  assert {
    condition     = aws_wafv2_web_acl.this.scope == "REGIONAL"
    error_message = "the web ACL must be REGIONAL (ALB)"
  }

  assert {
    condition = toset([for r in aws_wafv2_web_acl.this.rule : r.name]) == toset([
      "AWSManagedRulesCommonRuleSet",
      "AWSManagedRulesKnownBadInputsRuleSet",
      "AWSManagedRulesAmazonIpReputationList",
      "RateLimitPerIp",
    ])
    error_message = "the web ACL must have the three AWS managed rule groups and the rate limit"
  }

  assert {
    condition = alltrue([
      for r in aws_wafv2_web_acl.this.rule :
      r.statement[0].rate_based_statement[0].limit == 1000 && r.statement[0].rate_based_statement[0].aggregate_key_type == "IP" && length(r.action[0].block) == 1
      if r.name == "RateLimitPerIp"
    ])
    error_message = "the rate rule must block per IP at waf_rate_limit"
  }

  assert {
    condition = alltrue([
      for r in aws_wafv2_web_acl.this.rule :
      r.statement[0].managed_rule_group_statement[0].vendor_name == "AWS" && length(r.override_action[0].none) == 1
      if r.name != "RateLimitPerIp"
    ])
    error_message = "managed rule groups must be AWS's and keep their own actions"
  }

  assert {
    condition = alltrue(concat(
      [for r in aws_wafv2_web_acl.this.rule : r.visibility_config[0].cloudwatch_metrics_enabled && r.visibility_config[0].sampled_requests_enabled],
      [aws_wafv2_web_acl.this.visibility_config[0].cloudwatch_metrics_enabled],
    ))
    error_message = "metrics and sampled requests must be on for every rule and the ACL"
  }

  assert {
    condition     = length(distinct([for r in aws_wafv2_web_acl.this.rule : r.priority])) == 4
    error_message = "rule priorities must be unique"
  }
}

run "waf_logging_encrypted" {
  command = apply

  assert {
    condition     = startswith(aws_cloudwatch_log_group.waf.name, "aws-waf-logs-")
    error_message = "WAF log group names must start with aws-waf-logs-"
  }

  assert {
    condition     = aws_cloudwatch_log_group.waf.kms_key_id == aws_kms_key.waf_logs.arn && aws_kms_key.waf_logs.enable_key_rotation
    error_message = "the WAF log group must be encrypted with a rotating CMK"
  }

  assert {
    condition     = aws_wafv2_web_acl_logging_configuration.this.resource_arn == aws_wafv2_web_acl.this.arn
    error_message = "logging must be configured on the web ACL"
  }

  assert {
    condition     = contains([for f in aws_wafv2_web_acl_logging_configuration.this.redacted_fields : f.single_header[0].name], "authorization")
    error_message = "the Authorization header must be redacted from WAF logs"
  }
}

run "access_logs_bucket_locked_down" {
  command = apply

  assert {
    condition     = aws_s3_bucket.access_logs.bucket == "oneshot-prod-alb-logs-123456789012-eu-west-1"
    error_message = "the bucket name must be <name>-alb-logs-<account>-<region>"
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.access_logs.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "ALB access logs require SSE-S3 (AES256)"
  }

  assert {
    condition     = aws_s3_bucket_versioning.access_logs.versioning_configuration[0].status == "Enabled"
    error_message = "the access logs bucket must be versioned"
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.access_logs.block_public_acls &&
      aws_s3_bucket_public_access_block.access_logs.block_public_policy &&
      aws_s3_bucket_public_access_block.access_logs.ignore_public_acls &&
      aws_s3_bucket_public_access_block.access_logs.restrict_public_buckets
    )
    error_message = "all public access must be blocked"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement :
      s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
    ])
    error_message = "the bucket policy must deny non-TLS requests"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement :
      s.Effect == "Allow" && try(s.Principal.Service, "") == "logdelivery.elasticloadbalancing.amazonaws.com" && s.Action == "s3:PutObject" &&
      try(endswith(s.Resource, "/alb/AWSLogs/123456789012/*"), false)
    ])
    error_message = "the ELB log delivery principal may only put objects under the prefix for this account"
  }

  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.access_logs.rule : r.expiration[0].days if r.id == "expire-access-logs"] == [90]
    error_message = "access logs must expire after access_logs_retention_days"
  }
}

run "rejects_interval_below_5" {
  command = plan

  variables {
    health_check_interval = 4
  }

  expect_failures = [var.health_check_interval]
}

run "rejects_interval_above_30" {
  command = plan

  variables {
    health_check_interval = 31
  }

  expect_failures = [var.health_check_interval]
}

run "rejects_deregistration_delay_at_stop_timeout" {
  command = plan

  variables {
    deregistration_delay = 120
  }

  expect_failures = [var.deregistration_delay]
}

run "rejects_public_test_listener" {
  command = plan

  variables {
    test_listener_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.test_listener_cidrs]
}

run "rejects_pre_tls13_policy" {
  command = plan

  variables {
    ssl_policy = "ELBSecurityPolicy-2016-08"
  }

  expect_failures = [var.ssl_policy]
}

run "rejects_non_acm_certificate" {
  command = plan

  variables {
    certificate_arn = "arn:aws:iam::123456789012:server-certificate/legacy"
  }

  expect_failures = [var.certificate_arn]
}

run "rejects_test_listener_on_443" {
  command = plan

  variables {
    test_listener_port = 443
  }

  expect_failures = [var.test_listener_port]
}

run "rejects_single_subnet" {
  command = plan

  variables {
    public_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa"]
  }

  expect_failures = [var.public_subnet_ids]
}

run "rejects_too_low_rate_limit" {
  command = plan

  variables {
    waf_rate_limit = 5
  }

  expect_failures = [var.waf_rate_limit]
}

run "rejects_rule_priority_0" {
  command = plan

  variables {
    blue_green_rule_priority = 0
  }

  expect_failures = [var.blue_green_rule_priority]
}
