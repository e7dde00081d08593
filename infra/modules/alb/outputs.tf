output "alb_arn" {
  description = "ARN of the application load balancer."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ARN suffix of the ALB (the LoadBalancer dimension of its CloudWatch metrics)."
  value       = aws_lb.this.arn_suffix
}

output "alb_name" {
  description = "Name of the ALB."
  value       = aws_lb.this.name
}

output "alb_dns_name" {
  description = "DNS name of the ALB (target of the service's DNS alias record)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 hosted zone ID of the ALB, for alias records."
  value       = aws_lb.this.zone_id
}

output "http_listener_arn" {
  description = "ARN of the port 80 listener (redirects to HTTPS)."
  value       = aws_lb_listener.http.arn
}

output "https_listener_arn" {
  description = "ARN of the production HTTPS listener (port 443). Its default action belongs to the blue/green deployment."
  value       = aws_lb_listener.https.arn
}

output "test_listener_arn" {
  description = "ARN of the HTTPS test listener. Its default action belongs to the blue/green deployment."
  value       = aws_lb_listener.test.arn
}

output "production_listener_rule_arn" {
  description = "ARN of the catch-all rule on the production HTTPS listener that ECS-native blue/green rewrites to shift production traffic (ecs-service blue_green.production_listener_rule_arn). Its action belongs to the deployment."
  value       = aws_lb_listener_rule.blue_green["production"].arn
}

output "test_listener_rule_arn" {
  description = "ARN of the catch-all rule on the test listener that ECS-native blue/green points at the new tasks before production traffic moves (ecs-service blue_green.test_listener_rule_arn). Its action belongs to the deployment."
  value       = aws_lb_listener_rule.blue_green["test"].arn
}

output "test_listener_port" {
  description = "Port of the HTTPS test listener."
  value       = aws_lb_listener.test.port
}

output "blue_target_group_arn" {
  description = "ARN of the blue target group (production traffic when first created)."
  value       = aws_lb_target_group.this["blue"].arn
}

output "blue_target_group_name" {
  description = "Name of the blue target group (CodeDeploy deployment groups reference target groups by name)."
  value       = aws_lb_target_group.this["blue"].name
}

output "blue_target_group_arn_suffix" {
  description = "ARN suffix of the blue target group (the TargetGroup dimension of its CloudWatch metrics)."
  value       = aws_lb_target_group.this["blue"].arn_suffix
}

output "green_target_group_arn" {
  description = "ARN of the green target group (test traffic and the replacement task set)."
  value       = aws_lb_target_group.this["green"].arn
}

output "green_target_group_name" {
  description = "Name of the green target group."
  value       = aws_lb_target_group.this["green"].name
}

output "green_target_group_arn_suffix" {
  description = "ARN suffix of the green target group (the TargetGroup dimension of its CloudWatch metrics)."
  value       = aws_lb_target_group.this["green"].arn_suffix
}

output "target_group_port" {
  description = "Port the target groups send traffic to (the API container port)."
  value       = var.app_port
}

output "web_acl_arn" {
  description = "ARN of the WAFv2 web ACL associated with the ALB."
  value       = aws_wafv2_web_acl.this.arn
}

output "web_acl_name" {
  description = "Name of the WAFv2 web ACL (the WebACL dimension of its CloudWatch metrics)."
  value       = aws_wafv2_web_acl.this.name
}

output "waf_log_group_name" {
  description = "Name of the CloudWatch log group that receives WAF logs."
  value       = aws_cloudwatch_log_group.waf.name
}

output "waf_log_group_arn" {
  description = "ARN of the CloudWatch log group that receives WAF logs."
  value       = aws_cloudwatch_log_group.waf.arn
}

output "waf_log_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the WAF log group."
  value       = aws_kms_key.waf_logs.arn
}

output "access_logs_bucket_name" {
  description = "Name of the S3 bucket that receives the ALB access logs."
  value       = aws_s3_bucket.access_logs.bucket
}

output "access_logs_bucket_arn" {
  description = "ARN of the S3 bucket that receives the ALB access logs."
  value       = aws_s3_bucket.access_logs.arn
}

output "access_logs_prefix" {
  description = "Key prefix of the access logs in the bucket (objects land under <prefix>/AWSLogs/<account>/)."
  value       = var.access_logs_prefix
}
