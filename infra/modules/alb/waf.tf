locals {
  # WAF only logs to CloudWatch log groups whose name starts with "aws-waf-logs-".
  waf_log_group_name = "aws-waf-logs-${var.name}"
  waf_log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.waf_log_group_name}"

  waf_metric_prefix = replace(var.name, "-", "_")

  # Managed rule groups, cheapest and most decisive first. The rate limit rule sits between the
  # IP reputation list and the request inspection groups (priority 1).
  waf_managed_rule_groups = {
    AWSManagedRulesAmazonIpReputationList = { priority = 0, count_rules = [] }
    AWSManagedRulesKnownBadInputsRuleSet  = { priority = 2, count_rules = [] }
    AWSManagedRulesCommonRuleSet          = { priority = 3, count_rules = var.waf_common_rules_to_count }
  }
}

resource "aws_wafv2_web_acl" "this" {
  name        = "${var.name}-alb"
  description = "Protects the ${var.name} ALB: AWS managed rules and a per-IP rate limit"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  dynamic "rule" {
    for_each = local.waf_managed_rule_groups

    content {
      name     = rule.key
      priority = rule.value.priority

      override_action {
        none {}
      }

      statement {
        managed_rule_group_statement {
          vendor_name = "AWS"
          name        = rule.key

          dynamic "rule_action_override" {
            for_each = rule.value.count_rules

            content {
              name = rule_action_override.value

              action_to_use {
                count {}
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        sampled_requests_enabled   = true
        metric_name                = "${local.waf_metric_prefix}_${rule.key}"
      }
    }
  }

  rule {
    name     = "RateLimitPerIp"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit
        aggregate_key_type    = "IP"
        evaluation_window_sec = 300
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      sampled_requests_enabled   = true
      metric_name                = "${local.waf_metric_prefix}_RateLimitPerIp"
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    sampled_requests_enabled   = true
    metric_name                = "${local.waf_metric_prefix}_alb"
  }

  tags = merge(local.tags, { Name = "${var.name}-alb" })
}

resource "aws_wafv2_web_acl_association" "this" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

# --- WAF logging --------------------------------------------------------------------------------

resource "aws_kms_key" "waf_logs" {
  description             = "${var.name}: encrypts the WAF log group"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Without an account statement the key becomes unmanageable; it delegates to IAM
        # policies in this account. In a key policy, "Resource": "*" means this key only.
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsForTheWafLogGroupOnly"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = local.waf_log_group_arn
          }
        }
      },
    ]
  })

  tags = merge(local.tags, { Name = "${var.name}-waf-logs" })
}

resource "aws_kms_alias" "waf_logs" {
  name          = "alias/${var.name}-waf-logs"
  target_key_id = aws_kms_key.waf_logs.key_id
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = local.waf_log_group_name
  retention_in_days = var.waf_log_retention_days
  kms_key_id        = aws_kms_key.waf_logs.arn

  tags = merge(local.tags, { Name = local.waf_log_group_name })
}

# Lets the log delivery service write WAF logs into this one log group. Without it, WAF tries to
# add a broad account-wide resource policy itself the first time logging is turned on.
resource "aws_cloudwatch_log_resource_policy" "waf" {
  policy_name = "${var.name}-waf-log-delivery"

  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "WafLogDelivery"
      Effect    = "Allow"
      Principal = { Service = "delivery.logs.amazonaws.com" }
      Action    = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource  = "${aws_cloudwatch_log_group.waf.arn}:log-stream:*"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:*" }
      }
    }]
  })
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  # Bearer tokens and session cookies must not end up in logs.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }

  depends_on = [aws_cloudwatch_log_resource_policy.waf]
}
