# dev: the settings that make this environment what it is. Committed, so nothing secret:
# secret values are set with `aws secretsmanager put-secret-value` (docs/deploy.md).
# Replace the placeholders (ACCOUNT_ID, ZONE_ID, the example.com names) before the first apply.

environment         = "dev"
region              = "eu-west-1"
allowed_account_ids = ["ACCOUNT_ID"]
owner               = "oneshot-platform"

domain = {
  name            = "api.dev.oneshot.example.com"
  route53_zone_id = "ZONE_ID" # the public hosted zone of oneshot.example.com (or set certificate_arn instead)
}

# Two AZs, one NAT gateway, no interface endpoints: dev pays NAT data processing instead of
# five endpoints' hourly price.
network = {
  vpc_cidr                   = "10.10.0.0/16"
  az_count                   = 2
  single_nat_gateway         = true
  enable_interface_endpoints = false
}

database = {
  instance_class          = "db.t4g.micro"
  allocated_storage       = 20
  max_allocated_storage   = 50
  backup_retention_period = 1
  multi_az                = false
  deletion_protection     = false
  performance_insights    = false
  connections_alarm       = 60
}

services = {
  api     = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 2 }
  worker  = { cpu = 1024, memory = 2048, min_capacity = 0, max_capacity = 2, ephemeral_storage_gib = 30 }
  migrate = { cpu = 256, memory = 512 }
}

# Nothing runs at night or at the weekend.
off_hours_schedule = {
  scale_down = "cron(0 20 ? * MON-FRI *)"
  scale_up   = "cron(0 7 ? * MON-FRI *)"
  timezone   = "Europe/Berlin"
}

enable_execute_command = true
log_retention_days     = 7

app_config = {
  max_iterations_cap = 6
  # The profiles API clients choose from, given to every container as ONESHOT_CONFIG_YAML
  # (SSM /oneshot/dev/profiles). No keys here: each agent names the environment variable
  # its key is in, filled from the secrets in llm_secret_names.
  profiles_yaml = <<-YAML
    max_iterations: 4
    inactivity_timeout: 10m
    max_timeout: 1h
    profiles:
      default:
        worker: {executor: claude, model: sonnet, api_key_env: ANTHROPIC_API_KEY}
        auditor: {executor: direct, endpoint: "https://api.openai.com/v1", model: gpt-4.1-mini, api_key_env: OPENAI_API_KEY}
        max_iterations: 4
      codex:
        worker: {executor: codex, api_key_env: OPENAI_API_KEY}
        auditor: {executor: claude, model: sonnet, api_key_env: ANTHROPIC_API_KEY}
  YAML
}

budget = {
  monthly_limit = 200
  # Activating the env tag for cost allocation is an account-wide switch, for this root
  # only. Billing accepts it only once it has seen the tag, about a day after the first
  # apply: then set true and apply again (docs/deploy.md, "Costs").
  activate_cost_allocation_tag = false
}

# dev creates what the account's environments share: the ECR repositories (staging and
# prod run the digests dev built) and the pipeline's release bucket and release role.
owns_shared_resources = true
force_destroy         = true

pipeline = {
  github_repository = "oneshot-run/oneshot"
}
