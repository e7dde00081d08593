# GitHub Actions authenticates with short-lived OIDC tokens; no long-lived AWS keys exist.

locals {
  github_oidc_host         = "token.actions.githubusercontent.com"
  github_oidc_provider_arn = var.github_oidc_provider_arn != null ? var.github_oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn

  # Subjects GitHub puts in the token: a job bound to a GitHub environment; a pull request;
  # and a job on main without an environment (the nightly drift check, read-only like plans).
  # The deploy jobs must declare `environment: <env>` so that environment protection rules
  # (reviewers, branch filters) gate every use of a deploy role.
  deploy_subject = { for env in var.environments : env => "repo:${var.github_repository}:environment:${env}" }
  plan_subjects  = ["repo:${var.github_repository}:pull_request", "repo:${var.github_repository}:ref:refs/heads/main"]

  # Object ARNs of the state of each environment, and of everything that is not theirs.
  state_prefix_arn = { for env in var.environments : env => "${aws_s3_bucket.state.arn}/${env}/*" }
  foreign_state_arns = {
    for env in var.environments : env => concat(
      [for other in var.environments : "${aws_s3_bucket.state.arn}/${other}/*" if other != env],
      ["${aws_s3_bucket.state.arn}/bootstrap/*"],
    )
  }

  deploy_policy_attachments = {
    for pair in setproduct(var.environments, var.deploy_role_managed_policies) :
    "${pair[0]}/${pair[1]}" => { environment = pair[0], policy = pair[1] }
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.github_oidc_provider_arn == null ? 1 : 0

  url            = "https://${local.github_oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # No thumbprint_list: IAM validates GitHub's certificate against its own trusted CAs.

  tags = { Name = "github-actions" }
}

# --- Deploy roles: one per environment, usable only from a job in that GitHub environment ------

resource "aws_iam_role" "deploy" {
  for_each = toset(var.environments)

  name                 = "${var.project}-deploy-${each.key}"
  description          = "Applies the ${each.key} Terraform root and deploys ${each.key} from GitHub Actions (${var.github_repository}, environment ${each.key})"
  max_session_duration = var.max_session_duration

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = local.github_oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.github_oidc_host}:aud" = "sts.amazonaws.com"
          "${local.github_oidc_host}:sub" = local.deploy_subject[each.key]
        }
      }
    }]
  })

  tags = { Name = "${var.project}-deploy-${each.key}", Environment = each.key }
}

resource "aws_iam_role_policy_attachment" "deploy_managed" {
  for_each = local.deploy_policy_attachments

  role       = aws_iam_role.deploy[each.value.environment].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value.policy}"
}

resource "aws_iam_role_policy" "deploy" {
  for_each = toset(var.environments)

  name = "terraform-${each.key}"
  role = aws_iam_role.deploy[each.key].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListOwnStatePrefix"
        Effect   = "Allow"
        Action   = "s3:ListBucket"
        Resource = aws_s3_bucket.state.arn
        Condition = {
          StringLike = { "s3:prefix" = ["${each.key}/*"] }
        }
      },
      {
        Sid      = "ReadWriteOwnStateAndLock"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = local.state_prefix_arn[each.key]
      },
      {
        Sid      = "UseStateKeyForOwnPrefix"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.state.arn
        Condition = {
          StringLike = { "kms:EncryptionContext:aws:s3:arn" = local.state_prefix_arn[each.key] }
        }
      },
      {
        # The managed policy allows all of S3 and KMS; these denies keep one environment's
        # pipeline away from the other environments' state and from the state store itself.
        Sid      = "DenyForeignState"
        Effect   = "Deny"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersion"]
        Resource = local.foreign_state_arns[each.key]
      },
      {
        Sid    = "DenyChangingTheStateStore"
        Effect = "Deny"
        Action = [
          "s3:DeleteBucket",
          "s3:DeleteBucketPolicy",
          "s3:PutBucketPolicy",
          "s3:PutBucketVersioning",
          "s3:PutEncryptionConfiguration",
          "s3:PutLifecycleConfiguration",
          "s3:PutBucketPublicAccessBlock",
          "s3:PutBucketOwnershipControls",
          "s3:DeleteObjectVersion",
        ]
        Resource = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      },
      {
        Sid    = "DenyChangingTheStateKey"
        Effect = "Deny"
        Action = [
          "kms:PutKeyPolicy",
          "kms:ScheduleKeyDeletion",
          "kms:DisableKey",
          "kms:DisableKeyRotation",
          "kms:CreateGrant",
        ]
        Resource = aws_kms_key.state.arn
      },
      {
        # IAM for the stack's own roles and policies only: every role the modules create is
        # named <project>-<env>-..., so a deploy role can manage neither itself nor another
        # environment's roles.
        Sid    = "ManageOwnEnvironmentRolesAndPolicies"
        Effect = "Allow"
        Action = [
          "iam:CreateRole",
          "iam:DeleteRole",
          "iam:GetRole",
          "iam:UpdateRole",
          "iam:UpdateRoleDescription",
          "iam:UpdateAssumeRolePolicy",
          "iam:TagRole",
          "iam:UntagRole",
          "iam:ListRoleTags",
          "iam:PutRolePolicy",
          "iam:GetRolePolicy",
          "iam:DeleteRolePolicy",
          "iam:ListRolePolicies",
          "iam:AttachRolePolicy",
          "iam:DetachRolePolicy",
          "iam:ListAttachedRolePolicies",
          "iam:ListInstanceProfilesForRole",
          "iam:PassRole",
          "iam:CreatePolicy",
          "iam:DeletePolicy",
          "iam:GetPolicy",
          "iam:GetPolicyVersion",
          "iam:CreatePolicyVersion",
          "iam:DeletePolicyVersion",
          "iam:ListPolicyVersions",
          "iam:TagPolicy",
          "iam:UntagPolicy",
        ]
        Resource = [
          "arn:${local.partition}:iam::${local.account_id}:role/${var.project}-${each.key}-*",
          "arn:${local.partition}:iam::${local.account_id}:policy/${var.project}-${each.key}-*",
        ]
      },
      {
        # Reading AWS managed policies, e.g. before attaching AmazonRDSEnhancedMonitoringRole.
        Sid      = "ReadAwsManagedPolicies"
        Effect   = "Allow"
        Action   = ["iam:GetPolicy", "iam:GetPolicyVersion"]
        Resource = "arn:${local.partition}:iam::aws:policy/*"
      },
    ]
  })
}

# --- Plan roles: read-only, for pull requests ----------------------------------------------------

# GitHub gives every pull request job the same subject, so each environment's plan role can be
# assumed from any pull request of the repository. That is why these roles are read-only and can
# write nothing but their environment's lock file.
resource "aws_iam_role" "plan" {
  for_each = toset(var.environments)

  name                 = "${var.project}-plan-${each.key}"
  description          = "Runs terraform plan for ${each.key} on pull requests of ${var.github_repository} (read-only)"
  max_session_duration = var.max_session_duration

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = local.github_oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.github_oidc_host}:aud" = "sts.amazonaws.com"
          "${local.github_oidc_host}:sub" = local.plan_subjects
        }
      }
    }]
  })

  tags = { Name = "${var.project}-plan-${each.key}", Environment = each.key }
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  for_each = toset(var.environments)

  role       = aws_iam_role.plan[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_iam_role_policy" "plan" {
  for_each = toset(var.environments)

  name = "terraform-plan-${each.key}"
  role = aws_iam_role.plan[each.key].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListOwnStatePrefix"
        Effect   = "Allow"
        Action   = "s3:ListBucket"
        Resource = aws_s3_bucket.state.arn
        Condition = {
          StringLike = { "s3:prefix" = ["${each.key}/*"] }
        }
      },
      {
        Sid      = "ReadOwnState"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = local.state_prefix_arn[each.key]
      },
      {
        # terraform plan takes the lock too: it may create and remove the lock file, and
        # write nothing else.
        Sid      = "WriteOwnLockFile"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject"]
        Resource = "${aws_s3_bucket.state.arn}/${local.state_keys[each.key]}.tflock"
      },
      {
        Sid      = "UseStateKeyForOwnPrefix"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.state.arn
        Condition = {
          StringLike = { "kms:EncryptionContext:aws:s3:arn" = local.state_prefix_arn[each.key] }
        }
      },
      {
        # ReadOnlyAccess includes s3:GetObject everywhere; the KMS condition above already keeps
        # other environments' state unreadable, this makes it explicit.
        Sid      = "DenyForeignState"
        Effect   = "Deny"
        Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"]
        Resource = local.foreign_state_arns[each.key]
      },
    ]
  })
}
