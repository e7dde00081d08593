# State of the prod environment, in the bucket the bootstrap created
# (`terraform -chdir=infra/bootstrap output backend_config` prints these values).
# Use with: terraform init -backend-config=backend.hcl
# Replace ACCOUNT_ID and KEY_ID; the key must stay "prod/terraform.tfstate" (the deploy and
# plan roles may only touch prod/), and kms_key_id must be the key's ARN, not its alias (the
# bucket refuses objects encrypted with anything else).
bucket       = "oneshot-tfstate-ACCOUNT_ID-eu-west-1"
key          = "prod/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
kms_key_id   = "arn:aws:kms:eu-west-1:ACCOUNT_ID:key/KEY_ID"
use_lockfile = true
