output "postgres_endpoint" {
  description = "RDS endpoint host (values.yaml postgresql.externalHost)."
  value       = aws_db_instance.this.address
}

output "postgres_port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "postgres_master_user_secret_arn" {
  description = "Secrets Manager secret RDS keeps the master password in (copy into the modelserve-postgresql Secret)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "redis_configuration_endpoint" {
  description = "ElastiCache configuration endpoint (values.yaml redis.externalHost; TLS on)."
  value       = aws_elasticache_replication_group.this.configuration_endpoint_address
}

output "redis_port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.this.port
}

output "bucket_names" {
  description = "S3 bucket name by key (the models bucket is values.yaml s3.bucket)."
  value       = { for k, b in aws_s3_bucket.this : k => b.id }
}

output "bucket_arns" {
  description = "S3 bucket ARN by key."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "models_read_policy_arn" {
  description = "IAM policy granting read access to the model-artifact bucket (attach to the model servers' IRSA role)."
  value       = aws_iam_policy.models_read.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the data stores."
  value       = local.kms_arn
}

output "bucket_write_policy_arns" {
  description = "IAM policy ARN granting read-write access, by bucket key."
  value       = { for k, p in aws_iam_policy.bucket_rw : k => p.arn }
}
