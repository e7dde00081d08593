# prod's committed settings (terraform.tfvars) through the stack module, against a mocked
# AWS provider: what makes prod prod. The wiring itself is tested in infra/modules/stack.

mock_provider "aws" {
  source = "../../modules/stack/tests/mocks"
}

override_resource {
  target = module.stack.aws_acm_certificate.api
  values = {
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    domain_validation_options = [{
      domain_name           = "api.oneshot.example.com"
      resource_record_name  = "_0123456789abcdef.api.oneshot.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_fedcba9876543210.acm-validations.aws."
    }]
  }
}

# Only the account-specific placeholders of terraform.tfvars are replaced.
variables {
  allowed_account_ids = ["123456789012"]
  domain = {
    name            = "api.oneshot.example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
  }
}

# One address per NAT gateway (the mock would give all three the same one).
override_resource {
  target = module.stack.module.network.aws_eip.nat[1]
  values = { public_ip = "198.51.100.11" }
}

override_resource {
  target = module.stack.module.network.aws_eip.nat[2]
  values = { public_ip = "198.51.100.12" }
}

run "prod" {
  command = apply

  assert {
    condition     = length(output.summary.network.azs) == 3 && output.summary.network.nat_gateways == 3 && length(output.summary.network.interface_endpoints) == 5
    error_message = "prod gets three AZs, a NAT gateway per AZ and the interface endpoints"
  }

  assert {
    condition = (
      output.summary.database.multi_az &&
      output.summary.database.deletion_protection &&
      output.summary.database.performance_insights &&
      output.summary.database.backup_retention_period == 14
    )
    error_message = "prod gets Multi-AZ, deletion protection, Performance Insights and 14 days of backups"
  }

  assert {
    condition     = output.summary.alb_deletion_protection && output.summary.off_hours_schedule == null
    error_message = "prod's load balancer is protected from deletion and never scaled down off-hours"
  }

  assert {
    condition     = output.summary.worker_scaling.on_demand_base == 1 && output.summary.services.api.min_capacity >= 2
    error_message = "prod keeps one worker on on-demand capacity and at least two api tasks"
  }

  assert {
    condition     = contains(output.pipeline.stages, "Approve") && output.pipeline.promote_to == null
    error_message = "prod waits for a manual approval and promotes nowhere"
  }

  assert {
    condition = (
      output.summary.api_deployment.production_listener_rule_arn != null &&
      output.summary.api_deployment.test_listener_rule_arn != null &&
      output.summary.api_deployment.role_arn != null &&
      contains(["BLUE_GREEN", "CANARY", "LINEAR"], output.summary.api_deployment.strategy) &&
      length(output.summary.api_deployment.alarms) > 0
    )
    error_message = "the api must deploy blue/green through the listener rules, rolling back on the deployment alarms"
  }

  assert {
    condition     = contains(output.summary.worker_scaling.policies, "backlog") && contains(output.summary.worker_scaling.policies, "scale_from_zero") && output.summary.worker_scaling.metric_namespace == "Oneshot/prod" && output.summary.worker_scaling.emf_namespace_api == "Oneshot/prod"
    error_message = "the worker must scale on the backlog the app publishes in Oneshot/prod"
  }

  assert {
    condition     = output.summary.budget_filter == "user:env$prod" && tonumber(output.summary.budget.amount) == 2500
    error_message = "prod must have its budget of 2500 USD on its env tag"
  }

  assert {
    condition     = output.summary.log_retention_days == 365
    error_message = "prod keeps its logs 365 days"
  }

  assert {
    condition     = output.deploy.environment == "prod" && output.deploy.services.api.family == "oneshot-prod-api" && output.service_names.worker == "oneshot-prod-worker"
    error_message = "every name must be oneshot-prod"
  }
}
