variable "cluster_name" {
  description = "EKS cluster the releases are installed into (log group names, autoscaler discovery)."
  type        = string
}

variable "region" {
  description = "AWS region of the cluster (Cluster Autoscaler, Load Balancer Controller)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster (AWS Load Balancer Controller)."
  type        = string
}

variable "log_groups" {
  description = "CloudWatch log groups by key (name suffix => retention days): container logs shipped from the cluster."
  type        = map(number)
  default = {
    application = 30
    dataplane   = 30
    host        = 14
    performance = 14
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the log groups (null: CloudWatch's own encryption)."
  type        = string
  default     = null
}

variable "load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller (eks module output irsa_role_arns)."
  type        = string
}

variable "cluster_autoscaler_role_arn" {
  description = "IRSA role of the Cluster Autoscaler (eks module output irsa_role_arns)."
  type        = string
}

variable "chart_versions" {
  description = "Pinned Helm chart version of each release."
  type = object({
    aws_load_balancer_controller = optional(string, "1.8.1")
    cluster_autoscaler           = optional(string, "9.37.0")
    kube_prometheus_stack        = optional(string, "61.3.2")
    prometheus_adapter           = optional(string, "4.10.0")
    loki                         = optional(string, "6.6.4")
    keda                         = optional(string, "2.14.2")
    keda_http_add_on             = optional(string, "0.8.0")
    istio                        = optional(string, "1.22.3")
    node_termination_handler     = optional(string, "0.21.0")
    nvidia_device_plugin         = optional(string, "0.15.1")
    dcgm_exporter                = optional(string, "3.4.2")
  })
  default = {}
}

variable "grafana_admin_secret" {
  description = "Existing Secret in the monitoring namespace with Grafana's admin-user / admin-password (never a value here)."
  type        = string
  default     = "grafana-admin"
}

variable "prometheus_retention" {
  description = "How long Prometheus keeps samples (Prometheus duration, e.g. 15d)."
  type        = string
  default     = "15d"
}

variable "prometheus_storage_size" {
  description = "Persistent volume size of Prometheus (Kubernetes quantity)."
  type        = string
  default     = "100Gi"
}

variable "loki_bucket_name" {
  description = "S3 bucket Loki stores chunks and indexes in."
  type        = string
}

variable "loki_role_arn" {
  description = "IRSA role Loki uses to reach its bucket (null: node credentials)."
  type        = string
  default     = null
}

variable "spot_node_selector" {
  description = "Labels of the spot nodes, where aws-node-termination-handler runs (values.yaml nodes)."
  type        = map(string)
  default     = { "capacity-type" = "spot" }
}

variable "gpu_node_selector" {
  description = "Labels of the GPU nodes, where the device plugin and DCGM exporter run (values.yaml gpu.nodeSelector)."
  type        = map(string)
  default     = { "node-group" = "gpu" }
}

variable "gpu_time_slicing_replicas" {
  description = "Shares the NVIDIA device plugin advertises per physical GPU (1: no time-slicing)."
  type        = number
  default     = 4

  validation {
    condition     = var.gpu_time_slicing_replicas >= 1
    error_message = "Give at least 1 share per GPU."
  }
}

variable "gpu_time_slicing_rename" {
  description = "Advertise shares as nvidia.com/gpu.shared instead of nvidia.com/gpu (set values.yaml gpu.resourceName to match)."
  type        = bool
  default     = false
}

variable "istio_gateway_service_type" {
  description = "Service type of the Istio ingress gateway (LoadBalancer provisions an NLB through the Load Balancer Controller)."
  type        = string
  default     = "LoadBalancer"
}

variable "tags" {
  description = "Tags added to every AWS resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
