# The API's host name and certificate. With a Route 53 zone the stack requests the
# certificate, proves control of the name with the DNS records ACM asks for, and points
# the name at the load balancer. Without one, domain.certificate_arn names a certificate
# issued beforehand (docs/deploy.md shows how) and the DNS record is created by hand.

locals {
  request_certificate = var.domain.certificate_arn == null
  manage_dns          = var.domain.route53_zone_id != null
}

resource "aws_acm_certificate" "api" {
  count = local.request_certificate ? 1 : 0

  domain_name       = var.domain.name
  validation_method = "DNS"
  key_algorithm     = "RSA_2048"
  tags              = merge(var.tags, { Name = var.domain.name })

  # A replacement (another name) must be issued before the listeners let go of
  # the current one.
  lifecycle {
    create_before_destroy = true
  }
}

# One validation record for the one name. Keyed by that name, which is known at plan
# time, rather than by the certificate's validation options, which are not.
resource "aws_route53_record" "certificate_validation" {
  for_each = local.request_certificate ? toset([var.domain.name]) : toset([])

  zone_id         = var.domain.route53_zone_id
  name            = one([for o in aws_acm_certificate.api[0].domain_validation_options : o.resource_record_name if o.domain_name == each.key])
  type            = one([for o in aws_acm_certificate.api[0].domain_validation_options : o.resource_record_type if o.domain_name == each.key])
  records         = [one([for o in aws_acm_certificate.api[0].domain_validation_options : o.resource_record_value if o.domain_name == each.key])]
  ttl             = 300
  allow_overwrite = true
}

# Waits until ACM has issued the certificate, so the listeners never get a pending one.
resource "aws_acm_certificate_validation" "api" {
  count = local.request_certificate ? 1 : 0

  certificate_arn         = aws_acm_certificate.api[0].arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

locals {
  certificate_arn = local.request_certificate ? aws_acm_certificate_validation.api[0].certificate_arn : var.domain.certificate_arn
}

resource "aws_route53_record" "api" {
  count = local.manage_dns ? 1 : 0

  zone_id = var.domain.route53_zone_id
  name    = var.domain.name
  type    = "A"

  alias {
    name                   = module.alb.alb_dns_name
    zone_id                = module.alb.alb_zone_id
    evaluate_target_health = true
  }
}
