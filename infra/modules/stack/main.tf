data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  # One name for every module: iam and observability derive log groups
  # (/ecs/<name>/<kind>) and service names (<name>-api, <name>-worker) from it,
  # and the bootstrap's deploy roles may only manage IAM named oneshot-<env>-*.
  name             = coalesce(var.name, "oneshot-${var.environment}")
  metric_namespace = "Oneshot/${var.environment}"
  app_port         = 8080

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  kms_deletion_window_in_days = var.force_destroy ? 7 : 30
  alb_deletion_protection     = var.environment == "prod" && !var.force_destroy
}

# ---------------------------------------------------------------------------
# Network, security groups, load balancer, database
# ---------------------------------------------------------------------------

module "network" {
  source = "../network"

  name        = local.name
  environment = var.environment
  tags        = var.tags

  vpc_cidr                    = var.network.vpc_cidr
  az_count                    = var.network.az_count
  single_nat_gateway          = var.network.single_nat_gateway
  enable_interface_endpoints  = var.network.enable_interface_endpoints
  flow_log_retention_days     = var.log_retention_days
  kms_deletion_window_in_days = local.kms_deletion_window_in_days
}

module "security_groups" {
  source = "../security-groups"

  name        = local.name
  environment = var.environment
  tags        = var.tags
  vpc_id      = module.network.vpc_id

  app_port              = local.app_port
  allowed_ingress_cidrs = var.allowed_ingress_cidrs
}

module "alb" {
  source = "../alb"

  name              = local.name
  environment       = var.environment
  tags              = var.tags
  vpc_id            = module.network.vpc_id
  public_subnet_ids = module.network.public_subnet_ids
  security_group_id = module.security_groups.alb_security_group_id
  certificate_arn   = local.certificate_arn
  app_port          = local.app_port

  # The smoke-test hook runs in the private subnets and reaches this
  # internet-facing load balancer through NAT, so the NAT addresses are its
  # source; operators may add their own ranges.
  test_listener_cidrs = concat([for ip in module.network.nat_public_ips : "${ip}/32"], var.test_listener_cidrs)

  deletion_protection              = local.alb_deletion_protection
  waf_rate_limit                   = var.waf_rate_limit
  waf_log_retention_days           = var.log_retention_days
  access_logs_retention_days       = var.log_retention_days
  access_logs_bucket_force_destroy = var.force_destroy
  kms_deletion_window_in_days      = local.kms_deletion_window_in_days
}

module "database" {
  source = "../database"

  name              = local.name
  environment       = var.environment
  tags              = var.tags
  subnet_ids        = module.network.private_db_subnet_ids
  security_group_id = module.security_groups.database_security_group_id

  instance_class               = var.database.instance_class
  engine_version               = var.database.engine_version
  allocated_storage            = var.database.allocated_storage
  max_allocated_storage        = var.database.max_allocated_storage
  backup_retention_period      = var.database.backup_retention_period
  multi_az                     = var.database.multi_az
  deletion_protection          = var.force_destroy ? false : var.database.deletion_protection
  performance_insights_enabled = var.database.performance_insights
  monitoring_interval          = var.database.monitoring_interval
  log_retention_days           = var.log_retention_days
  kms_deletion_window_in_days  = local.kms_deletion_window_in_days
}

# ---------------------------------------------------------------------------
# Configuration, images, artifacts
# ---------------------------------------------------------------------------

module "config" {
  source = "../config"

  name               = local.name
  environment        = var.environment
  tags               = var.tags
  profiles_yaml      = var.app_config.profiles_yaml
  max_iterations_cap = var.app_config.max_iterations_cap

  # smoke-test-token: an API token of the service for the pipeline's smoke
  # test (created with `oneshot token create` once the API runs).
  secret_names                = concat(var.app_config.llm_secret_names, ["smoke-test-token"])
  recovery_window_in_days     = var.force_destroy ? 0 : null
  kms_deletion_window_in_days = local.kms_deletion_window_in_days
}

module "artifacts" {
  source = "../artifacts"

  name        = local.name
  environment = var.environment
  tags        = var.tags

  # The repositories exist once per account (one image digest moves from
  # environment to environment); the bucket is the environment's own.
  create_repositories         = var.owns_shared_resources
  repository_namespace        = var.repository_namespace
  force_delete_repositories   = var.force_destroy && var.repository_namespace != null
  force_destroy_bucket        = var.force_destroy
  kms_deletion_window_in_days = local.kms_deletion_window_in_days
}

locals {
  # Repositories by short name. Where another root owns them, they are found
  # by name in this account's registry.
  repository_names = {
    for n in ["oneshot", "oneshot-agents"] : n => var.repository_namespace == null ? n : "${var.repository_namespace}/${n}"
  }
  registry = "${local.account_id}.dkr.ecr.${local.region}.${data.aws_partition.current.dns_suffix}"
  repository_urls = var.owns_shared_resources ? module.artifacts.repository_urls : {
    for k, n in local.repository_names : k => "${local.registry}/${n}"
  }
  repository_arns = var.owns_shared_resources ? module.artifacts.repository_arns : {
    for k, n in local.repository_names : k => "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${n}"
  }
  image_suffix = var.image.digest != null ? "@${var.image.digest}" : ":${var.image.tag}"
}

# ---------------------------------------------------------------------------
# ECS: cluster, roles, services
# ---------------------------------------------------------------------------

module "ecs_cluster" {
  source = "../ecs-cluster"

  name                        = local.name
  environment                 = var.environment
  tags                        = var.tags
  exec_log_retention_days     = var.log_retention_days
  kms_deletion_window_in_days = local.kms_deletion_window_in_days
}

locals {
  kinds = toset(["api", "worker", "migrate"])

  # What each kind runs and how big it is. The api and migrate run the plain
  # image, the worker the one with the agent CLIs; both images run as 65532,
  # the user ecs-service writes into Terraform's revisions too.
  tasks = {
    api = {
      repository            = "oneshot"
      user                  = "65532"
      port                  = 8080
      cpu                   = var.services.api.cpu
      memory                = var.services.api.memory
      cpu_architecture      = var.services.api.cpu_architecture
      ephemeral_storage_gib = var.services.api.ephemeral_storage_gib
      scratch_volumes       = { tmp = "/tmp" }
      min_capacity          = var.services.api.min_capacity
      max_capacity          = var.services.api.max_capacity
    }
    worker = {
      repository            = "oneshot-agents"
      user                  = "65532"
      port                  = 8081
      cpu                   = var.services.worker.cpu
      memory                = var.services.worker.memory
      cpu_architecture      = var.services.worker.cpu_architecture
      ephemeral_storage_gib = var.services.worker.ephemeral_storage_gib
      scratch_volumes       = { tmp = "/tmp", home = "/home/oneshot" }
      min_capacity          = var.services.worker.min_capacity
      max_capacity          = var.services.worker.max_capacity
    }
    migrate = {
      repository            = "oneshot"
      user                  = "65532"
      port                  = null
      cpu                   = var.services.migrate.cpu
      memory                = var.services.migrate.memory
      cpu_architecture      = var.services.migrate.cpu_architecture
      ephemeral_storage_gib = 21
      scratch_volumes       = { tmp = "/tmp" }
      min_capacity          = null
      max_capacity          = 1
    }
  }

  # The app composes its PostgreSQL URL (sslmode=require) from these and the
  # RDS-managed secret's username and password.
  database_environment = {
    ONESHOT_DATABASE_HOST = module.database.address
    ONESHOT_DATABASE_PORT = tostring(module.database.port)
    ONESHOT_DATABASE_NAME = module.database.db_name
  }
  database_secrets = {
    ONESHOT_DATABASE_USER     = "${module.database.master_user_secret_arn}:username::"
    ONESHOT_DATABASE_PASSWORD = "${module.database.master_user_secret_arn}:password::"
  }

  # The api publishes QueueDepth too (EMF), so the worker can scale from zero
  # while no worker runs.
  environment = {
    api = merge(local.database_environment, {
      ONESHOT_ENVIRONMENT   = var.environment
      ONESHOT_EMF_NAMESPACE = local.metric_namespace
    })
    worker = merge(local.database_environment, {
      ONESHOT_ENVIRONMENT   = var.environment
      ONESHOT_EMF_NAMESPACE = local.metric_namespace
    })
    migrate = merge(local.database_environment, {
      ONESHOT_ENVIRONMENT = var.environment
    })
  }

  # Parameter ARNs follow from their names (which are known when planning).
  parameter_arns = {
    for k, n in module.config.parameter_names : k => "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${n}"
  }
  config_secrets = {
    ONESHOT_CONFIG_YAML        = local.parameter_arns["profiles"]
    ONESHOT_MAX_ITERATIONS_CAP = local.parameter_arns["max_iterations_cap"]
  }
  llm_secrets = {
    for n in var.app_config.llm_secret_names : upper(replace(n, "-", "_")) => module.config.secret_arns[n]
  }
  # Each kind gets only the secrets it uses: the api the bootstrap token,
  # the worker the LLM keys, migrate only the database and the profiles.
  secrets = {
    api     = merge(local.database_secrets, local.config_secrets, { ONESHOT_BOOTSTRAP_TOKEN = module.config.bootstrap_token_secret_arn })
    worker  = merge(local.database_secrets, local.config_secrets, local.llm_secrets)
    migrate = merge(local.database_secrets, { ONESHOT_CONFIG_YAML = local.parameter_arns["profiles"] })
  }

  exec_enabled = { for k in local.kinds : k => var.enable_execute_command && k != "migrate" }
}

module "iam" {
  source   = "../iam"
  for_each = local.kinds

  name        = local.name
  environment = var.environment
  kind        = each.key
  tags        = var.tags
  cluster_arn = module.ecs_cluster.cluster_arn

  ecr_repository_arns = [local.repository_arns[local.tasks[each.key].repository]]
  secret_arns         = [for v in values(local.secrets[each.key]) : v if strcontains(v, ":secretsmanager:")]
  ssm_parameter_arns  = [for v in values(local.secrets[each.key]) : v if strcontains(v, ":ssm:")]
  kms_key_arns        = [module.config.kms_key_arn, module.database.kms_key_arn]

  artifacts_bucket_arn  = each.key == "migrate" ? null : module.artifacts.bucket_arn
  artifacts_kms_key_arn = each.key == "migrate" ? null : module.artifacts.kms_key_arn
  metric_namespace      = local.metric_namespace

  enable_execute_command = local.exec_enabled[each.key]
  exec_kms_key_arn       = local.exec_enabled[each.key] ? module.ecs_cluster.kms_key_arn : null
  exec_log_group_arn     = local.exec_enabled[each.key] ? module.ecs_cluster.exec_log_group_arn : null

  blue_green_load_balancer = each.key == "api" ? {
    load_balancer_arn = module.alb.alb_arn
    target_group_arns = [module.alb.blue_target_group_arn, module.alb.green_target_group_arn]
  } : null
}

locals {
  # ECS-native blue/green: ECS shifts traffic between the target groups by
  # rewriting the alb module's two listener rules, as the iam module's role.
  # How it shifts (canary), how long it keeps the old tasks, and the smoke test
  # it runs first come from the pipeline; without one, all at once.
  api_deployment = var.pipeline.enabled ? module.pipeline[0].api_deployment : null
  api_blue_green = {
    alternate_target_group_arn   = module.alb.green_target_group_arn
    production_listener_rule_arn = module.alb.production_listener_rule_arn
    test_listener_rule_arn       = module.alb.test_listener_rule_arn
    role_arn                     = module.iam["api"].load_balancer_role_arn
    strategy                     = try(local.api_deployment.strategy, "BLUE_GREEN")
    bake_time_in_minutes         = try(local.api_deployment.bake_time_in_minutes, var.environment == "prod" ? 15 : 5)
    canary_configuration         = try(local.api_deployment.canary_configuration, null)
    linear_configuration         = try(local.api_deployment.linear_configuration, null)
    lifecycle_hooks              = try(local.api_deployment.lifecycle_hooks, [])
  }
}

module "service" {
  source   = "../ecs-service"
  for_each = local.kinds

  name        = local.name
  environment = var.environment
  kind        = each.key
  tags        = var.tags

  cluster_arn        = module.ecs_cluster.cluster_arn
  cluster_name       = module.ecs_cluster.cluster_name
  execution_role_arn = module.iam[each.key].execution_role_arn
  task_role_arn      = module.iam[each.key].task_role_arn
  subnet_ids         = module.network.private_app_subnet_ids
  security_group_ids = [module.security_groups.security_group_ids[each.key]]

  # Seeds the first revision only: the pipeline owns revisions afterwards.
  image                 = "${local.repository_urls[local.tasks[each.key].repository]}${local.image_suffix}"
  cpu                   = local.tasks[each.key].cpu
  memory                = local.tasks[each.key].memory
  cpu_architecture      = local.tasks[each.key].cpu_architecture
  ephemeral_storage_gib = local.tasks[each.key].ephemeral_storage_gib
  scratch_volumes       = local.tasks[each.key].scratch_volumes
  environment_variables = local.environment[each.key]
  secrets               = local.secrets[each.key]
  metric_namespace      = local.metric_namespace

  log_retention_days     = var.log_retention_days
  log_kms_key_arn        = module.ecs_cluster.kms_key_arn
  enable_execute_command = local.exec_enabled[each.key]

  min_capacity            = local.tasks[each.key].min_capacity
  max_capacity            = local.tasks[each.key].max_capacity
  on_demand_base          = each.key == "worker" ? var.services.worker.on_demand_base : null
  backlog_per_task_target = var.services.worker.backlog_per_task_target
  off_hours_schedule      = each.key == "migrate" ? null : var.off_hours_schedule

  # api only
  target_group_arn              = each.key == "api" ? module.alb.blue_target_group_arn : null
  service_connect_namespace_arn = each.key == "api" ? module.ecs_cluster.service_connect_namespace_arn : null
  deployment_alarm_names        = each.key == "api" ? module.observability.deployment_alarm_names : []
  blue_green                    = each.key == "api" ? local.api_blue_green : null
}

# ---------------------------------------------------------------------------
# Alarms, dashboard, budget
# ---------------------------------------------------------------------------

module "observability" {
  source = "../observability"

  name             = local.name
  environment      = var.environment
  tags             = var.tags
  alarm_emails     = var.alarm_emails
  metric_namespace = local.metric_namespace

  alb_arn_suffix = module.alb.alb_arn_suffix
  target_group_arn_suffixes = {
    blue  = module.alb.blue_target_group_arn_suffix
    green = module.alb.green_target_group_arn_suffix
  }
  cluster_name                = module.ecs_cluster.cluster_name
  db_instance_identifier      = module.database.instance_identifier
  db_connections_threshold    = var.database.connections_alarm
  kms_deletion_window_in_days = local.kms_deletion_window_in_days
}

module "budget" {
  source = "../budget"

  name          = local.name
  environment   = var.environment
  tags          = var.tags
  monthly_limit = var.budget.monthly_limit
  sns_topic_arn = module.observability.sns_topic_arn
  alert_emails  = var.budget.alert_emails

  activate_cost_allocation_tag = var.budget.activate_cost_allocation_tag
}

# ---------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------

locals {
  # The environment's side of every task definition the pipeline renders
  # (internal/deploy): what Terraform gave the first revisions, so a rendered
  # revision differs from Terraform's only in its image. HOME and TMPDIR are
  # what ecs-service sets from the scratch volumes; ECS Exec needs its own
  # writable paths when it is on.
  exec_volumes = {
    ssm-managed-agents = "/managed-agents"
    ssm-agent-state    = "/var/lib/amazon/ssm"
    ssm-agent-logs     = "/var/log/amazon/ssm"
  }
  task_definitions = {
    repositories = local.repository_urls
    services = {
      for k in local.kinds : k => {
        family             = module.service[k].task_definition_family
        image              = local.tasks[k].repository
        cpu                = local.tasks[k].cpu
        memory             = local.tasks[k].memory
        cpu_architecture   = local.tasks[k].cpu_architecture
        execution_role_arn = module.iam[k].execution_role_arn
        task_role_arn      = module.iam[k].task_role_arn
        log_group_name     = module.service[k].log_group_name
        container_name     = module.service[k].container_name
        port               = local.tasks[k].port
        user               = local.tasks[k].user
        environment = merge({
          HOME   = lookup(local.tasks[k].scratch_volumes, "home", "/tmp")
          TMPDIR = lookup(local.tasks[k].scratch_volumes, "tmp", "/tmp")
        }, local.environment[k])
        secrets               = local.secrets[k]
        ephemeral_storage_gib = local.tasks[k].ephemeral_storage_gib
        scratch_volumes       = merge(local.exec_enabled[k] ? local.exec_volumes : {}, local.tasks[k].scratch_volumes)
        metric_namespace      = local.metric_namespace
      }
    }
  }
  deploy = merge({ environment = var.environment, region = local.region }, local.task_definitions)
}

locals {
  promote_to = coalesce(var.pipeline.promote_to, { dev = "staging", staging = "prod", prod = "none" }[var.environment])
}

module "pipeline" {
  source = "../pipeline"
  count  = var.pipeline.enabled ? 1 : 0

  name        = local.name
  environment = var.environment
  tags        = var.tags

  # The release bucket and the release workflow's role are shared like the
  # repositories, so the root that owns those creates them.
  create_release_bucket    = var.owns_shared_resources
  github_repository        = var.pipeline.github_repository
  github_oidc_provider_arn = var.owns_shared_resources ? "arn:${local.partition}:iam::${local.account_id}:oidc-provider/token.actions.githubusercontent.com" : null
  ecr_repository_arns      = var.owns_shared_resources ? values(local.repository_arns) : []
  promote_to               = local.promote_to == "none" ? null : local.promote_to
  require_approval         = var.pipeline.require_approval

  cluster_arn            = module.ecs_cluster.cluster_arn
  api_service_name       = module.service["api"].service_name
  worker_service_name    = module.service["worker"].service_name
  migrate_network        = module.service["migrate"].network_configuration
  task_definitions       = local.task_definitions
  pass_role_arns         = flatten([for k in local.kinds : module.iam[k].role_arns])
  deployment_alarm_names = module.observability.deployment_alarm_names

  smoke_test = {
    base_url           = "https://${var.domain.name}:${module.alb.test_listener_port}"
    token_secret_arn   = module.config.secret_arns["smoke-test-token"]
    token_kms_key_arn  = module.config.kms_key_arn
    vpc_id             = module.network.vpc_id
    subnet_ids         = module.network.private_app_subnet_ids
    container_name     = module.service["api"].container_name
    test_listener_port = module.alb.test_listener_port
  }
  smoke_hook_package = var.pipeline.smoke_hook_package

  notification_emails         = var.pipeline.notification_emails
  log_retention_days          = var.log_retention_days
  kms_deletion_window_in_days = local.kms_deletion_window_in_days
}
