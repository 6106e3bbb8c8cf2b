environment          = "prod"
vpc_cidr             = "10.30.0.0/16"
azs                  = ["us-east-1a", "us-east-1b", "us-east-1c"]
public_subnet_cidrs  = ["10.30.0.0/20", "10.30.16.0/20", "10.30.32.0/20"]
private_subnet_cidrs = ["10.30.64.0/19", "10.30.96.0/19", "10.30.128.0/19"]

node_groups = {
  general = {
    instance_types = ["m6i.2xlarge"]
    min_size       = 3
    max_size       = 12
    desired_size   = 3
    labels         = { "node-group" = "general", "capacity-type" = "on-demand" }
  }
  high-memory = {
    instance_types = ["r6i.2xlarge", "r6a.2xlarge"]
    min_size       = 0
    max_size       = 6
    desired_size   = 0
    labels         = { "node-group" = "high-memory", "capacity-type" = "on-demand" }
    taints         = [{ key = "high-memory", value = "true", effect = "NO_SCHEDULE" }]
  }
  spot = {
    instance_types = ["m6i.2xlarge", "m6a.2xlarge", "m5.2xlarge", "m5a.2xlarge", "m7i.2xlarge", "m7a.2xlarge"]
    capacity_type  = "SPOT"
    min_size       = 2
    max_size       = 20
    desired_size   = 3
    labels         = { "node-group" = "spot", "capacity-type" = "spot" }
    taints         = [{ key = "spot", value = "true", effect = "NO_SCHEDULE" }]
  }
  gpu = {
    instance_types = ["g5.2xlarge", "g6.2xlarge"]
    ami_type       = "AL2023_x86_64_NVIDIA"
    min_size       = 1
    max_size       = 8
    desired_size   = 1
    disk_size_gib  = 200
    labels         = { "node-group" = "gpu", "capacity-type" = "on-demand" }
    taints         = [{ key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }]
  }
}

postgres_instance_class        = "db.r6g.xlarge"
postgres_backup_retention_days = 30
redis_node_type                = "cache.r6g.large"
models_bucket                  = "modelserve-prod-artifacts"
gpu_time_slicing_replicas      = 2
