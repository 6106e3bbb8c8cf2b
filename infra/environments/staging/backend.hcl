# S3 state backend of the staging environment: terraform init -backend-config=backend.hcl
# The bucket (versioned, encrypted) and the lock table (partition key LockID, string) are
# created once per account, outside this configuration.
bucket         = "modelserve-terraform-state"
key            = "modelserve/staging/terraform.tfstate"
region         = "us-east-1"
dynamodb_table = "modelserve-terraform-locks"
encrypt        = true
