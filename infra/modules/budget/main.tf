locals {
  # Cost Explorer names a user-defined tag value "user:<key>$<value>".
  tag_filter_value = format("user:%s$%s", var.cost_tag_key, var.environment)

  notifications = {
    actual = {
      notification_type = "ACTUAL"
      threshold         = var.actual_threshold_percent
    }
    forecasted = {
      notification_type = "FORECASTED"
      threshold         = var.forecast_threshold_percent
    }
  }

  tags = merge(var.tags, { service = "budget" })
}

resource "aws_budgets_budget" "this" {
  name         = "${var.name}-monthly"
  budget_type  = "COST"
  time_unit    = "MONTHLY"
  limit_amount = format("%.2f", var.monthly_limit)
  limit_unit   = var.limit_unit
  tags         = local.tags

  cost_filter {
    name   = "TagKeyValue"
    values = [local.tag_filter_value]
  }

  dynamic "notification" {
    for_each = local.notifications
    content {
      notification_type          = notification.value.notification_type
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value.threshold
      threshold_type             = "PERCENTAGE"
      subscriber_sns_topic_arns  = var.sns_topic_arn == null ? [] : [var.sns_topic_arn]
      subscriber_email_addresses = var.alert_emails
    }
  }
}

resource "aws_ce_cost_allocation_tag" "env" {
  count = var.activate_cost_allocation_tag ? 1 : 0

  tag_key = var.cost_tag_key
  status  = "Active"
}
