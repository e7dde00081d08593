mock_provider "aws" {}

variables {
  name          = "oneshot-dev"
  environment   = "dev"
  monthly_limit = 150
  sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:oneshot-dev-alarms"
}

run "dev_budget" {
  command = apply

  assert {
    condition     = aws_budgets_budget.this.budget_type == "COST" && aws_budgets_budget.this.time_unit == "MONTHLY"
    error_message = "a monthly cost budget"
  }

  assert {
    condition     = aws_budgets_budget.this.limit_amount == "150.00" && aws_budgets_budget.this.limit_unit == "USD"
    error_message = "the limit is the variable, in USD"
  }

  assert {
    condition     = one(aws_budgets_budget.this.cost_filter).name == "TagKeyValue" && one(aws_budgets_budget.this.cost_filter).values == tolist(["user:env$dev"])
    error_message = "the budget counts only resources tagged env=dev"
  }

  assert {
    condition = toset([
      for n in aws_budgets_budget.this.notification : "${n.notification_type}:${n.threshold}:${n.threshold_type}"
    ]) == toset(["ACTUAL:80:PERCENTAGE", "FORECASTED:100:PERCENTAGE"])
    error_message = "alerts at 80% actual and 100% forecast"
  }

  assert {
    condition     = alltrue([for n in aws_budgets_budget.this.notification : n.subscriber_sns_topic_arns == toset([var.sns_topic_arn])])
    error_message = "alerts go to the SNS topic"
  }

  assert {
    condition     = length(aws_ce_cost_allocation_tag.env) == 0
    error_message = "the account-wide tag activation is opt-in"
  }

  assert {
    condition     = output.cost_filter == "user:env$dev"
    error_message = "cost_filter output"
  }
}

run "prod_email_only_with_tag_activation" {
  command = plan

  variables {
    name                         = "oneshot-prod"
    environment                  = "prod"
    monthly_limit                = 1200.5
    sns_topic_arn                = null
    alert_emails                 = ["finance@example.com"]
    activate_cost_allocation_tag = true
  }

  assert {
    condition     = one(aws_budgets_budget.this.cost_filter).values == tolist(["user:env$prod"])
    error_message = "the filter follows the environment"
  }

  assert {
    condition     = alltrue([for n in aws_budgets_budget.this.notification : n.subscriber_email_addresses == toset(["finance@example.com"]) && length(n.subscriber_sns_topic_arns) == 0])
    error_message = "alerts can go by e-mail only"
  }

  assert {
    condition     = aws_ce_cost_allocation_tag.env[0].tag_key == "env" && aws_ce_cost_allocation_tag.env[0].status == "Active"
    error_message = "the env tag can be activated for cost allocation"
  }

  assert {
    condition     = aws_budgets_budget.this.limit_amount == "1200.50"
    error_message = "limits keep cents"
  }
}

run "rejects_no_recipient" {
  command = plan

  variables {
    sns_topic_arn = null
    alert_emails  = []
  }

  expect_failures = [var.alert_emails]
}

run "rejects_zero_limit" {
  command = plan

  variables {
    monthly_limit = 0
  }

  expect_failures = [var.monthly_limit]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "test"
  }

  expect_failures = [var.environment]
}
