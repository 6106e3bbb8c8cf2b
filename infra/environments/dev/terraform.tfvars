environment          = "dev"
vpc_cidr             = "10.10.0.0/16"
azs                  = ["us-east-1a", "us-east-1b"]
public_subnet_cidrs  = ["10.10.0.0/20", "10.10.16.0/20"]
private_subnet_cidrs = ["10.10.64.0/18", "10.10.128.0/18"]

# Small and cheap; same labels and taints as every environment (values.yaml nodes).
node_groups = {
  general = {
    instance_types = ["m6i.large"]
    min_size       = 2
    max_size       = 4
    desired_size   = 2
    labels         = { "node-group" = "general", "capacity-type" = "on-demand" }
  }
  spot = {
    instance_types = ["m6i.large", "m6a.large", "m5.large", "m5a.large"]
    capacity_type  = "SPOT"
    min_size       = 1
    max_size       = 4
    desired_size   = 1
    labels         = { "node-group" = "spot", "capacity-type" = "spot" }
    taints         = [{ key = "spot", value = "true", effect = "NO_SCHEDULE" }]
  }
  gpu = {
    instance_types = ["g5.xlarge"]
    ami_type       = "AL2023_x86_64_NVIDIA"
    min_size       = 0
    max_size       = 1
    desired_size   = 0
    disk_size_gib  = 100
    labels         = { "node-group" = "gpu", "capacity-type" = "on-demand" }
    taints         = [{ key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }]
  }
}

postgres_instance_class        = "db.t4g.medium"
postgres_multi_az              = false
postgres_backup_retention_days = 3
redis_node_type                = "cache.t4g.small"
deletion_protection            = false
models_bucket                  = "modelserve-dev-artifacts"
gpu_time_slicing_replicas      = 8
