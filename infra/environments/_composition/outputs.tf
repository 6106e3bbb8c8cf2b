output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...; the eks platform's kube context)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "chart_values" {
  description = "Values for the modelserve chart in this environment (helm install -f <(terraform output -json chart_values))."
  value = {
    redis      = { mode = "external", externalHost = module.data.redis_configuration_endpoint, port = module.data.redis_port }
    postgresql = { mode = "external", externalHost = module.data.postgres_endpoint, port = module.data.postgres_port }
    s3         = { bucket = module.data.bucket_names["models"], region = var.region }
    serviceAccount = {
      annotations = { "eks.amazonaws.com/role-arn" = module.eks.irsa_role_arns["models"] }
    }
    gpu        = { resourceName = module.observability.gpu_resource_name }
    monitoring = { prometheusUrl = module.observability.prometheus_url }
  }
}

output "postgres_master_user_secret_arn" {
  description = "Secrets Manager secret holding the database password (copy into the modelserve-postgresql Secret)."
  value       = module.data.postgres_master_user_secret_arn
}

output "node_groups" {
  description = "Node groups with their labels and taints."
  value       = module.eks.node_groups
}

output "log_group_names" {
  description = "CloudWatch log groups of the cluster's containers."
  value       = module.observability.log_group_names
}

output "environment" {
  description = "Environment name (the eks platform refuses production without an explicit flag)."
  value       = var.environment
}

output "fis_role_arn" {
  description = "IAM role for AWS FIS spot-interruption experiments (MSAI_EKS_OUTPUTS reads it)."
  value       = module.eks.fis_role_arn
}
