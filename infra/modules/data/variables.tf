variable "name" {
  description = "Name prefix of every resource (e.g. modelserve-prod)."
  type        = string
}

variable "vpc_id" {
  description = "VPC the database and cache run in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one per AZ, at least two) for RDS and ElastiCache."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups (the EKS cluster / node security group) allowed to reach PostgreSQL and Redis."
  type        = list(string)
}

# --- PostgreSQL (RDS) ---------------------------------------------------------------------------
variable "postgres_engine_version" {
  description = "RDS PostgreSQL engine version (major.minor)."
  type        = string
  default     = "15.7"
}

variable "postgres_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "postgres_allocated_storage_gib" {
  description = "Initial storage of the database (GiB)."
  type        = number
  default     = 50
}

variable "postgres_max_allocated_storage_gib" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 500
}

variable "postgres_database" {
  description = "Database name (values.yaml postgresql.database)."
  type        = string
  default     = "modelserve"
}

variable "postgres_username" {
  description = "Master user name; its password is generated and kept in Secrets Manager by RDS (never in Terraform state)."
  type        = string
  default     = "modelserve"
}

variable "postgres_multi_az" {
  description = "Run a synchronous standby in a second AZ (automatic failover)."
  type        = bool
  default     = true
}

variable "postgres_backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery (1-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.postgres_backup_retention_days >= 1 && var.postgres_backup_retention_days <= 35
    error_message = "RDS keeps automated backups 1 to 35 days."
  }
}

variable "postgres_backup_window" {
  description = "Daily backup window (UTC, hh:mm-hh:mm), outside the maintenance window."
  type        = string
  default     = "03:00-04:00"
}

variable "postgres_maintenance_window" {
  description = "Weekly maintenance window (UTC, ddd:hh:mm-ddd:hh:mm)."
  type        = string
  default     = "sun:05:00-sun:06:00"
}

variable "deletion_protection" {
  description = "Refuse to delete the database and keep a final snapshot (off only for throw-away environments)."
  type        = bool
  default     = true
}

# --- Redis (ElastiCache) --------------------------------------------------------------------------
variable "redis_engine_version" {
  description = "ElastiCache Redis engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m6g.large"
}

variable "redis_num_shards" {
  description = "Shards (node groups) in cluster mode. The orchestrator's client is not cluster-aware: keep 1 until it is (all slots then live on one primary)."
  type        = number
  default     = 1
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard (at least 1 for automatic failover)."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_replicas_per_shard >= 1
    error_message = "Automatic failover needs at least one replica per shard."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots kept."
  type        = number
  default     = 7
}

# --- S3 -----------------------------------------------------------------------------------------
variable "buckets" {
  description = <<-EOT
    S3 buckets by key: model artifacts (values.yaml s3.bucket), run records, backups. Each is
    versioned, KMS-encrypted, private, TLS-only and logged to the access-log bucket; lifecycle
    moves objects to cheaper storage and expires old noncurrent versions.
  EOT
  type = map(object({
    name                               = string
    transition_to_ia_days              = optional(number, 30)
    noncurrent_version_expiration_days = optional(number, 90)
    expiration_days                    = optional(number)
  }))

  validation {
    condition     = alltrue([for b in values(var.buckets) : b.transition_to_ia_days >= 30])
    error_message = "S3 moves objects to STANDARD_IA after 30 days at the earliest."
  }
}

variable "models_bucket_key" {
  description = "Key in var.buckets of the model-artifact bucket (values.yaml s3.bucket): the only bucket models_read_policy_arn grants."
  type        = string
  default     = "models"
}

variable "log_retention_days" {
  description = "Days the database and cache logs are kept in CloudWatch Logs."
  type        = number
  default     = 90
}

variable "kms_key_arn" {
  description = "KMS key for RDS, ElastiCache, S3 and the logs (null: a key is created)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
