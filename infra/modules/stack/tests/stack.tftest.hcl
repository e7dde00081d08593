# The composition: how the modules are wired together. The environment roots
# (infra/envs/*/tests) assert each environment's committed settings on top of this.

mock_provider "aws" {
  source = "./tests/mocks"
}

override_resource {
  target = aws_acm_certificate.api
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

variables {
  environment = "dev"
  domain = {
    name            = "api.dev.oneshot.example.com"
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
  }
  network = {
    az_count                   = 2
    single_nat_gateway         = true
    enable_interface_endpoints = false
  }
  database = {
    instance_class          = "db.t4g.micro"
    backup_retention_period = 1
  }
  services = {
    api    = { cpu = 256, memory = 512, max_capacity = 2 }
    worker = { cpu = 1024, memory = 2048, max_capacity = 2, ephemeral_storage_gib = 30 }
  }
  off_hours_schedule = {
    scale_down = "cron(0 20 ? * MON-FRI *)"
    scale_up   = "cron(0 7 ? * MON-FRI *)"
    timezone   = "Europe/Berlin"
  }
  app_config = {
    profiles_yaml = "profiles:\n  default:\n    worker: {executor: claude}\n    auditor: {executor: direct, model: gpt-4.1}\n"
  }
  budget                = { monthly_limit = 200 }
  log_retention_days    = 7
  owns_shared_resources = true
  force_destroy         = true
  pipeline              = { github_repository = "oneshot-run/oneshot" }
}

run "wiring" {
  command = apply

  assert {
    condition     = output.name == "oneshot-dev" && module.service["api"].service_name == "oneshot-dev-api" && module.service["worker"].service_name == "oneshot-dev-worker"
    error_message = "every module must get the one name oneshot-<env>: iam and observability derive service names and log groups from it"
  }

  assert {
    condition     = alltrue([for k in ["api", "worker", "migrate"] : module.service[k].log_group_name == "/ecs/oneshot-dev/${k}"])
    error_message = "the log groups must be /ecs/<name>/<kind>, where the iam module's execution roles may write"
  }

  assert {
    condition = (
      output.summary.api_deployment.production_listener_rule_arn == module.alb.production_listener_rule_arn &&
      output.summary.api_deployment.test_listener_rule_arn == module.alb.test_listener_rule_arn &&
      output.summary.api_deployment.alternate_target_group_arn == module.alb.green_target_group_arn &&
      output.summary.api_deployment.target_group == module.alb.blue_target_group_arn &&
      output.summary.api_deployment.role_arn == module.iam["api"].load_balancer_role_arn &&
      output.summary.api_deployment.role_arn != null &&
      module.alb.production_listener_rule_arn != module.alb.test_listener_rule_arn
    )
    error_message = "the api must deploy blue/green: blue target group, green as the alternate, the alb's production and test listener rules, and the iam module's load balancer role"
  }

  assert {
    condition     = output.summary.api_deployment.alarms == module.observability.deployment_alarm_names && length(output.summary.api_deployment.alarms) > 0
    error_message = "api deployments must roll back on the observability module's deployment alarms"
  }

  assert {
    condition = (
      contains(output.summary.worker_scaling.policies, "backlog") &&
      contains(output.summary.worker_scaling.policies, "scale_from_zero") &&
      output.summary.worker_scaling.metric_namespace == "Oneshot/dev" &&
      output.summary.worker_scaling.emf_namespace_worker == "Oneshot/dev" &&
      output.summary.worker_scaling.emf_namespace_api == "Oneshot/dev"
    )
    error_message = "the worker must scale on backlog (and from zero) in the namespace the api and the worker publish their EMF metrics in"
  }

  assert {
    condition = (
      contains(output.summary.services.api.secrets, "ONESHOT_BOOTSTRAP_TOKEN") &&
      !contains(output.summary.services.api.secrets, "OPENAI_API_KEY") &&
      contains(output.summary.services.worker.secrets, "OPENAI_API_KEY") &&
      contains(output.summary.services.worker.secrets, "ANTHROPIC_API_KEY") &&
      !contains(output.summary.services.worker.secrets, "ONESHOT_BOOTSTRAP_TOKEN") &&
      output.summary.services.migrate.secrets == tolist(["ONESHOT_CONFIG_YAML", "ONESHOT_DATABASE_PASSWORD", "ONESHOT_DATABASE_USER"]) &&
      alltrue([for k in ["api", "worker", "migrate"] : !contains(output.summary.services[k].secrets, "SMOKE_TEST_TOKEN")])
    )
    error_message = "each kind must get only its secrets: the api the bootstrap token, the worker the LLM keys, migrate only the database and the config; no container gets the smoke-test token"
  }

  assert {
    condition = alltrue([for k in ["api", "worker", "migrate"] :
      output.deploy.services[k].secrets.ONESHOT_DATABASE_USER == "${module.database.master_user_secret_arn}:username::" &&
      output.deploy.services[k].secrets.ONESHOT_DATABASE_PASSWORD == "${module.database.master_user_secret_arn}:password::" &&
      output.deploy.services[k].environment.ONESHOT_DATABASE_HOST == module.database.address &&
      output.deploy.services[k].environment.ONESHOT_DATABASE_PORT == "5432" &&
      output.deploy.services[k].environment.ONESHOT_DATABASE_NAME == "oneshot" &&
      output.deploy.services[k].environment.ONESHOT_ENVIRONMENT == "dev" &&
      !contains(keys(output.deploy.services[k].environment), "ONESHOT_DATABASE_URL")
    ])
    error_message = "every kind must get the database host, port and name as plain variables and the user and password from the RDS-managed secret's JSON keys"
  }

  assert {
    condition = (
      output.deploy.services.api.secrets.ONESHOT_CONFIG_YAML == "arn:aws:ssm:eu-west-1:123456789012:parameter/oneshot/dev/profiles" &&
      output.deploy.services.worker.secrets.ONESHOT_MAX_ITERATIONS_CAP == "arn:aws:ssm:eu-west-1:123456789012:parameter/oneshot/dev/max_iterations_cap" &&
      output.deploy.services.api.secrets.ONESHOT_BOOTSTRAP_TOKEN == module.config.bootstrap_token_secret_arn &&
      output.deploy.services.worker.secrets.OPENAI_API_KEY == module.config.secret_arns["openai-api-key"]
    )
    error_message = "the profiles come from /oneshot/<env>/profiles, the token and LLM keys from their Secrets Manager secrets"
  }

  assert {
    condition = (
      output.deploy.environment == "dev" && output.deploy.region == "eu-west-1" &&
      output.deploy.services.api.family == "oneshot-dev-api" && output.deploy.services.api.port == 8080 && output.deploy.services.api.user == "65532" &&
      output.deploy.services.worker.family == "oneshot-dev-worker" && output.deploy.services.worker.image == "oneshot-agents" && output.deploy.services.worker.user == "65532" &&
      tomap(output.deploy.services.worker.scratch_volumes) == tomap({ tmp = "/tmp", home = "/home/oneshot" }) &&
      output.deploy.services.worker.environment.HOME == "/home/oneshot" &&
      output.deploy.services.migrate.family == "oneshot-dev-migrate" && output.deploy.services.migrate.port == null &&
      output.deploy.services.api.execution_role_arn == module.iam["api"].execution_role_arn &&
      alltrue(flatten([for s in values(output.deploy.services) : [for v in values(s.secrets) : startswith(v, "arn:")]]))
    )
    error_message = "the deploy output must describe each task definition as the renderer needs it, secrets as ARNs only"
  }

  assert {
    condition     = output.repository_urls == module.artifacts.repository_urls && length(output.repository_urls) == 2
    error_message = "the root that owns the shared resources must create the ECR repositories and use them"
  }

  assert {
    condition     = output.summary.services.api.image == "${module.artifacts.repository_urls["oneshot"]}:bootstrap" && output.summary.services.worker.image == "${module.artifacts.repository_urls["oneshot-agents"]}:bootstrap"
    error_message = "api and migrate must run the oneshot image, the worker the oneshot-agents image"
  }

  assert {
    condition = (
      aws_route53_record.api[0].name == "api.dev.oneshot.example.com" &&
      one(aws_route53_record.api[0].alias).name == module.alb.alb_dns_name &&
      aws_acm_certificate.api[0].domain_name == "api.dev.oneshot.example.com" &&
      aws_acm_certificate.api[0].validation_method == "DNS" &&
      aws_route53_record.certificate_validation["api.dev.oneshot.example.com"].name == "_0123456789abcdef.api.dev.oneshot.example.com." &&
      output.certificate_arn == aws_acm_certificate_validation.api[0].certificate_arn &&
      output.dns_record == null
    )
    error_message = "with a Route 53 zone the stack must request and DNS-validate the certificate and alias the name to the ALB"
  }

  assert {
    condition     = module.budget.cost_filter == "user:env$dev" && tonumber(module.budget.limit.amount) == 200
    error_message = "the environment must have its budget, filtered on its env tag"
  }

  assert {
    condition     = output.summary.database.security_group_id == module.security_groups.database_security_group_id
    error_message = "the database must sit in the security-groups module's database group"
  }

  assert {
    condition     = startswith(output.run_migrate_command, "aws ecs run-task --cluster ") && strcontains(output.run_migrate_command, "--task-definition oneshot-dev-migrate") && strcontains(output.run_migrate_command, "assignPublicIp=DISABLED")
    error_message = "run_migrate_command must run the migrate family in the private subnets"
  }
}

run "pipeline_drives_the_api_deployment" {
  command = apply

  variables {
    pipeline = {
      github_repository  = "oneshot-run/oneshot"
      smoke_hook_package = { s3_key = "smokehook/v1.2.3/smokehook-arm64.zip" }
    }
  }

  assert {
    condition     = output.pipeline.promote_to == "staging" && contains(output.pipeline.stages, "Promote") && !contains(output.pipeline.stages, "Approve")
    error_message = "dev's pipeline must promote to staging without waiting for an approval"
  }

  assert {
    condition = (
      output.summary.api_deployment.strategy == module.pipeline[0].api_deployment.strategy &&
      output.summary.api_deployment.bake_time_in_minutes == module.pipeline[0].api_deployment.bake_time_in_minutes &&
      output.summary.api_deployment.canary_configuration == module.pipeline[0].api_deployment.canary_configuration
    )
    error_message = "the api service must shift traffic the way the pipeline says"
  }

  assert {
    condition = (
      length(output.summary.api_deployment.lifecycle_hooks) == 1 &&
      output.summary.api_deployment.lifecycle_hooks[0].hook_target_arn == module.pipeline[0].smoke_hook_function_arn &&
      contains(output.summary.api_deployment.lifecycle_hooks[0].lifecycle_stages, "POST_TEST_TRAFFIC_SHIFT")
    )
    error_message = "once the smoke hook is released, every api deployment must run it after test traffic reached the new tasks"
  }
}

run "shared_repositories_from_another_root" {
  command = plan

  variables {
    environment           = "staging"
    owns_shared_resources = false
    image                 = { digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }
  }

  assert {
    condition = output.repository_urls == tomap({
      oneshot        = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot"
      oneshot-agents = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot-agents"
    })
    error_message = "without owning the shared resources the stack must use the account's repositories by name"
  }

  assert {
    condition     = output.summary.services.worker.image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot-agents@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    error_message = "an image digest must win over the tag"
  }

  assert {
    condition     = output.name == "oneshot-staging" && output.deploy.services.api.family == "oneshot-staging-api"
    error_message = "names follow the environment"
  }
}

run "existing_certificate_without_dns" {
  command = plan

  variables {
    domain = {
      name            = "api.dev.oneshot.example.com"
      certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/99999999-2222-3333-4444-555555555555"
    }
  }

  assert {
    condition     = length(aws_acm_certificate.api) == 0 && length(aws_route53_record.api) == 0 && length(aws_route53_record.certificate_validation) == 0
    error_message = "with a given certificate and no zone the stack must create neither a certificate nor DNS records"
  }

  assert {
    condition     = output.certificate_arn == "arn:aws:acm:eu-west-1:123456789012:certificate/99999999-2222-3333-4444-555555555555"
    error_message = "the given certificate must be served"
  }
}

run "throw_away_stack_name_and_namespace" {
  command = plan

  variables {
    name                 = "oneshot-t-ab12cd"
    repository_namespace = "oneshot-t-ab12cd"
  }

  assert {
    condition     = output.name == "oneshot-t-ab12cd" && output.task_definition_families.api == "oneshot-t-ab12cd-api"
    error_message = "name must override oneshot-<env> everywhere"
  }
}

# The database port is never open to an address range, whatever the environment lets in:
# the security-groups module with the stack's inputs.
run "no_security_group_opens_postgres_to_a_cidr" {
  command = apply

  module {
    source = "../security-groups"
  }

  variables {
    name                  = "oneshot-prod"
    environment           = "prod"
    vpc_id                = "vpc-0123456789abcdef0"
    app_port              = 8080
    allowed_ingress_cidrs = ["0.0.0.0/0"]
  }

  assert {
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.alb_public), values(aws_vpc_security_group_ingress_rule.from_security_group)) :
      r.cidr_ipv4 == null && r.cidr_ipv6 == null if r.from_port <= 5432 && r.to_port >= 5432
    ])
    error_message = "PostgreSQL may only be reached from security groups, never from a CIDR"
  }

  assert {
    condition = length([
      for r in values(aws_vpc_security_group_ingress_rule.from_security_group) : r if r.from_port == 5432 && r.referenced_security_group_id != null
    ]) == 3
    error_message = "PostgreSQL must be reachable from exactly the api, worker and migrate groups"
  }
}

run "rejects_a_domain_without_zone_or_certificate" {
  command = plan

  variables {
    domain = { name = "api.dev.oneshot.example.com" }
  }

  expect_failures = [var.domain]
}

run "rejects_the_zone_placeholder" {
  command = plan

  variables {
    domain = { name = "api.dev.oneshot.example.com", route53_zone_id = "ZONE_ID" }
  }

  expect_failures = [var.domain]
}

run "rejects_four_azs" {
  command = plan

  variables {
    network = { az_count = 4 }
  }

  expect_failures = [var.network]
}

run "rejects_an_api_that_can_scale_to_zero" {
  command = plan

  variables {
    services = { api = { min_capacity = 0 } }
  }

  expect_failures = [var.services]
}

run "rejects_llm_secret_named_like_the_token" {
  command = plan

  variables {
    app_config = { profiles_yaml = "profiles: {}\n", llm_secret_names = ["bootstrap-token"] }
  }

  expect_failures = [var.app_config]
}

run "rejects_an_owner_without_the_release_repository" {
  command = plan

  variables {
    pipeline = {}
  }

  expect_failures = [var.pipeline]
}
