locals {
  alb   = ["LoadBalancer", var.alb_arn_suffix]
  env   = ["Environment", var.environment]
  db    = ["DBInstanceIdentifier", var.db_instance_identifier]
  api   = ["ClusterName", var.cluster_name, "ServiceName", local.api_service_name]
  wrk   = ["ClusterName", var.cluster_name, "ServiceName", local.worker_service_name]
  appns = local.metric_namespace

  # Each row is one concern; widgets are laid out three to a row.
  dashboard_rows = [
    {
      title = "API"
      widgets = [
        {
          title = "Requests and target 5xx"
          stat  = "Sum"
          metrics = [
            concat(["AWS/ApplicationELB", "RequestCount"], local.alb),
            concat(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"], local.alb),
            concat(["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"], local.alb),
          ]
        },
        {
          title = "Response time (p50, p95, p99)"
          stat  = "p95"
          metrics = [
            concat(["AWS/ApplicationELB", "TargetResponseTime"], local.alb, [{ stat = "p50", label = "p50" }]),
            concat(["AWS/ApplicationELB", "TargetResponseTime"], local.alb, [{ stat = "p95", label = "p95" }]),
            concat(["AWS/ApplicationELB", "TargetResponseTime"], local.alb, [{ stat = "p99", label = "p99" }]),
          ]
        },
        {
          title = "Healthy / unhealthy targets"
          stat  = "Maximum"
          metrics = flatten([
            for role, suffix in var.target_group_arn_suffixes : [
              concat(["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", suffix], local.alb, [{ label = "${role} healthy" }]),
              concat(["AWS/ApplicationELB", "UnHealthyHostCount", "TargetGroup", suffix], local.alb, [{ label = "${role} unhealthy" }]),
            ]
          ])
        },
      ]
    },
    {
      title = "Queue"
      widgets = [
        {
          title = "Queued and in flight"
          stat  = "Maximum"
          metrics = [
            concat([local.appns, "QueueDepth"], local.env),
            concat([local.appns, "InFlight"], local.env),
          ]
        },
        {
          title = "Oldest queued task (s)"
          stat  = "Maximum"
          metrics = [
            concat([local.appns, "OldestQueuedAgeSeconds"], local.env),
          ]
        },
        {
          title = "Backlog per worker"
          stat  = "Maximum"
          metrics = [
            concat([local.appns, "BacklogPerWorker"], local.env),
          ]
        },
      ]
    },
    {
      title = "Workers"
      widgets = [
        {
          title = "Worker tasks (desired, running)"
          stat  = "Average"
          metrics = [
            concat(["ECS/ContainerInsights", "DesiredTaskCount"], local.wrk),
            concat(["ECS/ContainerInsights", "RunningTaskCount"], local.wrk),
            concat(["ECS/ContainerInsights", "RunningTaskCount"], local.api, [{ label = "api running" }]),
          ]
        },
        {
          title = "CPU and memory utilization (%)"
          stat  = "Average"
          metrics = [
            concat(["AWS/ECS", "CPUUtilization"], local.wrk, [{ label = "worker CPU" }]),
            concat(["AWS/ECS", "MemoryUtilization"], local.wrk, [{ label = "worker memory" }]),
            concat(["AWS/ECS", "CPUUtilization"], local.api, [{ label = "api CPU" }]),
            concat(["AWS/ECS", "MemoryUtilization"], local.api, [{ label = "api memory" }]),
          ]
        },
        {
          title = "Worker errors"
          stat  = "Sum"
          metrics = [
            [local.appns, "WorkerErrors"],
          ]
        },
      ]
    },
    {
      title = "Database"
      widgets = [
        {
          title = "CPU (%) and connections"
          stat  = "Average"
          metrics = [
            concat(["AWS/RDS", "CPUUtilization"], local.db),
            concat(["AWS/RDS", "DatabaseConnections"], local.db, [{ yAxis = "right" }]),
          ]
        },
        {
          title = "Free storage (bytes)"
          stat  = "Minimum"
          metrics = [
            concat(["AWS/RDS", "FreeStorageSpace"], local.db),
          ]
        },
        {
          title = "Read / write latency (s)"
          stat  = "Average"
          metrics = [
            concat(["AWS/RDS", "ReadLatency"], local.db),
            concat(["AWS/RDS", "WriteLatency"], local.db),
          ]
        },
      ]
    },
  ]

  # Row height: a one-line header (1) plus graphs (6).
  row_height = 7

  dashboard_widgets = concat(
    [
      {
        type   = "alarm"
        x      = 0
        y      = 0
        width  = 24
        height = 3
        properties = {
          title  = "Alarms"
          alarms = local.all_alarm_arns
        }
      },
    ],
    flatten([
      for r, row in local.dashboard_rows : concat(
        [
          {
            type       = "text"
            x          = 0
            y          = 3 + r * local.row_height
            width      = 24
            height     = 1
            properties = { markdown = "## ${row.title}" }
          },
        ],
        [
          for w, widget in row.widgets : {
            type   = "metric"
            x      = w * 8
            y      = 4 + r * local.row_height
            width  = 8
            height = 6
            properties = {
              title   = widget.title
              region  = local.region
              view    = "timeSeries"
              stacked = false
              period  = 60
              stat    = widget.stat
              metrics = widget.metrics
            }
          }
        ],
      )
    ]),
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
