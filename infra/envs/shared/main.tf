# The environment is the stack module (infra/modules/stack); this root only chooses its
# settings (terraform.tfvars) and where its state lives (backend.hcl).
module "stack" {
  source = "../../modules/stack"

  environment = var.environment
  domain      = var.domain
  network     = var.network
  database    = var.database
  services    = var.services
  app_config  = var.app_config
  budget      = var.budget
  pipeline    = var.pipeline
  image       = { tag = var.image_tag, digest = var.image_digest }

  allowed_ingress_cidrs  = var.allowed_ingress_cidrs
  test_listener_cidrs    = var.test_listener_cidrs
  off_hours_schedule     = var.off_hours_schedule
  enable_execute_command = var.enable_execute_command
  log_retention_days     = var.log_retention_days
  alarm_emails           = var.alarm_emails
  owns_shared_resources  = var.owns_shared_resources
  force_destroy          = var.force_destroy
}
