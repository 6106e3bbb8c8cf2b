provider "aws" {
  region = var.region

  # Every resource carries these; modules add their own on top.
  default_tags {
    tags = {
      Project     = "modelserve"
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "modelserve-proving-ground/infra/environments/${var.environment}"
      Owner       = var.owner
    }
  }
}

# Helm talks to the cluster this configuration creates (token from the AWS CLI at plan time).
provider "helm" {
  kubernetes {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
    }
  }
}
