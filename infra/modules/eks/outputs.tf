output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the Kubernetes API."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "cluster_security_group_id" {
  description = "Security group EKS created for the cluster (control plane and managed nodes)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider (IRSA)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "irsa_role_arns" {
  description = "IRSA role ARN by name: aws-load-balancer-controller, cluster-autoscaler, ebs-csi-controller and var.irsa_roles keys. Annotate service accounts with eks.amazonaws.com/role-arn."
  value       = { for k, r in aws_iam_role.irsa : k => r.arn }
}

output "node_groups" {
  description = "Node group name => labels, taints and capacity type (what the chart's nodeSelectors and tolerations must match)."
  value = {
    for k, g in aws_eks_node_group.this : k => {
      labels        = g.labels
      capacity_type = g.capacity_type
      taints        = var.node_groups[k].taints
    }
  }
}

output "node_role_arn" {
  description = "IAM role of the worker nodes."
  value       = aws_iam_role.node.arn
}

output "fis_role_arn" {
  description = "IAM role for AWS FIS spot-interruption experiments on this cluster's nodes (null when var.fis_role is false)."
  value       = try(aws_iam_role.fis[0].arn, null)
}
