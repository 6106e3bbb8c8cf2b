variable "name" {
  description = "EKS cluster name."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and node groups."
  type        = string
  default     = "1.31"
}

variable "vpc_id" {
  description = "VPC the cluster runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one per AZ at least two) for the control-plane ENIs and the node groups."
  type        = list(string)
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API endpoint publicly (restricted to endpoint_public_access_cidrs)."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint when endpoint_public_access is true."
  type        = list(string)
  default     = []
}

variable "cluster_log_types" {
  description = "Control-plane log types sent to CloudWatch Logs."
  type        = list(string)
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
}

variable "cluster_log_retention_days" {
  description = "Days the control-plane logs (audit included) are kept (a year: security investigations look back that far)."
  type        = number
  default     = 365
}

variable "node_groups" {
  description = <<-EOT
    Managed node groups. Labels and taints match reference-stack/charts/modelserve/values.yaml
    (`nodes` labels node-group / capacity-type, the spot taint, gpu.nodeSelector and
    gpu.tolerations). capacity_type ON_DEMAND or SPOT; several instance_types on a SPOT group
    give a mixed-instances pool (capacity-optimized allocation). Taint effects use the EKS API
    spelling (NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE).
  EOT
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
  default = {
    general = {
      instance_types = ["m6i.xlarge"]
      min_size       = 2
      max_size       = 6
      desired_size   = 2
      labels         = { "node-group" = "general", "capacity-type" = "on-demand" }
    }
    high-memory = {
      instance_types = ["r6i.2xlarge"]
      min_size       = 0
      max_size       = 4
      desired_size   = 0
      labels         = { "node-group" = "high-memory", "capacity-type" = "on-demand" }
      taints         = [{ key = "high-memory", value = "true", effect = "NO_SCHEDULE" }]
    }
    gpu = {
      instance_types = ["g5.xlarge", "g5.2xlarge"]
      ami_type       = "AL2023_x86_64_NVIDIA"
      min_size       = 0
      max_size       = 4
      desired_size   = 0
      disk_size_gib  = 100
      labels         = { "node-group" = "gpu", "capacity-type" = "on-demand", "nvidia.com/gpu.present" = "true" }
      taints         = [{ key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }]
    }
    spot = {
      instance_types = ["m6i.xlarge", "m6a.xlarge", "m5.xlarge", "m5a.xlarge", "m7i.xlarge"]
      capacity_type  = "SPOT"
      min_size       = 1
      max_size       = 10
      desired_size   = 2
      labels         = { "node-group" = "spot", "capacity-type" = "spot" }
      taints         = [{ key = "spot", value = "true", effect = "NO_SCHEDULE" }]
    }
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.min_size <= g.desired_size && g.desired_size <= g.max_size])
    error_message = "Each node group needs min_size <= desired_size <= max_size."
  }
}

variable "irsa_roles" {
  description = "Extra IAM roles for service accounts (IRSA), e.g. the model servers reading S3: namespace, service account and managed policy ARNs."
  type = map(object({
    namespace       = string
    service_account = string
    policy_arns     = list(string)
  }))
  default = {}
}

variable "kms_key_arn" {
  description = "KMS key for Kubernetes Secrets envelope encryption and the log group (null: a key is created)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "fis_role" {
  description = "Create an IAM role AWS FIS assumes to send spot interruption notices to this cluster's nodes (game days on EKS)."
  type        = bool
  default     = true
}
