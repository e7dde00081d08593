data "aws_availability_zones" "available" {
  count = length(var.azs) == 0 ? 1 : 0

  state = "available"

  # Local Zones and Wavelength Zones cannot host every service used here.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # Every resource carries its environment, whatever the provider's default_tags say.
  tags = merge({ Environment = var.environment }, var.tags)

  azs      = length(var.azs) > 0 ? var.azs : slice(data.aws_availability_zones.available[0].names, 0, var.az_count)
  az_count = length(local.azs)

  # Subnet layout, relative to the VPC prefix P (see README):
  #   public     P+8, blocks 0..5   (10.0.0.0/24 ... for a /16)
  #   private-db P+8, blocks 8..13  (10.0.8.0/24 ...)
  #   private-app P+4, blocks 1..6  (10.0.16.0/20 ...): tasks use one IP each (awsvpc), so this tier is the large one.
  # Blocks 7..15 of P+4 stay free for later tiers.
  public_subnet_cidrs      = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 8, i)]
  private_db_subnet_cidrs  = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 8, 8 + i)]
  private_app_subnet_cidrs = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 4, 1 + i)]

  nat_gateway_count = var.single_nat_gateway ? 1 : local.az_count

  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # required for private DNS on the interface endpoints

  tags = merge(local.tags, { Name = var.name })
}

# Takes over the VPC's default security group and removes all of its rules, so nothing that
# falls back to it (an ENI created without a group) gets any connectivity.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count = local.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.public_subnet_cidrs[count.index]

  # Only the ALB and the NAT gateways (with their own Elastic IPs) live here; nothing needs an
  # automatically assigned public address.
  map_public_ip_on_launch = false

  tags = merge(local.tags, {
    Name = "${var.name}-public-${local.azs[count.index]}"
    Tier = "public"
  })
}

resource "aws_subnet" "private_app" {
  count = local.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_app_subnet_cidrs[count.index]

  tags = merge(local.tags, {
    Name = "${var.name}-private-app-${local.azs[count.index]}"
    Tier = "private-app"
  })
}

resource "aws_subnet" "private_db" {
  count = local.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_db_subnet_cidrs[count.index]

  tags = merge(local.tags, {
    Name = "${var.name}-private-db-${local.azs[count.index]}"
    Tier = "private-db"
  })
}

# --- Public routing ---------------------------------------------------------------------------

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = local.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# --- NAT gateways -----------------------------------------------------------------------------

resource "aws_eip" "nat" {
  count = local.nat_gateway_count

  domain = "vpc"

  tags = merge(local.tags, { Name = "${var.name}-nat-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_gateway_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = merge(local.tags, { Name = "${var.name}-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

# --- Private app routing: one table per AZ, so switching single_nat_gateway only changes routes.

resource "aws_route_table" "private_app" {
  count = local.az_count

  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-private-app-${local.azs[count.index]}" })
}

resource "aws_route" "private_app_nat" {
  count = local.az_count

  route_table_id         = aws_route_table.private_app[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private_app" {
  count = local.az_count

  subnet_id      = aws_subnet.private_app[count.index].id
  route_table_id = aws_route_table.private_app[count.index].id
}

# --- Private DB routing: no route out of the VPC at all. -------------------------------------

resource "aws_route_table" "private_db" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-private-db" })
}

resource "aws_route_table_association" "private_db" {
  count = local.az_count

  subnet_id      = aws_subnet.private_db[count.index].id
  route_table_id = aws_route_table.private_db.id
}
