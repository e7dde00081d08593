output "name" {
  description = "Name of the stack's resources, \"oneshot-<env>\" unless overridden."
  value       = local.name
}

output "environment" {
  description = "Environment of the stack."
  value       = var.environment
}

output "region" {
  description = "AWS region the stack runs in."
  value       = local.region
}

# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

output "api_url" {
  description = "Base URL of the API (production traffic)."
  value       = "https://${var.domain.name}"
}

output "test_listener_url" {
  description = "Base URL of the blue/green test listener: the new api tasks during a deployment, reachable only from the NAT addresses and test_listener_cidrs."
  value       = "https://${var.domain.name}:${module.alb.test_listener_port}"
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = module.alb.alb_dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone ID of the load balancer, for alias records."
  value       = module.alb.alb_zone_id
}

output "certificate_arn" {
  description = "ARN of the ACM certificate the HTTPS listeners serve."
  value       = local.certificate_arn
}

output "dns_record" {
  description = "The record to create for domain.name where the stack does not manage DNS (no domain.route53_zone_id): a CNAME to the load balancer. Null when the stack created an alias record itself."
  value = local.manage_dns ? null : {
    name  = var.domain.name
    type  = "CNAME"
    value = module.alb.alb_dns_name
  }
}

output "nat_public_ips" {
  description = "Addresses all outbound traffic leaves from (for allow-lists of LLM providers or Git hosts)."
  value       = module.network.nat_public_ips
}

# ---------------------------------------------------------------------------
# What the pipeline, the deploy renderer and operators need
# ---------------------------------------------------------------------------

output "repository_urls" {
  description = "ECR repository URL by short name (oneshot: api and migrate; oneshot-agents: worker), for docker push."
  value       = local.repository_urls
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.ecs_cluster.cluster_name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = module.ecs_cluster.cluster_arn
}

output "service_names" {
  description = "ECS service names of the api and the worker."
  value       = { for k in ["api", "worker"] : k => module.service[k].service_name }
}

output "task_definition_families" {
  description = "Task definition family by kind (api, worker, migrate). The pipeline registers its revisions in these families."
  value       = { for k in local.kinds : k => module.service[k].task_definition_family }
}

output "migrate_network_configuration" {
  description = "Subnets and security group of the one-off migrate task (aws ecs run-task --network-configuration)."
  value       = module.service["migrate"].network_configuration
}

output "run_migrate_command" {
  description = "AWS CLI command that runs the migrate task once with the latest revision of its family (what the pipeline does before each release)."
  value = join(" ", [
    "aws ecs run-task",
    "--cluster ${module.ecs_cluster.cluster_name}",
    "--task-definition ${module.service["migrate"].task_definition_family}",
    "--capacity-provider-strategy capacityProvider=FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", module.network.private_app_subnet_ids)}],securityGroups=[${module.security_groups.migrate_security_group_id}],assignPublicIp=DISABLED}'",
    "--started-by manual-migrate",
  ])
}

output "secret_names" {
  description = "Secrets Manager secret names by short name (bootstrap-token, smoke-test-token, the LLM keys), for `aws secretsmanager put-secret-value --secret-id`. Terraform never sets their values."
  value       = module.config.secret_names
}

output "parameter_names" {
  description = "SSM parameter names by key (profiles, max_iterations_cap)."
  value       = module.config.parameter_names
}

output "database" {
  description = "Where the database is and where its credentials are (the RDS-managed secret, JSON username and password)."
  value = {
    address                = module.database.address
    port                   = module.database.port
    db_name                = module.database.db_name
    master_user_secret_arn = module.database.master_user_secret_arn
  }
}

output "alarm_topic_arn" {
  description = "SNS topic of the environment's alarms and budget alerts."
  value       = module.observability.sns_topic_arn
}

output "dashboard_name" {
  description = "Name of the environment's CloudWatch dashboard."
  value       = module.observability.dashboard_name
}

output "deploy" {
  description = "The environment's side of the task definitions (`oneshot deploy render --config`): region, repositories and, per kind, family, sizes, roles, log group, container, port, user, environment and secrets (ARNs only). The same values Terraform gives the first revisions."
  value       = local.deploy
}

output "pipeline" {
  description = "The environment's delivery pipeline: its name, the stages in order, the release bucket and the key of this environment's release (writing it starts the pipeline), the release workflow's role (where this root owns the shared resources) and the notification topic. Null when the pipeline is disabled."
  value = var.pipeline.enabled ? {
    name               = module.pipeline[0].pipeline_name
    stages             = module.pipeline[0].stage_names
    release_bucket     = module.pipeline[0].release_bucket_name
    release_object_key = module.pipeline[0].release_object_key
    release_role_arn   = module.pipeline[0].release_role_arn
    notification_topic = module.pipeline[0].notification_topic_arn
    promote_to         = local.promote_to == "none" ? null : local.promote_to
  } : null
}

# ---------------------------------------------------------------------------
# The decisions that differ between environments, in one place
# ---------------------------------------------------------------------------

output "summary" {
  description = "The environment's main decisions at a glance: network shape, database protection, service sizes and scaling, the api's deployment, logs, schedule and budget."
  value = {
    environment = var.environment
    name        = local.name
    network = {
      azs                 = module.network.azs
      nat_gateways        = length(module.network.nat_gateway_ids)
      interface_endpoints = keys(module.network.interface_endpoint_ids)
    }
    database = {
      instance_class          = var.database.instance_class
      multi_az                = module.database.multi_az
      deletion_protection     = module.database.deletion_protection
      performance_insights    = var.database.performance_insights
      backup_retention_period = var.database.backup_retention_period
      security_group_id       = module.security_groups.database_security_group_id
    }
    services = {
      for k in local.kinds : k => {
        cpu              = local.tasks[k].cpu
        memory           = local.tasks[k].memory
        cpu_architecture = local.tasks[k].cpu_architecture
        min_capacity     = local.tasks[k].min_capacity
        max_capacity     = local.tasks[k].max_capacity
        image            = "${local.repository_urls[local.tasks[k].repository]}${local.image_suffix}"
        security_groups  = module.service[k].network_configuration.security_groups
        secrets          = sort(keys(local.secrets[k]))
      }
    }
    worker_scaling = {
      policies              = sort(keys(module.service["worker"].scaling_policy_arns))
      metric_namespace      = module.service["worker"].metric_namespace
      emf_namespace_api     = local.environment.api.ONESHOT_EMF_NAMESPACE
      emf_namespace_worker  = local.environment.worker.ONESHOT_EMF_NAMESPACE
      scale_from_zero_alarm = module.service["worker"].scale_from_zero_alarm_name
      on_demand_base        = var.services.worker.on_demand_base
    }
    api_deployment = merge(local.api_blue_green, {
      alarms        = module.observability.deployment_alarm_names
      target_group  = module.alb.blue_target_group_arn
      load_balancer = module.alb.alb_arn
    })
    alb_deletion_protection = local.alb_deletion_protection
    log_retention_days      = var.log_retention_days
    off_hours_schedule      = var.off_hours_schedule
    budget                  = module.budget.limit
    budget_filter           = module.budget.cost_filter
  }
}
