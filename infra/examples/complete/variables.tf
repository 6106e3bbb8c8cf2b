variable "region" {
  description = "AWS region to build the example in."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of the example stack (cluster, VPC, data stores)."
  type        = string
  default     = "modelserve-example"
}

variable "models_bucket" {
  description = "Globally unique name of the model-artifact bucket."
  type        = string
  default     = "modelserve-example-artifacts"
}

variable "azs" {
  description = "Three availability zones of the region (named, so a plan is reproducible)."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}
