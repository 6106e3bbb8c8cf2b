output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "irsa_role_arns" {
  description = "IRSA role ARNs of the controllers."
  value       = module.eks.irsa_role_arns
}

output "postgres_endpoint" {
  description = "RDS endpoint."
  value       = module.data.postgres_endpoint
}

output "redis_configuration_endpoint" {
  description = "ElastiCache configuration endpoint."
  value       = module.data.redis_configuration_endpoint
}

output "releases" {
  description = "Helm releases installed and their chart versions."
  value       = module.observability.releases
}
