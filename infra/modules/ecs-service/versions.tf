terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_ecs_service's deployment_configuration (strategy, bake time) and
      # load_balancer.advanced_configuration (ECS-native blue/green) are not
      # in the first 6.x releases; 6.25 is the release this module is checked
      # against.
      version = ">= 6.25, < 7.0"
    }
  }
}
