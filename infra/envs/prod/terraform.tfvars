# prod: the settings that make this environment what it is. Committed, so nothing secret:
# secret values are set with `aws secretsmanager put-secret-value` (docs/deploy.md).
# Replace the placeholders (ACCOUNT_ID, ZONE_ID, the example.com names) before the first apply.

environment         = "prod"
region              = "eu-west-1"
allowed_account_ids = ["ACCOUNT_ID"]
owner               = "oneshot-platform"

domain = {
  name            = "api.oneshot.example.com"
  route53_zone_id = "ZONE_ID"
}

# Three AZs, a NAT gateway in each (losing an AZ does not cut the others' egress),
# interface endpoints on.
network = {
  vpc_cidr                   = "10.30.0.0/16"
  az_count                   = 3
  single_nat_gateway         = false
  enable_interface_endpoints = true
}

database = {
  instance_class          = "db.m7g.large"
  allocated_storage       = 100
  max_allocated_storage   = 500
  backup_retention_period = 14
  multi_az                = true
  deletion_protection     = true
  performance_insights    = true
  monitoring_interval     = 60
  connections_alarm       = 600
}

# The api on two on-demand tasks at least; one worker always on on-demand capacity, the
# rest mostly on Spot.
services = {
  api     = { cpu = 1024, memory = 2048, min_capacity = 2, max_capacity = 6 }
  worker  = { cpu = 2048, memory = 8192, min_capacity = 1, max_capacity = 10, on_demand_base = 1, ephemeral_storage_gib = 100 }
  migrate = { cpu = 512, memory = 1024 }
}

log_retention_days = 365

app_config = {
  max_iterations_cap = 10
  # The profiles API clients choose from, given to every container as ONESHOT_CONFIG_YAML
  # (SSM /oneshot/prod/profiles). No keys here: each agent names the environment variable
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
  monthly_limit = 2500
}

# The end of the line; every release waits for a manual approval first.
pipeline = {}
