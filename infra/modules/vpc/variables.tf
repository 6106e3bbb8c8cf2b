variable "name" {
  description = "Name prefix of every resource (e.g. modelserve-prod)."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "Availability zones, one public and one private subnet (and one NAT gateway) in each; at least two."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2
    error_message = "Give at least two availability zones (EKS, RDS Multi-AZ and ElastiCache failover need them)."
  }
}

variable "public_subnet_cidrs" {
  description = "CIDR of the public subnet in each AZ (same order as azs): load balancers and NAT gateways."
  type        = list(string)
}

variable "private_subnet_cidrs" {
  description = "CIDR of the private subnet in each AZ (same order as azs): nodes, RDS, ElastiCache."
  type        = list(string)
}

variable "cluster_name" {
  description = "EKS cluster name the subnets are tagged for (load balancer and autoscaler discovery)."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs (a year: security investigations look back that far)."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow-log group (null: a key is created)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
