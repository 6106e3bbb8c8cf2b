variable "region" {
  description = "AWS region of the state bucket and lock table (environments/*/backend.hcl region)."
  type        = string
  default     = "us-east-1"
}

variable "state_bucket" {
  description = "Name of the S3 bucket holding every environment's Terraform state (backend.hcl bucket)."
  type        = string
  default     = "modelserve-terraform-state"
}

variable "lock_table" {
  description = "Name of the DynamoDB table Terraform locks state with (backend.hcl dynamodb_table)."
  type        = string
  default     = "modelserve-terraform-locks"
}

variable "noncurrent_state_days" {
  description = "Days old state versions are kept (recovery from a bad apply)."
  type        = number
  default     = 365
}
