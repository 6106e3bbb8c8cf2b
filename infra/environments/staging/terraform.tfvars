environment          = "staging"
vpc_cidr             = "10.20.0.0/16"
azs                  = ["us-east-1a", "us-east-1b", "us-east-1c"]
public_subnet_cidrs  = ["10.20.0.0/20", "10.20.16.0/20", "10.20.32.0/20"]
private_subnet_cidrs = ["10.20.64.0/19", "10.20.96.0/19", "10.20.128.0/19"]

node_groups = {
  general = {
    instance_types = ["m6i.xlarge"]
    min_size       = 2
    max_size       = 6
    desired_size   = 3
    labels         = { "node-group" = "general", "capacity-type" = "on-demand" }
  }
  high-memory = {
    instance_types = ["r6i.2xlarge"]
    min_size       = 0
    max_size       = 2
    desired_size   = 0
    labels         = { "node-group" = "high-memory", "capacity-type" = "on-demand" }
    taints         = [{ key = "high-memory", value = "true", effect = "NO_SCHEDULE" }]
  }
  spot = {
    instance_types = ["m6i.xlarge", "m6a.xlarge", "m5.xlarge", "m5a.xlarge", "m7i.xlarge"]
    capacity_type  = "SPOT"
    min_size       = 1
    max_size       = 8
    desired_size   = 2
    labels         = { "node-group" = "spot", "capacity-type" = "spot" }
    taints         = [{ key = "spot", value = "true", effect = "NO_SCHEDULE" }]
  }
  gpu = {
    instance_types = ["g5.xlarge", "g5.2xlarge"]
    ami_type       = "AL2023_x86_64_NVIDIA"
    min_size       = 0
    max_size       = 2
    desired_size   = 0
    disk_size_gib  = 100
    labels         = { "node-group" = "gpu", "capacity-type" = "on-demand" }
    taints         = [{ key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }]
  }
}

postgres_instance_class        = "db.m6g.large"
postgres_backup_retention_days = 7
redis_node_type                = "cache.m6g.large"
models_bucket                  = "modelserve-staging-artifacts"
