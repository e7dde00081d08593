provider "aws" {
  region = var.region

  # Refuse to run against any other account by mistake (null: no check).
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = merge(
      {
        Project   = var.project
        Component = "bootstrap"
        ManagedBy = "terraform"
      },
      var.tags,
    )
  }
}
