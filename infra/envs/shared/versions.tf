terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25"
    }
  }

  # Partial configuration: bucket, key, region and KMS key come from backend.hcl
  # (terraform init -backend-config=backend.hcl); the offline checks run without a backend.
  backend "s3" {}
}
