variable "environment" {
  description = "Environment name (dev, staging, prod): part of every resource name and tag."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "AWS region (values.yaml s3.region)."
  type        = string
  default     = "us-east-1"
}

variable "owner" {
  description = "Team that owns the environment (Owner tag)."
  type        = string
  default     = "ml-platform"
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the environment's VPC."
  type        = string
}

variable "azs" {
  description = "Availability zones (at least two)."
  type        = list(string)
}

variable "public_subnet_cidrs" {
  description = "Public subnet CIDR per AZ."
  type        = list(string)
}

variable "private_subnet_cidrs" {
  description = "Private subnet CIDR per AZ."
  type        = list(string)
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "api_public_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API publicly (empty: private endpoint only)."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = "EKS managed node groups (see modules/eks variable node_groups; labels/taints must match values.yaml)."
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    ami_type       = optional(string, "AL2023_x86_64_STANDARD")
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = optional(number, 50)
    labels         = map(string)
    taints = optional(list(object({
      key    = string
      value  = string
      effect = string
    })), [])
  }))
}

variable "postgres_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "postgres_multi_az" {
  description = "RDS Multi-AZ standby."
  type        = bool
  default     = true
}

variable "postgres_backup_retention_days" {
  description = "Days of RDS automated backups."
  type        = number
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the database from deletion."
  type        = bool
  default     = true
}

variable "models_bucket" {
  description = "Bucket of the model artifacts (values.yaml s3.bucket; bucket names are global, so prefix per account)."
  type        = string
}

variable "gpu_time_slicing_replicas" {
  description = "Shares per GPU advertised by the NVIDIA device plugin."
  type        = number
  default     = 4
}
