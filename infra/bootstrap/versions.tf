terraform {
  required_version = ">= 1.6"

  # Local state on purpose: this creates the bucket and table every other state lives in.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }
}
