locals {
  name = "modelserve-${var.environment}"
}

module "vpc" {
  source = "../../modules/vpc"

  name                 = local.name
  cidr                 = var.vpc_cidr
  azs                  = var.azs
  public_subnet_cidrs  = var.public_subnet_cidrs
  private_subnet_cidrs = var.private_subnet_cidrs
  cluster_name         = local.name
}

module "eks" {
  source = "../../modules/eks"

  name                         = local.name
  kubernetes_version           = var.kubernetes_version
  vpc_id                       = module.vpc.vpc_id
  subnet_ids                   = module.vpc.private_subnet_ids
  endpoint_public_access       = length(var.api_public_cidrs) > 0
  endpoint_public_access_cidrs = var.api_public_cidrs
  node_groups                  = var.node_groups

  # values.yaml serviceAccount.annotations: the model servers read artifacts from S3.
  irsa_roles = {
    models = {
      namespace       = "ai-models"
      service_account = "modelserve"
      policy_arns     = [module.data.models_read_policy_arn]
    }
    loki = {
      namespace       = "monitoring"
      service_account = "loki"
      policy_arns     = [module.data.bucket_write_policy_arns["logs"]]
    }
  }
}

module "data" {
  source = "../../modules/data"

  name                           = local.name
  vpc_id                         = module.vpc.vpc_id
  subnet_ids                     = module.vpc.private_subnet_ids
  allowed_security_group_ids     = [module.eks.cluster_security_group_id]
  postgres_instance_class        = var.postgres_instance_class
  postgres_multi_az              = var.postgres_multi_az
  postgres_backup_retention_days = var.postgres_backup_retention_days
  redis_node_type                = var.redis_node_type
  deletion_protection            = var.deletion_protection

  buckets = {
    models  = { name = var.models_bucket }
    records = { name = "${var.models_bucket}-records", expiration_days = 400 }
    backups = { name = "${var.models_bucket}-backups", transition_to_ia_days = 30 }
    logs    = { name = "${var.models_bucket}-loki", expiration_days = 90 }
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
  loki_role_arn                     = module.eks.irsa_role_arns["loki"]
  gpu_time_slicing_replicas         = var.gpu_time_slicing_replicas
}
