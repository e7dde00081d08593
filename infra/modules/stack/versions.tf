terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The ecs-service module needs 6.25 (ECS-native blue/green); the stack
      # cannot ask for less than the modules it calls.
      version = ">= 6.25, < 7.0"
    }
  }
}
