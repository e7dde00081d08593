output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_arn" {
  description = "ARN of the VPC."
  value       = aws_vpc.this.arn
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "azs" {
  description = "Availability zones used, in subnet order: index i of every subnet list is in azs[i]."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (ALB, NAT gateways), one per AZ."
  value       = aws_subnet.public[*].id
}

output "public_subnet_cidr_blocks" {
  description = "CIDR blocks of the public subnets, one per AZ."
  value       = aws_subnet.public[*].cidr_block
}

output "private_app_subnet_ids" {
  description = "IDs of the private application subnets (ECS tasks, interface endpoints), one per AZ."
  value       = aws_subnet.private_app[*].id
}

output "private_app_subnet_cidr_blocks" {
  description = "CIDR blocks of the private application subnets, one per AZ."
  value       = aws_subnet.private_app[*].cidr_block
}

output "private_db_subnet_ids" {
  description = "IDs of the private database subnets (no route out of the VPC), one per AZ. Feed these to the database module."
  value       = aws_subnet.private_db[*].id
}

output "private_db_subnet_cidr_blocks" {
  description = "CIDR blocks of the private database subnets, one per AZ."
  value       = aws_subnet.private_db[*].cidr_block
}

output "internet_gateway_id" {
  description = "ID of the internet gateway."
  value       = aws_internet_gateway.this.id
}

output "nat_gateway_ids" {
  description = "IDs of the NAT gateways: one when single_nat_gateway is true, else one per AZ."
  value       = aws_nat_gateway.this[*].id
}

output "nat_public_ips" {
  description = "Elastic IP addresses of the NAT gateways: the source addresses of all outbound traffic (for allow-lists of LLM providers or Git hosts)."
  value       = aws_eip.nat[*].public_ip
}

output "public_route_table_id" {
  description = "ID of the public route table."
  value       = aws_route_table.public.id
}

output "private_app_route_table_ids" {
  description = "IDs of the private application route tables, one per AZ."
  value       = aws_route_table.private_app[*].id
}

output "private_db_route_table_id" {
  description = "ID of the private database route table."
  value       = aws_route_table.private_db.id
}

output "default_security_group_id" {
  description = "ID of the VPC's default security group, which has no rules."
  value       = aws_default_security_group.this.id
}

output "s3_gateway_endpoint_id" {
  description = "ID of the S3 gateway endpoint, or null when it is disabled."
  value       = try(aws_vpc_endpoint.s3[0].id, null)
}

output "s3_gateway_endpoint_prefix_list_id" {
  description = "Prefix list ID of the S3 gateway endpoint (usable as an egress destination in security group rules), or null when it is disabled."
  value       = try(aws_vpc_endpoint.s3[0].prefix_list_id, null)
}

output "interface_endpoint_ids" {
  description = "Interface endpoint IDs by short service name (e.g. \"ecr.api\"); empty when enable_interface_endpoints is false."
  value       = { for service, endpoint in aws_vpc_endpoint.interface : service => endpoint.id }
}

output "interface_endpoints_security_group_id" {
  description = "ID of the security group on the interface endpoints, or null when they are disabled."
  value       = try(aws_security_group.endpoints[0].id, null)
}

output "flow_log_id" {
  description = "ID of the VPC flow log."
  value       = aws_flow_log.this.id
}

output "flow_log_group_name" {
  description = "Name of the CloudWatch log group that receives the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "flow_log_group_arn" {
  description = "ARN of the CloudWatch log group that receives the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.arn
}

output "flow_log_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the flow log group (created here unless flow_log_kms_key_arn was given)."
  value       = local.flow_log_kms_key_arn
}

output "flow_log_iam_role_arn" {
  description = "ARN of the IAM role VPC Flow Logs uses to write to the log group."
  value       = aws_iam_role.flow_logs.arn
}
