# Every module with its defaults (the eks module's default node groups: general, high-memory,
# gpu, spot), in a throw-away configuration: local state, deletion protection off.
#   terraform init && terraform apply

provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = "modelserve", Environment = "example", ManagedBy = "terraform" }
  }
}

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

module "vpc" {
  source = "../../modules/vpc"

  name                 = var.name
  azs                  = var.azs
  public_subnet_cidrs  = ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
  private_subnet_cidrs = ["10.0.64.0/19", "10.0.96.0/19", "10.0.128.0/19"]
  cluster_name         = var.name
}

module "eks" {
  source = "../../modules/eks"

  name       = var.name
  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnet_ids
}

module "data" {
  source = "../../modules/data"

  name                       = var.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  deletion_protection        = false

  buckets = {
    models = { name = var.models_bucket }
    logs   = { name = "${var.models_bucket}-loki", expiration_days = 30 }
  }
}

module "observability" {
  source = "../../modules/observability"

  cluster_name                      = module.eks.cluster_name
  region                            = var.region
  vpc_id                            = module.vpc.vpc_id
  load_balancer_controller_role_arn = module.eks.irsa_role_arns["aws-load-balancer-controller"]
  cluster_autoscaler_role_arn       = module.eks.irsa_role_arns["cluster-autoscaler"]
  loki_bucket_name                  = module.data.bucket_names["logs"]
}
