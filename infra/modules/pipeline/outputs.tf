output "pipeline_name" {
  description = "Name of the environment's delivery pipeline, \"<name>-delivery\" (scripts/rollback.sh and the runbooks refer to it)."
  value       = aws_codepipeline.this.name
}

output "pipeline_arn" {
  description = "ARN of the delivery pipeline."
  value       = aws_codepipeline.this.arn
}

output "stage_names" {
  description = "The pipeline's stages in order: Source, Prepare, [Approve,] Migrate, DeployWorker, DeployApi[, Promote]."
  value       = [for s in local.stages : s.name]
}

output "api_deployment" {
  description = <<-EOT
    How the api service deploys, for the ecs-service module (deployment controller ECS): strategy
    (CANARY, LINEAR or BLUE_GREEN) with canary_configuration or linear_configuration, bake_time_in_minutes,
    lifecycle_hooks (the smoke test hook at POST_TEST_TRAFFIC_SHIFT; empty until smoke_hook_package is set)
    and alarms (names, enable, rollback) that roll a deployment back.
  EOT
  value = {
    strategy             = var.api_traffic_shift.strategy
    bake_time_in_minutes = local.bake_time_in_minutes
    canary_configuration = var.api_traffic_shift.strategy != "CANARY" ? null : {
      canary_percent              = var.api_traffic_shift.canary_percent
      canary_bake_time_in_minutes = var.api_traffic_shift.canary_bake_time_in_minutes
    }
    linear_configuration = var.api_traffic_shift.strategy != "LINEAR" ? null : {
      step_percent              = var.api_traffic_shift.step_percent
      step_bake_time_in_minutes = var.api_traffic_shift.step_bake_time_in_minutes
    }
    lifecycle_hooks = [
      for f in aws_lambda_function.smoke_hook : {
        hook_target_arn  = f.arn
        role_arn         = aws_iam_role.smoke_hook_invoke[0].arn
        lifecycle_stages = ["POST_TEST_TRAFFIC_SHIFT"]
      }
    ]
    alarms = {
      alarm_names = var.deployment_alarm_names
      enable      = true
      rollback    = true
    }
  }
}

output "deploy_config" {
  description = "The environment's deploy configuration as `oneshot deploy render` reads it. Re-export it from the environment root as output \"deploy\"."
  value       = local.deploy_config
}

output "release_bucket_name" {
  description = "Name of the shared release bucket (the release workflow's RELEASE_BUCKET)."
  value       = local.release_bucket_name
}

output "release_bucket_arn" {
  description = "ARN of the shared release bucket."
  value       = local.release_bucket_arn
}

output "release_kms_key_arn" {
  description = "ARN of the key that encrypts the release bucket."
  value       = local.release_kms_key_arn
}

output "release_object_key" {
  description = "Key of this environment's release.zip in the release bucket: writing it starts the pipeline."
  value       = local.release_object_key
}

output "deployed_object_key" {
  description = "Key of this environment's deploy record; its object versions are the deploy history scripts/rollback.sh reads."
  value       = local.deployed_object_key
}

output "release_role_arn" {
  description = "ARN of the role the release workflow assumes (GitHub variable AWS_RELEASE_ROLE_ARN); null unless create_release_bucket."
  value       = one(aws_iam_role.release[*].arn)
}

output "artifact_bucket_name" {
  description = "Name of the pipeline's (KMS-encrypted) artifact bucket."
  value       = aws_s3_bucket.artifacts.id
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the pipeline's artifacts, logs and notifications."
  value       = aws_kms_key.pipeline.arn
}

output "notification_topic_arn" {
  description = "ARN of the SNS topic that receives failed stages, approvals waiting and finished releases."
  value       = aws_sns_topic.notifications.arn
}

output "codebuild_project_name" {
  description = "Name of the CodeBuild project that runs the deploy steps (its log group is /aws/codebuild/<name>)."
  value       = aws_codebuild_project.deploy.name
}

output "pipeline_role_arn" {
  description = "ARN of the pipeline's role."
  value       = aws_iam_role.pipeline.arn
}

output "deploy_steps_role_arn" {
  description = "ARN of the deploy steps' (CodeBuild) role."
  value       = aws_iam_role.codebuild.arn
}

output "smoke_hook_function_arn" {
  description = "ARN of the smoke test Lambda function; null until smoke_hook_package is set."
  value       = one(aws_lambda_function.smoke_hook[*].arn)
}

output "smoke_hook_security_group_id" {
  description = "Security group of the smoke test function. Its traffic reaches the test listener from the NAT gateways' addresses (network output nat_public_ips), which the alb module's test_listener_cidrs must allow."
  value       = aws_security_group.smoke_hook.id
}
