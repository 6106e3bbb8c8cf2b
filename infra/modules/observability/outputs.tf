output "log_group_names" {
  description = "CloudWatch log group name by key."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "releases" {
  description = "Installed Helm release => chart version."
  value = {
    for r in [
      helm_release.aws_load_balancer_controller, helm_release.cluster_autoscaler,
      helm_release.kube_prometheus_stack, helm_release.prometheus_adapter, helm_release.loki,
      helm_release.keda, helm_release.keda_http_add_on, helm_release.istio_base,
      helm_release.istiod, helm_release.istio_gateway, helm_release.node_termination_handler,
      helm_release.nvidia_device_plugin, helm_release.dcgm_exporter,
    ] : r.name => r.version
  }
}

output "prometheus_url" {
  description = "In-cluster Prometheus URL (values.yaml monitoring.prometheusUrl)."
  value       = "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090"
}

output "gpu_resource_name" {
  description = "Extended resource the GPU nodes advertise (values.yaml gpu.resourceName)."
  value       = var.gpu_time_slicing_rename ? "nvidia.com/gpu.shared" : "nvidia.com/gpu"
}
