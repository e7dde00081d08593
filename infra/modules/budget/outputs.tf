output "budget_name" {
  description = "Name of the budget."
  value       = aws_budgets_budget.this.name
}

output "budget_arn" {
  description = "ARN of the budget."
  value       = aws_budgets_budget.this.arn
}

output "budget_id" {
  description = "ID of the budget (\"<account id>:<name>\")."
  value       = aws_budgets_budget.this.id
}

output "cost_filter" {
  description = "Cost Explorer tag filter the budget applies, \"user:<key>$<environment>\"."
  value       = local.tag_filter_value
}

output "limit" {
  description = "Monthly limit and its currency."
  value = {
    amount = aws_budgets_budget.this.limit_amount
    unit   = aws_budgets_budget.this.limit_unit
  }
}
