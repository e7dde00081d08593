# staging's committed settings (terraform.tfvars) through the stack module, against a mocked
# AWS provider: what makes staging staging. The wiring itself is tested in infra/modules/stack.

mock_provider "aws" {
  source = "../../modules/stack/tests/mocks"
}

override_resource {
  target = module.stack.aws_acm_certificate.api
  values = {
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    domain_validation_options = [{
      domain_name           = "api.staging.oneshot.example.com"
      resource_record_name  = "_0123456789abcdef.api.staging.oneshot.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_fedcba9876543210.acm-validations.aws."
    }]
  }
}

# Only the account-specific placeholders of terraform.tfvars are replaced.
variables {
  allowed_account_ids = ["123456789012"]
  domain = {
    name            = "api.staging.oneshot.example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
  }
}

run "staging" {
  command = apply

  assert {
    condition     = length(output.summary.network.azs) == 2 && output.summary.network.nat_gateways == 1 && length(output.summary.network.interface_endpoints) == 5
    error_message = "staging gets two AZs, one NAT gateway and the interface endpoints"
  }

  assert {
    condition     = !output.summary.database.multi_az && output.summary.database.deletion_protection && output.summary.database.backup_retention_period == 7
    error_message = "staging's database is single-AZ but protected from deletion, with a week of backups"
  }

  assert {
    condition     = output.summary.off_hours_schedule == null
    error_message = "staging stays up"
  }

  assert {
    condition     = output.repository_urls.oneshot == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot"
    error_message = "staging runs the images of the account's shared repositories"
  }

  assert {
    condition     = output.pipeline.promote_to == "prod" && !contains(output.pipeline.stages, "Approve") && output.pipeline.release_role_arn == null
    error_message = "staging promotes to prod and owns none of the shared resources"
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
    condition     = contains(output.summary.worker_scaling.policies, "backlog") && contains(output.summary.worker_scaling.policies, "scale_from_zero") && output.summary.worker_scaling.metric_namespace == "Oneshot/staging" && output.summary.worker_scaling.emf_namespace_api == "Oneshot/staging"
    error_message = "the worker must scale on the backlog the app publishes in Oneshot/staging"
  }

  assert {
    condition     = output.summary.budget_filter == "user:env$staging" && tonumber(output.summary.budget.amount) == 500
    error_message = "staging must have its budget of 500 USD on its env tag"
  }

  assert {
    condition     = output.summary.log_retention_days == 30
    error_message = "staging keeps its logs 30 days"
  }

  assert {
    condition     = output.deploy.environment == "staging" && output.deploy.services.api.family == "oneshot-staging-api" && output.service_names.worker == "oneshot-staging-worker"
    error_message = "every name must be oneshot-staging"
  }
}
