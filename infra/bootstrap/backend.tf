# State of the bootstrap root itself.
#
# The bootstrap creates the state bucket, so its first apply cannot keep its state there: run it
# once with the default local backend (terraform.tfstate in this folder, never committed), then
# move that state into the bucket it created:
#
#   1. terraform init && terraform apply            # local state
#   2. uncomment the backend block below
#   3. terraform init -migrate-state \
#        -backend-config="bucket=$(terraform output -raw state_bucket_name)" \
#        -backend-config="region=$(terraform output -raw region)" \
#        -backend-config="kms_key_id=$(terraform output -raw kms_key_arn)"
#      answer "yes" to copy the existing state
#   4. delete the local terraform.tfstate and terraform.tfstate.backup
#
# Locking uses S3 native lock files (use_lockfile = true, Terraform >= 1.10): Terraform writes
# "<key>.tflock" next to the state object with a conditional write. No DynamoDB table is
# created or needed. The environment roots (infra/envs/<env>) use the same bucket with
# key "<env>/terraform.tfstate" and the same settings; the backend_config output lists them.
#
# terraform {
#   backend "s3" {
#     key          = "bootstrap/terraform.tfstate"
#     encrypt      = true
#     use_lockfile = true
#     # bucket, region and kms_key_id are passed with -backend-config (see step 3), so this file
#     # holds nothing account-specific.
#   }
# }
