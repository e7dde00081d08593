# staging: the settings that make this environment what it is. Committed, so nothing secret:
# secret values are set with `aws secretsmanager put-secret-value` (docs/deploy.md).
# Replace the placeholders (ACCOUNT_ID, ZONE_ID, the example.com names) before the first apply.

environment         = "staging"
region              = "eu-west-1"
allowed_account_ids = ["ACCOUNT_ID"]
owner               = "oneshot-platform"

domain = {
  name            = "api.staging.oneshot.example.com"
  route53_zone_id = "ZONE_ID"
}

# Like prod's shape at a smaller size: two AZs, one NAT gateway, interface endpoints on.
network = {
  vpc_cidr                   = "10.20.0.0/16"
  az_count                   = 2
  single_nat_gateway         = true
  enable_interface_endpoints = true
}

database = {
  instance_class          = "db.t4g.small"
  allocated_storage       = 20
  max_allocated_storage   = 100
  backup_retention_period = 7
  multi_az                = false
  deletion_protection     = true
  performance_insights    = false
  connections_alarm       = 120
}

services = {
  api     = { cpu = 512, memory = 1024, min_capacity = 1, max_capacity = 3 }
  worker  = { cpu = 1024, memory = 4096, min_capacity = 0, max_capacity = 4, ephemeral_storage_gib = 50 }
  migrate = { cpu = 256, memory = 512 }
}

log_retention_days = 30

app_config = {
  max_iterations_cap = 8
  # The profiles API clients choose from, given to every container as ONESHOT_CONFIG_YAML
  # (SSM /oneshot/staging/profiles). No keys here: each agent names the environment variable
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
  monthly_limit = 500
}

# Promotes to prod when a release passed here.
pipeline = {}
