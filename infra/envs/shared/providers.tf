provider "aws" {
  region              = var.region
  allowed_account_ids = var.allowed_account_ids

  # Every taggable resource carries these; the budget counts the cost of env = <env>.
  # Modules add service = api / worker / migrate / delivery where they know better.
  default_tags {
    tags = {
      project = "oneshot"
      env     = var.environment
      service = "platform"
      owner   = var.owner
    }
  }
}
