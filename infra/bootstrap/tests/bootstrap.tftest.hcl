# prevent_destroy on the state bucket and key would stop the teardown of apply runs, so every run
# plans; override_during = plan gives the mocked computed values (ARNs) at plan time.
mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::oneshot-tfstate-123456789012-eu-west-1"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    }
  }

  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
  }
}

variables {
  region            = "eu-west-1"
  github_repository = "example-org/oneshot"
}

run "state_bucket_is_locked_down" {
  command = plan

  assert {
    condition     = aws_s3_bucket.state.bucket == "oneshot-tfstate-123456789012-eu-west-1"
    error_message = "the default bucket name must be <project>-tfstate-<account>-<region>"
  }

  assert {
    condition     = aws_s3_bucket_versioning.state.versioning_configuration[0].status == "Enabled"
    error_message = "the state bucket must be versioned"
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_server_side_encryption_configuration.state.rule :
      r.apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      r.apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.state.arn
    ])
    error_message = "state must be encrypted with the state CMK"
  }

  assert {
    condition     = aws_kms_key.state.enable_key_rotation
    error_message = "the state CMK must rotate"
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.state.block_public_acls &&
      aws_s3_bucket_public_access_block.state.block_public_policy &&
      aws_s3_bucket_public_access_block.state.ignore_public_acls &&
      aws_s3_bucket_public_access_block.state.restrict_public_buckets
    )
    error_message = "all public access to the state bucket must be blocked"
  }

  assert {
    condition     = aws_s3_bucket_ownership_controls.state.rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "object ownership must be enforced (ACLs off)"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.state.policy).Statement :
      s.Effect == "Deny" && s.Action == "s3:*" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
    ])
    error_message = "the bucket policy must deny every non-TLS request"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.state.policy).Statement :
      s.Effect == "Deny" && try(s.Condition.StringNotEquals["s3:x-amz-server-side-encryption-aws-kms-key-id"], "") == aws_kms_key.state.arn
    ])
    error_message = "the bucket policy must refuse objects encrypted with another key"
  }

  assert {
    condition = (
      aws_s3_bucket_lifecycle_configuration.state.rule[0].status == "Enabled" &&
      aws_s3_bucket_lifecycle_configuration.state.rule[0].noncurrent_version_expiration[0].noncurrent_days == 90 &&
      aws_s3_bucket_lifecycle_configuration.state.rule[0].noncurrent_version_expiration[0].newer_noncurrent_versions == 20
    )
    error_message = "noncurrent state versions must expire after 90 days, keeping the newest 20"
  }
}

run "github_oidc_provider" {
  command = plan

  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com"
    error_message = "the OIDC provider must be GitHub Actions'"
  }

  assert {
    condition     = aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "the only audience must be sts.amazonaws.com"
  }
}

run "deploy_roles_per_environment" {
  command = plan

  assert {
    condition     = toset([for r in aws_iam_role.deploy : r.name]) == toset(["oneshot-deploy-dev", "oneshot-deploy-staging", "oneshot-deploy-prod"])
    error_message = "there must be one deploy role per environment, named oneshot-deploy-<env>"
  }

  assert {
    condition = alltrue([
      for env, r in aws_iam_role.deploy :
      jsondecode(r.assume_role_policy).Statement[0].Condition.StringEquals == {
        "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        "token.actions.githubusercontent.com:sub" = "repo:example-org/oneshot:environment:${env}"
      }
    ])
    error_message = "deploy roles must require aud sts.amazonaws.com and sub repo:<org>/<repo>:environment:<env>"
  }

  assert {
    condition = alltrue([
      for r in aws_iam_role.deploy :
      jsondecode(r.assume_role_policy).Statement[0].Principal.Federated == aws_iam_openid_connect_provider.github[0].arn &&
      jsondecode(r.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity"
    ])
    error_message = "deploy roles must trust only the GitHub OIDC provider"
  }

  assert {
    condition = alltrue([
      for env in ["dev", "staging", "prod"] :
      contains(
        flatten([for s in jsondecode(aws_iam_role_policy.deploy[env].policy).Statement : flatten([s.Resource]) if s.Effect == "Deny" && s.Sid == "DenyForeignState"]),
        "${aws_s3_bucket.state.arn}/${env == "prod" ? "dev" : "prod"}/*"
      )
    ])
    error_message = "a deploy role must be denied the other environments' state"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.deploy["dev"].policy).Statement :
      alltrue([for r in flatten([s.Resource]) : r != "*"])
    ])
    error_message = "the deploy role's inline policy must not use a bare \"*\" resource"
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.deploy["dev"].policy).Statement : s.Resource
      if s.Sid == "ManageOwnEnvironmentRolesAndPolicies"
      ] == [[
        "arn:aws:iam::123456789012:role/oneshot-dev-*",
        "arn:aws:iam::123456789012:policy/oneshot-dev-*",
    ]]
    error_message = "IAM management must be scoped to the environment's own role and policy names"
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.deploy_managed)) == toset(["dev/PowerUserAccess", "staging/PowerUserAccess", "prod/PowerUserAccess"])
    error_message = "deploy roles get PowerUserAccess by default"
  }
}

run "plan_roles_read_only_for_pull_requests" {
  command = plan

  assert {
    condition     = toset([for r in aws_iam_role.plan : r.name]) == toset(["oneshot-plan-dev", "oneshot-plan-staging", "oneshot-plan-prod"])
    error_message = "there must be one plan role per environment, named oneshot-plan-<env>"
  }

  assert {
    condition = alltrue([
      for r in aws_iam_role.plan :
      jsondecode(r.assume_role_policy).Statement[0].Condition.StringEquals == {
        "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        "token.actions.githubusercontent.com:sub" = ["repo:example-org/oneshot:pull_request", "repo:example-org/oneshot:ref:refs/heads/main"]
      }
    ])
    error_message = "plan roles must require aud sts.amazonaws.com and sub repo:<org>/<repo>:pull_request or the main branch (drift)"
  }

  assert {
    condition     = alltrue([for a in aws_iam_role_policy_attachment.plan_read_only : a.policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"])
    error_message = "plan roles must have ReadOnlyAccess"
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.plan["staging"].policy).Statement : s.Resource
      if s.Effect == "Allow" && contains(flatten([s.Action]), "s3:PutObject")
    ] == ["${aws_s3_bucket.state.arn}/staging/terraform.tfstate.tflock"]
    error_message = "a plan role may write only its own environment's lock file"
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.plan["staging"].policy).Statement : s.Resource
      if s.Effect == "Allow" && contains(flatten([s.Action]), "s3:GetObject")
    ] == ["${aws_s3_bucket.state.arn}/staging/*"]
    error_message = "a plan role may read only its own environment's state"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.plan["staging"].policy).Statement :
      try(s.Condition.StringLike["kms:EncryptionContext:aws:s3:arn"], "") == "${aws_s3_bucket.state.arn}/staging/*"
      if startswith(s.Sid, "UseStateKey")
    ])
    error_message = "a plan role may use the state key only for its own prefix"
  }
}

run "backend_config_uses_native_locking" {
  command = plan

  assert {
    condition = output.backend_config["prod"] == {
      bucket       = "oneshot-tfstate-123456789012-eu-west-1"
      key          = "prod/terraform.tfstate"
      region       = "eu-west-1"
      encrypt      = true
      kms_key_id   = aws_kms_key.state.arn
      use_lockfile = true
    }
    error_message = "backend_config must give bucket, <env>/terraform.tfstate, the key ARN and use_lockfile = true"
  }

  assert {
    condition     = keys(output.deploy_role_arns) == ["dev", "prod", "staging"] && keys(output.plan_role_arns) == ["dev", "prod", "staging"]
    error_message = "role ARNs must be output per environment"
  }
}

run "existing_oidc_provider_and_subset_of_environments" {
  command = plan

  variables {
    environments             = ["prod"]
    github_oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    project                  = "acme"
    state_bucket_name        = "acme-terraform-state"
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0
    error_message = "a given OIDC provider ARN must be reused, not created"
  }

  assert {
    condition     = keys(aws_iam_role.deploy) == ["prod"] && aws_iam_role.deploy["prod"].name == "acme-deploy-prod"
    error_message = "only the listed environments get roles, named after the project"
  }

  assert {
    condition     = jsondecode(aws_iam_role.deploy["prod"].assume_role_policy).Statement[0].Principal.Federated == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    error_message = "roles must trust the given provider"
  }

  assert {
    condition     = aws_s3_bucket.state.bucket == "acme-terraform-state"
    error_message = "state_bucket_name must override the default name"
  }
}

run "rejects_repository_without_owner" {
  command = plan

  variables {
    github_repository = "oneshot"
  }

  expect_failures = [var.github_repository]
}

run "rejects_repository_url" {
  command = plan

  variables {
    github_repository = "https://github.com/example-org/oneshot"
  }

  expect_failures = [var.github_repository]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environments = ["dev", "qa"]
  }

  expect_failures = [var.environments]
}

run "rejects_duplicate_environment" {
  command = plan

  variables {
    environments = ["dev", "dev"]
  }

  expect_failures = [var.environments]
}

run "rejects_bad_region" {
  command = plan

  variables {
    region = "Europe"
  }

  expect_failures = [var.region]
}

run "rejects_administrator_access_for_deploy" {
  command = plan

  variables {
    deploy_role_managed_policies = ["AdministratorAccess"]
  }

  expect_failures = [var.deploy_role_managed_policies]
}
