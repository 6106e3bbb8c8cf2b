output "state_bucket" {
  description = "S3 bucket of the Terraform state (backend.hcl bucket)."
  value       = aws_s3_bucket.this.id
}

output "lock_table" {
  description = "DynamoDB lock table (backend.hcl dynamodb_table)."
  value       = aws_dynamodb_table.locks.name
}

output "kms_key_arn" {
  description = "KMS key encrypting the state (backend.hcl kms_key_id, optional)."
  value       = aws_kms_key.this.arn
}
