# dev's committed settings (terraform.tfvars) through the stack module, against a mocked
# AWS provider: what makes dev dev. The wiring itself is tested in infra/modules/stack.

mock_provider "aws" {
  source = "../../modules/stack/tests/mocks"
}

override_resource {
  target = module.stack.aws_acm_certificate.api
  values = {
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    domain_validation_options = [{
      domain_name           = "api.dev.oneshot.example.com"
      resource_record_name  = "_0123456789abcdef.api.dev.oneshot.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_fedcba9876543210.acm-validations.aws."
    }]
  }
}

# Only the account-specific placeholders of terraform.tfvars are replaced.
variables {
  allowed_account_ids = ["123456789012"]
  domain = {
    name            = "api.dev.oneshot.example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
  }
}

run "dev" {
  command = apply

  assert {
    condition     = length(output.summary.network.azs) == 2 && output.summary.network.nat_gateways == 1 && length(output.summary.network.interface_endpoints) == 0
    error_message = "dev gets two AZs, one NAT gateway and no interface endpoints"
  }

  assert {
    condition = (
      output.summary.database.instance_class == "db.t4g.micro" &&
      !output.summary.database.multi_az &&
      !output.summary.database.deletion_protection &&
      output.summary.database.backup_retention_period == 1
    )
    error_message = "dev gets a single-AZ db.t4g.micro without deletion protection and one day of backups"
  }

  assert {
    condition     = output.summary.off_hours_schedule != null && !output.summary.alb_deletion_protection
    error_message = "dev scales to zero off-hours and can be destroyed"
  }

  assert {
    condition     = output.summary.services.api.cpu == 256 && output.summary.services.worker.min_capacity == 0
    error_message = "dev runs small tasks and no idle worker"
  }

  assert {
    condition     = output.pipeline.promote_to == "staging" && !contains(output.pipeline.stages, "Approve") && output.pipeline.release_role_arn != null
    error_message = "dev owns the release bucket and role, deploys without approval and promotes to staging"
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
    condition     = contains(output.summary.worker_scaling.policies, "backlog") && contains(output.summary.worker_scaling.policies, "scale_from_zero") && output.summary.worker_scaling.metric_namespace == "Oneshot/dev" && output.summary.worker_scaling.emf_namespace_api == "Oneshot/dev"
    error_message = "the worker must scale on the backlog the app publishes in Oneshot/dev"
  }

  assert {
    condition     = output.summary.budget_filter == "user:env$dev" && tonumber(output.summary.budget.amount) == 200
    error_message = "dev must have its budget of 200 USD on its env tag"
  }

  assert {
    condition     = output.summary.log_retention_days == 7
    error_message = "dev keeps its logs 7 days"
  }

  assert {
    condition     = output.deploy.environment == "dev" && output.deploy.services.api.family == "oneshot-dev-api" && output.service_names.worker == "oneshot-dev-worker"
    error_message = "every name must be oneshot-dev"
  }
}
