# The smoke test of api deployments (cmd/smokehook): a Lambda function ECS calls at
# POST_TEST_TRAFFIC_SHIFT, when the new tasks have all of the test listener's traffic and
# none of production's. It answers SUCCEEDED or FAILED; FAILED rolls the deployment back.
# Output api_deployment carries the hook (function and invoke role) to the api service.

locals {
  create_smoke_hook = var.smoke_hook_package != null
  smoke_hook_name   = "${var.name}-smoke-hook"
  # The port of the test listener, from the URL (443 when none is written).
  test_listener_port = tonumber(try(regex("^https://[^/:]+:([0-9]+)", var.smoke_test.base_url)[0], "443"))
  api_revision_arns  = "${local.service_arn_prefix}:service-revision/${local.cluster_name}/${var.api_service_name}/*"
}

resource "aws_cloudwatch_log_group" "smoke_hook" {
  name              = "/aws/lambda/${local.smoke_hook_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
  tags              = local.tags
}

resource "aws_security_group" "smoke_hook" {
  name        = local.smoke_hook_name
  description = "Smoke test hook: HTTPS out to the test listener and to AWS APIs, nothing in"
  vpc_id      = var.smoke_test.vpc_id
  tags        = merge(local.tags, { Name = local.smoke_hook_name })
}

# The load balancer is internet-facing, so its test listener is reached at its public
# addresses (through the NAT gateway), and they change: no narrower destination exists.
# The same holds for the public ECS and Secrets Manager endpoints where there is no VPC
# endpoint. Only HTTPS leaves.
#trivy:ignore:AVD-AWS-0104
resource "aws_vpc_security_group_egress_rule" "smoke_hook_https" {
  security_group_id = aws_security_group.smoke_hook.id
  description       = "HTTPS to AWS APIs and the production listener port"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

#trivy:ignore:AVD-AWS-0104
resource "aws_vpc_security_group_egress_rule" "smoke_hook_test_listener" {
  count = local.test_listener_port == 443 ? 0 : 1

  security_group_id = aws_security_group.smoke_hook.id
  description       = "HTTPS to the load balancer's test listener"
  ip_protocol       = "tcp"
  from_port         = local.test_listener_port
  to_port           = local.test_listener_port
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_iam_role" "smoke_hook" {
  name        = local.smoke_hook_name
  description = "Runs the smoke test of ${var.api_service_name} deployments"
  tags        = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })
}

resource "aws_iam_role_policy" "smoke_hook" {
  name = "smoke-test"
  role = aws_iam_role.smoke_hook.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "WriteOwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.smoke_hook.arn}:*"
        },
        {
          # Lambda manages the function's network interfaces in the VPC; these actions
          # take no resource ARN.
          Sid    = "AttachToTheVpc"
          Effect = "Allow"
          Action = [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
          ]
          Resource = "*"
        },
        {
          # X-Ray's write APIs take no resource ARN.
          Sid      = "Trace"
          Effect   = "Allow"
          Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          Resource = "*"
        },
        {
          Sid      = "ReadTheApiToken"
          Effect   = "Allow"
          Action   = "secretsmanager:GetSecretValue"
          Resource = var.smoke_test.token_secret_arn
        },
        {
          Sid      = "ReadTheRevisionUnderTest"
          Effect   = "Allow"
          Action   = "ecs:DescribeServiceRevisions"
          Resource = local.api_revision_arns
        },
        {
          # DescribeTaskDefinition takes no resource ARN.
          Sid      = "ReadItsTaskDefinition"
          Effect   = "Allow"
          Action   = "ecs:DescribeTaskDefinition"
          Resource = "*"
        },
        {
          Sid      = "DecryptOwnEnvironment"
          Effect   = "Allow"
          Action   = "kms:Decrypt"
          Resource = aws_kms_key.pipeline.arn
        },
      ],
      var.smoke_test.token_kms_key_arn == null ? [] : [
        {
          Sid      = "DecryptTheToken"
          Effect   = "Allow"
          Action   = "kms:Decrypt"
          Resource = var.smoke_test.token_kms_key_arn
          Condition = {
            StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" }
          }
        },
      ],
    )
  })
}

resource "aws_lambda_function" "smoke_hook" {
  count = local.create_smoke_hook ? 1 : 0

  function_name = local.smoke_hook_name
  description   = "Smoke test of ${var.api_service_name} deployments through the test listener"
  role          = aws_iam_role.smoke_hook.arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = ["arm64"]
  memory_size   = 128
  # The checks wait up to ready_timeout_seconds for /readyz, then need a few seconds more.
  timeout     = var.smoke_test.ready_timeout_seconds + 60
  kms_key_arn = aws_kms_key.pipeline.arn
  tags        = local.tags

  s3_bucket         = local.release_bucket_name
  s3_key            = var.smoke_hook_package.s3_key
  s3_object_version = var.smoke_hook_package.s3_object_version

  environment {
    variables = {
      SMOKE_BASE_URL        = trimsuffix(var.smoke_test.base_url, "/")
      SMOKE_TOKEN_SECRET_ID = var.smoke_test.token_secret_arn
      SMOKE_CONTAINER_NAME  = var.smoke_test.container_name
      SMOKE_READY_TIMEOUT   = "${var.smoke_test.ready_timeout_seconds}s"
    }
  }

  vpc_config {
    subnet_ids         = var.smoke_test.subnet_ids
    security_group_ids = [aws_security_group.smoke_hook.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.smoke_hook.name
  }

  depends_on = [aws_iam_role_policy.smoke_hook]
}

# ECS assumes this role to call the hook.
resource "aws_iam_role" "smoke_hook_invoke" {
  count = local.create_smoke_hook ? 1 : 0

  name        = "${local.smoke_hook_name}-invoke"
  description = "ECS invokes the smoke test hook of ${var.api_service_name} deployments"
  tags        = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })
}

resource "aws_iam_role_policy" "smoke_hook_invoke" {
  count = local.create_smoke_hook ? 1 : 0

  name = "invoke-smoke-hook"
  role = aws_iam_role.smoke_hook_invoke[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "lambda:InvokeFunction"
      Resource = aws_lambda_function.smoke_hook[0].arn
    }]
  })
}
