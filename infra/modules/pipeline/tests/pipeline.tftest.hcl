mock_provider "aws" {
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

  mock_data "aws_region" {
    defaults = {
      region = "eu-west-1"
    }
  }

  mock_data "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::oneshot-releases-123456789012-eu-west-1"
    }
  }

  mock_data "aws_kms_alias" {
    defaults = {
      target_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/22222222-2222-2222-2222-222222222222"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::oneshot-releases-123456789012-eu-west-1"
    }
  }

  mock_resource "aws_codepipeline" {
    defaults = {
      arn = "arn:aws:codepipeline:eu-west-1:123456789012:oneshot-dev-delivery"
    }
  }

  mock_resource "aws_codebuild_project" {
    defaults = {
      arn = "arn:aws:codebuild:eu-west-1:123456789012:project/oneshot-dev-delivery"
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:123456789012:oneshot-dev-delivery-notifications"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/codebuild/oneshot-dev-delivery"
    }
  }

  mock_resource "aws_lambda_function" {
    defaults = {
      arn = "arn:aws:lambda:eu-west-1:123456789012:function:oneshot-dev-smoke-hook"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/oneshot-dev-smoke-hook-invoke"
    }
  }
}

variables {
  name                  = "oneshot-dev"
  environment           = "dev"
  create_release_bucket = true
  promote_to            = "staging"

  github_repository        = "example-org/oneshot"
  github_oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
  ecr_repository_arns = [
    "arn:aws:ecr:eu-west-1:123456789012:repository/oneshot",
    "arn:aws:ecr:eu-west-1:123456789012:repository/oneshot-agents",
  ]

  cluster_arn         = "arn:aws:ecs:eu-west-1:123456789012:cluster/oneshot-dev"
  api_service_name    = "oneshot-dev-api"
  worker_service_name = "oneshot-dev-worker"

  migrate_network = {
    subnets         = ["subnet-aaaa1111", "subnet-bbbb2222"]
    security_groups = ["sg-0123456789abcdef0"]
  }

  task_definitions = {
    repositories = {
      oneshot          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot"
      "oneshot-agents" = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot-agents"
    }
    services = {
      api = {
        family             = "oneshot-dev-api"
        cpu                = 256
        memory             = 512
        execution_role_arn = "arn:aws:iam::123456789012:role/oneshot-dev-api-execution"
        task_role_arn      = "arn:aws:iam::123456789012:role/oneshot-dev-api-task"
        log_group_name     = "/ecs/oneshot-dev/api"
        secrets            = { ONESHOT_DATABASE_URL = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/oneshot/dev/database-url" }
      }
      worker = {
        family             = "oneshot-dev-worker"
        image              = "oneshot-agents"
        cpu                = 512
        memory             = 1024
        execution_role_arn = "arn:aws:iam::123456789012:role/oneshot-dev-worker-execution"
        task_role_arn      = "arn:aws:iam::123456789012:role/oneshot-dev-worker-task"
        log_group_name     = "/ecs/oneshot-dev/worker"
      }
      migrate = {
        family             = "oneshot-dev-migrate"
        cpu                = 256
        memory             = 512
        execution_role_arn = "arn:aws:iam::123456789012:role/oneshot-dev-migrate-execution"
        task_role_arn      = "arn:aws:iam::123456789012:role/oneshot-dev-migrate-task"
        log_group_name     = "/ecs/oneshot-dev/migrate"
      }
    }
  }

  pass_role_arns = [
    "arn:aws:iam::123456789012:role/oneshot-dev-api-execution",
    "arn:aws:iam::123456789012:role/oneshot-dev-api-task",
  ]

  deployment_alarm_names = ["oneshot-dev-api-5xx-rate", "oneshot-dev-api-p95-latency", "oneshot-dev-api-unhealthy-hosts-blue"]

  smoke_test = {
    base_url          = "https://api.dev.example.com:8443"
    token_secret_arn  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/oneshot/dev/smoke-token-AbCdEf"
    token_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/33333333-3333-3333-3333-333333333333"
    vpc_id            = "vpc-0123456789abcdef0"
    subnet_ids        = ["subnet-aaaa1111", "subnet-bbbb2222"]
  }

  smoke_hook_package = {
    s3_key = "smokehook/v1.4.0/smokehook-arm64.zip"
  }
}

run "dev_stages_in_order_without_approval" {
  command = apply

  assert {
    condition     = [for s in aws_codepipeline.this.stage : s.name] == ["Source", "Prepare", "Migrate", "DeployWorker", "DeployApi", "Promote"]
    error_message = "dev runs Source, Prepare, Migrate, DeployWorker, DeployApi, Promote in that order, with no approval"
  }

  assert {
    condition     = output.stage_names == [for s in aws_codepipeline.this.stage : s.name]
    error_message = "output stage_names lists the pipeline's stages"
  }

  assert {
    condition     = aws_codepipeline.this.pipeline_type == "V2" && aws_codepipeline.this.execution_mode == "SUPERSEDED"
    error_message = "a V2 pipeline (stage rollback) where a newer release supersedes an older one"
  }

  assert {
    condition = (
      aws_codepipeline.this.stage[0].action[0].provider == "S3" &&
      aws_codepipeline.this.stage[0].action[0].configuration["S3ObjectKey"] == "dev/release.zip" &&
      aws_codepipeline.this.stage[0].action[0].configuration["PollForSourceChanges"] == "false"
    )
    error_message = "the source is the environment's release.zip in the release bucket, started by events rather than polling"
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.release.event_pattern).detail.object.key == ["dev/release.zip"]
    error_message = "the EventBridge rule starts the pipeline when its own release.zip is written"
  }

  assert {
    condition = (
      aws_codepipeline.this.stage[5].action[0].category == "Deploy" &&
      aws_codepipeline.this.stage[5].action[0].configuration["ObjectKey"] == "staging/release.zip" &&
      aws_codepipeline.this.stage[5].action[0].configuration["Extract"] == "false"
    )
    error_message = "Promote hands the same release artifact to staging's source key"
  }

  assert {
    condition = alltrue([
      for i in [1, 2, 3, 4] : aws_codepipeline.this.stage[i].action[0].provider == "CodeBuild" && aws_codepipeline.this.stage[i].action[0].configuration["ProjectName"] == aws_codebuild_project.deploy.name
    ])
    error_message = "Prepare, Migrate and the two deploys run in the deploy steps project"
  }

  assert {
    condition = (
      [for e in jsondecode(aws_codepipeline.this.stage[2].action[0].configuration["EnvironmentVariables"]) : e.value if e.name == "TASK_DEFINITION"] == ["#{Prepare.MIGRATE_TASK_DEFINITION}"] &&
      [for e in jsondecode(aws_codepipeline.this.stage[3].action[0].configuration["EnvironmentVariables"]) : e.value if e.name == "SERVICE"] == ["oneshot-dev-worker"] &&
      [for e in jsondecode(aws_codepipeline.this.stage[4].action[0].configuration["EnvironmentVariables"]) : e.value if e.name == "SERVICE"] == ["oneshot-dev-api"]
    )
    error_message = "Migrate runs the migrate revision Prepare registered; the deploys target the worker and api services"
  }

  assert {
    condition     = aws_codepipeline.this.stage[1].action[0].namespace == "Prepare"
    error_message = "Prepare exports the registered task definitions under its namespace"
  }

  assert {
    condition     = one(aws_codepipeline.this.artifact_store).encryption_key[0].type == "KMS" && one(aws_codepipeline.this.artifact_store).encryption_key[0].id == aws_kms_key.pipeline.arn
    error_message = "pipeline artifacts are encrypted with the module's CMK"
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.artifacts.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "aws:kms"
    error_message = "the artifact bucket is KMS-encrypted"
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.artifacts.block_public_acls && aws_s3_bucket_public_access_block.artifacts.restrict_public_buckets &&
      aws_s3_bucket_public_access_block.release[0].block_public_policy && aws_s3_bucket_public_access_block.release[0].ignore_public_acls
    )
    error_message = "no public access to either bucket"
  }

  assert {
    condition     = aws_s3_bucket_versioning.release[0].versioning_configuration[0].status == "Enabled" && aws_s3_bucket_notification.release[0].eventbridge
    error_message = "the release bucket is versioned (S3 source, deploy history) and sends events to EventBridge"
  }

  assert {
    condition     = jsondecode(aws_s3_object.deploy_config.content).services.api.family == "oneshot-dev-api" && aws_s3_object.deploy_config.key == "dev/deploy-config.json"
    error_message = "the deploy configuration is stored where the Prepare step reads it"
  }
}

run "rollback_configuration_and_alarms" {
  command = apply

  assert {
    condition = (
      aws_codepipeline.this.stage[3].on_failure[0].result == "ROLLBACK" &&
      aws_codepipeline.this.stage[4].on_failure[0].result == "ROLLBACK"
    )
    error_message = "a failed deploy stage rolls back to the last release that passed it"
  }

  assert {
    condition     = aws_codepipeline.this.stage[2].on_failure[0].result == "FAIL"
    error_message = "migrations only move forward: a failed migration fails the execution and nothing is deployed"
  }

  assert {
    condition = (
      output.api_deployment.strategy == "CANARY" &&
      output.api_deployment.canary_configuration.canary_percent == 10 &&
      output.api_deployment.canary_configuration.canary_bake_time_in_minutes == 5 &&
      output.api_deployment.linear_configuration == null &&
      output.api_deployment.bake_time_in_minutes == 5
    )
    error_message = "the api shifts 10% first, bakes, then the rest; the old tasks stay 5 minutes outside prod"
  }

  assert {
    condition = (
      output.api_deployment.alarms.enable && output.api_deployment.alarms.rollback &&
      output.api_deployment.alarms.alarm_names == tolist(["oneshot-dev-api-5xx-rate", "oneshot-dev-api-p95-latency", "oneshot-dev-api-unhealthy-hosts-blue"])
    )
    error_message = "the deployment alarms (5xx rate, p95 latency, unhealthy hosts) roll the api back"
  }

  assert {
    condition = (
      length(output.api_deployment.lifecycle_hooks) == 1 &&
      output.api_deployment.lifecycle_hooks[0].lifecycle_stages == ["POST_TEST_TRAFFIC_SHIFT"] &&
      output.api_deployment.lifecycle_hooks[0].hook_target_arn == aws_lambda_function.smoke_hook[0].arn &&
      output.api_deployment.lifecycle_hooks[0].role_arn == aws_iam_role.smoke_hook_invoke[0].arn
    )
    error_message = "the smoke test runs after test traffic reached the new tasks, before production traffic moves"
  }

  assert {
    condition     = one([for e in aws_codebuild_project.deploy.environment[0].environment_variable : e.value if e.name == "DEPLOYMENT_ALARMS"]) == "oneshot-dev-api-5xx-rate,oneshot-dev-api-p95-latency,oneshot-dev-api-unhealthy-hosts-blue"
    error_message = "the deploy steps check the same alarms after each deployment"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.codebuild.policy).Statement : s.Resource if s.Sid == "CheckTheDeploymentAlarms"
      ]) == [
      "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:oneshot-dev-api-5xx-rate",
      "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:oneshot-dev-api-p95-latency",
      "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:oneshot-dev-api-unhealthy-hosts-blue",
    ]
    error_message = "the deploy steps may read those alarms and no others"
  }

  assert {
    condition     = strcontains(aws_codebuild_project.deploy.source[0].buildspec, "ROLLBACK_SUCCESSFUL") && strcontains(aws_codebuild_project.deploy.source[0].buildspec, "check_alarms")
    error_message = "the deploy step fails when ECS rolled back and when an alarm fires after the deployment"
  }
}

run "prod_waits_for_approval_before_any_change" {
  command = apply

  variables {
    name                  = "oneshot-prod"
    environment           = "prod"
    create_release_bucket = false
    promote_to            = null
    cluster_arn           = "arn:aws:ecs:eu-west-1:123456789012:cluster/oneshot-prod"
    api_service_name      = "oneshot-prod-api"
    worker_service_name   = "oneshot-prod-worker"
  }

  assert {
    condition     = [for s in aws_codepipeline.this.stage : s.name] == ["Source", "Prepare", "Approve", "Migrate", "DeployWorker", "DeployApi"]
    error_message = "prod: the approval comes after rendering (so it shows the version) and before the migration and both deploys; prod promotes nowhere"
  }

  assert {
    condition = (
      aws_codepipeline.this.stage[2].action[0].category == "Approval" &&
      aws_codepipeline.this.stage[2].action[0].provider == "Manual" &&
      aws_codepipeline.this.stage[2].action[0].configuration["NotificationArn"] == aws_sns_topic.notifications.arn &&
      strcontains(aws_codepipeline.this.stage[2].action[0].configuration["CustomData"], "#{Prepare.RELEASE_VERSION}")
    )
    error_message = "the approval is announced on the notification topic and names the release version"
  }

  assert {
    condition     = output.api_deployment.bake_time_in_minutes == 15
    error_message = "prod keeps the old api tasks 15 minutes after the shift"
  }

  assert {
    condition     = length(aws_s3_bucket.release) == 0 && length(aws_iam_role.release) == 0 && output.release_role_arn == null
    error_message = "prod uses the release bucket dev created; it creates neither the bucket nor the release role"
  }

  assert {
    condition     = output.release_bucket_name == "oneshot-releases-123456789012-eu-west-1"
    error_message = "the shared release bucket is found by its conventional name"
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.pipeline.policy).Statement : s if s.Sid == "PromoteToNextEnvironment"]) == 0
    error_message = "without a next environment the pipeline role writes no release"
  }
}

run "approval_can_be_required_outside_prod" {
  command = plan

  variables {
    require_approval = true
  }

  assert {
    condition     = contains([for s in aws_codepipeline.this.stage : s.name], "Approve")
    error_message = "require_approval adds the approval stage in any environment"
  }
}

run "least_privilege" {
  command = apply

  assert {
    condition = toset([
      for s in jsondecode(aws_iam_role_policy.codebuild.policy).Statement : s.Sid if s.Resource == "*"
    ]) == toset(["RegisterTaskDefinitions"])
    error_message = "the deploy steps use * only for the ECS calls that take no resource"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.codebuild.policy).Statement : s if s.Sid == "RunTheMigration"
      ]) == {
      Sid       = "RunTheMigration"
      Effect    = "Allow"
      Action    = "ecs:RunTask"
      Resource  = "arn:aws:ecs:eu-west-1:123456789012:task-definition/oneshot-dev-migrate:*"
      Condition = { ArnEquals = { "ecs:cluster" = "arn:aws:ecs:eu-west-1:123456789012:cluster/oneshot-dev" } }
    }
    error_message = "the deploy steps may run the migrate family only, in this cluster only"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.codebuild.policy).Statement : s.Condition if s.Sid == "PassTheTaskRoles"
    ]).StringEquals["iam:PassedToService"] == "ecs-tasks.amazonaws.com"
    error_message = "the task roles can be passed to ECS tasks only"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.codebuild.policy).Statement : s.Resource if s.Sid == "DeployTheServices"
      ]) == [
      "arn:aws:ecs:eu-west-1:123456789012:service/oneshot-dev/oneshot-dev-api",
      "arn:aws:ecs:eu-west-1:123456789012:service/oneshot-dev/oneshot-dev-worker",
    ]
    error_message = "the deploy steps update this environment's two services only"
  }

  assert {
    condition = (
      one([for s in jsondecode(aws_iam_role_policy.pipeline.policy).Statement : s.Resource if s.Sid == "ReadOwnRelease"]) == "arn:aws:s3:::oneshot-releases-123456789012-eu-west-1/dev/release.zip" &&
      one([for s in jsondecode(aws_iam_role_policy.pipeline.policy).Statement : s.Resource if s.Sid == "PromoteToNextEnvironment"]) == "arn:aws:s3:::oneshot-releases-123456789012-eu-west-1/staging/release.zip"
    )
    error_message = "the pipeline reads its own release and writes only the next environment's"
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.pipeline.policy).Statement : s if s.Resource == "*"]) == 0
    error_message = "the pipeline role has no wildcard resource"
  }

  assert {
    condition = (
      jsondecode(aws_iam_role.release[0].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == [
        "repo:example-org/oneshot:ref:refs/heads/main",
        "repo:example-org/oneshot:ref:refs/tags/v*",
      ] &&
      jsondecode(aws_iam_role.release[0].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    )
    error_message = "only main and release tags of the repository may push releases"
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.release[0].policy).Statement : s.Resource if s.Sid == "HandReleasesToTheFirstPipeline"]) == [
      "arn:aws:s3:::oneshot-releases-123456789012-eu-west-1/dev/release.zip",
      "arn:aws:s3:::oneshot-releases-123456789012-eu-west-1/smokehook/*",
    ]
    error_message = "the release workflow can start dev's pipeline and upload the smoke hook, nothing else"
  }

  assert {
    condition     = jsondecode(aws_iam_role.pipeline.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "service roles are bound to this account (confused deputy)"
  }
}

run "smoke_hook_function" {
  command = apply

  assert {
    condition = (
      aws_lambda_function.smoke_hook[0].runtime == "provided.al2023" &&
      aws_lambda_function.smoke_hook[0].architectures == tolist(["arm64"]) &&
      aws_lambda_function.smoke_hook[0].handler == "bootstrap" &&
      aws_lambda_function.smoke_hook[0].s3_key == "smokehook/v1.4.0/smokehook-arm64.zip"
    )
    error_message = "the hook is the Go custom runtime for arm64, from the release bucket"
  }

  assert {
    condition = (
      aws_lambda_function.smoke_hook[0].environment[0].variables["SMOKE_BASE_URL"] == "https://api.dev.example.com:8443" &&
      aws_lambda_function.smoke_hook[0].environment[0].variables["SMOKE_TOKEN_SECRET_ID"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/oneshot/dev/smoke-token-AbCdEf" &&
      aws_lambda_function.smoke_hook[0].environment[0].variables["SMOKE_READY_TIMEOUT"] == "60s"
    )
    error_message = "the hook knows the test listener, the token's secret and how long to wait"
  }

  assert {
    condition     = aws_lambda_function.smoke_hook[0].timeout > 60 && aws_lambda_function.smoke_hook[0].timeout <= 900
    error_message = "the function outlives its readiness wait and stays under Lambda's limit"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.smoke_hook_test_listener[0].from_port == 8443 && aws_vpc_security_group_egress_rule.smoke_hook_https.from_port == 443
    error_message = "the hook may reach the test listener port and HTTPS, nothing else"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.smoke_hook_invoke[0].policy).Statement[0].Resource == aws_lambda_function.smoke_hook[0].arn
    error_message = "ECS may invoke this function and no other"
  }

  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.smoke_hook.policy).Statement : s.Resource if s.Sid == "ReadTheApiToken"]) == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/oneshot/dev/smoke-token-AbCdEf"
    error_message = "the hook reads the smoke test token and no other secret"
  }
}

run "no_smoke_hook_before_the_first_release" {
  command = plan

  variables {
    smoke_hook_package = null
  }

  assert {
    condition     = length(aws_lambda_function.smoke_hook) == 0 && length(output.api_deployment.lifecycle_hooks) == 0
    error_message = "without a package there is no function and the api deployment has no hook yet"
  }
}

run "notifications" {
  command = apply

  variables {
    notification_emails = ["oncall@example.com"]
  }

  assert {
    condition = (
      contains(aws_codestarnotifications_notification_rule.pipeline.event_type_ids, "codepipeline-pipeline-stage-execution-failed") &&
      contains(aws_codestarnotifications_notification_rule.pipeline.event_type_ids, "codepipeline-pipeline-manual-approval-needed")
    )
    error_message = "failed stages and waiting approvals are announced"
  }

  assert {
    condition     = one(aws_codestarnotifications_notification_rule.pipeline.target).address == aws_sns_topic.notifications.arn
    error_message = "notifications go to the module's topic"
  }

  assert {
    condition     = aws_sns_topic.notifications.kms_master_key_id == aws_kms_key.pipeline.arn
    error_message = "the topic is encrypted with the module's CMK"
  }

  assert {
    condition     = aws_sns_topic_subscription.email["oncall@example.com"].protocol == "email"
    error_message = "people can subscribe by email"
  }
}

run "linear_shift" {
  command = plan

  variables {
    api_traffic_shift = { strategy = "LINEAR", step_percent = 20, step_bake_time_in_minutes = 2 }
  }

  assert {
    condition     = output.api_deployment.strategy == "LINEAR" && output.api_deployment.linear_configuration.step_percent == 20 && output.api_deployment.canary_configuration == null
    error_message = "LINEAR shifts traffic in steps"
  }
}

# --- Input validation ---------------------------------------------------------------------

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}

run "rejects_promoting_to_itself" {
  command = plan

  variables {
    environment = "staging"
    promote_to  = "staging"
  }

  expect_failures = [var.promote_to]
}

run "rejects_task_definitions_without_migrate" {
  command = plan

  variables {
    task_definitions = {
      repositories = { oneshot = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot" }
      services = {
        api = {
          family             = "oneshot-dev-api", cpu = 256, memory = 512, log_group_name = "/ecs/oneshot-dev/api"
          execution_role_arn = "arn:aws:iam::123456789012:role/x", task_role_arn = "arn:aws:iam::123456789012:role/y"
        }
        worker = {
          family             = "oneshot-dev-worker", cpu = 256, memory = 512, log_group_name = "/ecs/oneshot-dev/worker"
          execution_role_arn = "arn:aws:iam::123456789012:role/x", task_role_arn = "arn:aws:iam::123456789012:role/y"
        }
      }
    }
  }

  expect_failures = [var.task_definitions]
}

run "rejects_secret_values_in_task_definitions" {
  command = plan

  variables {
    task_definitions = {
      repositories = { oneshot = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oneshot" }
      services = {
        for k in ["api", "worker", "migrate"] : k => {
          family             = "oneshot-dev-${k}", cpu = 256, memory = 512, log_group_name = "/ecs/oneshot-dev/${k}"
          execution_role_arn = "arn:aws:iam::123456789012:role/x", task_role_arn = "arn:aws:iam::123456789012:role/y"
          secrets            = { OPENAI_API_KEY = "sk-live-value" }
        }
      }
    }
  }

  expect_failures = [var.task_definitions]
}

run "rejects_a_plain_http_test_listener" {
  command = plan

  variables {
    smoke_test = {
      base_url         = "http://api.dev.example.com:8080"
      token_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/oneshot/dev/smoke-token-AbCdEf"
      vpc_id           = "vpc-0123456789abcdef0"
      subnet_ids       = ["subnet-aaaa1111"]
    }
  }

  expect_failures = [var.smoke_test]
}

run "rejects_deployments_without_alarms" {
  command = plan

  variables {
    deployment_alarm_names = []
  }

  expect_failures = [var.deployment_alarm_names]
}

run "rejects_pull_requests_as_release_subjects" {
  command = plan

  variables {
    release_subjects = ["repo:example-org/oneshot:pull_request"]
  }

  expect_failures = [var.release_subjects]
}

run "rejects_parallel_executions" {
  command = plan

  variables {
    execution_mode = "PARALLEL"
  }

  expect_failures = [var.execution_mode]
}

run "rejects_an_unknown_traffic_shift" {
  command = plan

  variables {
    api_traffic_shift = { strategy = "ALL_AT_ONCE" }
  }

  expect_failures = [var.api_traffic_shift]
}

run "release_bucket_needs_the_release_role_inputs" {
  command = plan

  variables {
    github_repository = null
  }

  expect_failures = [aws_iam_role.release]
}
